"""The travel rule (SPEC sections 5 and 7): what may go from one node to another, and why not.

The same rule decides what a node serves and what it accepts, so every row here is both a
record that must not leak and a record a receiver must refuse.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.policy import (
    Groups,
    RecordFacts,
    TravelRefused,
    check_may_travel,
    may_travel,
)

GROUPS = Groups.of(
    {
        "five-eyes": ["ca", "uk", "us", "au", "nz"],
        "nordic": ["se", "no", "ca"],
        "pair": ["uk", "au"],
        "solo": ["ca"],
    }
)


def _facts(
    origin: str = "ca",
    status: str = "published",
    tlp: str = "green",
    scope: tuple[str, ...] = ("five-eyes",),
) -> RecordFacts:
    return RecordFacts(origin, status, tlp, frozenset(scope))


ALLOWED: list[Any] = [
    pytest.param(_facts(), "ca", "uk", id="published green from its origin"),
    pytest.param(_facts(status="withdrawn"), "ca", "uk", id="a withdrawal travels"),
    pytest.param(_facts(tlp="clear"), "ca", "uk", id="clear"),
    pytest.param(_facts(tlp="amber"), "ca", "uk", id="amber"),
    pytest.param(_facts(), "uk", "au", id="relay inside the group"),
    pytest.param(_facts(scope=("pair", "five-eyes")), "uk", "au", id="relay, one group suffices"),
    pytest.param(_facts(scope=("nordic", "five-eyes")), "ca", "uk", id="several groups: five-eyes"),
    pytest.param(_facts(scope=("nordic", "five-eyes")), "ca", "se", id="several groups: nordic"),
    pytest.param(_facts(origin="se", scope=("nordic",)), "ca", "no", id="relay in nordic"),
    pytest.param(_facts(origin="uk", scope=("pair",)), "uk", "au", id="a two-node group"),
]

REFUSED: list[Any] = [
    pytest.param(_facts(status="draft"), "ca", "uk", "status", id="draft"),
    pytest.param(_facts(status="deleted"), "ca", "uk", "status", id="unknown status"),
    pytest.param(_facts(status="Published"), "ca", "uk", "status", id="status is case-sensitive"),
    pytest.param(_facts(tlp="amber+strict"), "ca", "uk", "TLP", id="amber+strict"),
    pytest.param(_facts(tlp="red"), "ca", "uk", "TLP", id="red"),
    pytest.param(_facts(tlp="white"), "ca", "uk", "TLP", id="TLP 1.0 white"),
    pytest.param(_facts(tlp="AMBER"), "ca", "uk", "TLP", id="TLP is case-sensitive"),
    pytest.param(_facts(status="draft", tlp="red"), "ca", "uk", "never leaves", id="draft and red"),
    pytest.param(_facts(origin="uk"), "ca", "uk", "origin is the receiver", id="back to origin"),
    pytest.param(_facts(origin="uk"), "uk", "uk", "origin is the receiver", id="to itself"),
    pytest.param(
        _facts(scope=("nordic",)), "ca", "uk", "no group the receiver is in", id="scope misses"
    ),
    pytest.param(_facts(scope=()), "ca", "uk", "no group the receiver is in", id="scope empty"),
    pytest.param(
        _facts(scope=("unknown",)), "ca", "uk", "no group the receiver is in", id="no such group"
    ),
    pytest.param(_facts(scope=("solo",)), "ca", "uk", "no group the receiver is in", id="solo"),
    pytest.param(_facts(), "ca", "xx", "no group the receiver is in", id="outsider receiver"),
    pytest.param(
        _facts(origin="se"), "uk", "au", "may not relay", id="relay of an origin outside scope"
    ),
    pytest.param(_facts(origin="xx"), "uk", "au", "may not relay", id="relay of an unknown origin"),
    pytest.param(_facts(), "se", "uk", "may not relay", id="relay by a sender outside scope"),
    pytest.param(
        # The origin and sender share nordic, the sender and receiver five-eyes: no one group
        # holds all three, so ca may not carry se's record to uk.
        _facts(origin="se", scope=("nordic", "five-eyes")),
        "ca",
        "uk",
        "may not relay",
        id="relay across two groups",
    ),
    pytest.param(
        _facts(origin="ca", scope=("pair",)),
        "uk",
        "au",
        "may not relay",
        id="relay into a group the origin is not in",
    ),
    pytest.param(
        _facts(origin="se"), "se", "uk", "holds the sender", id="origin outside its own scope"
    ),
]


@pytest.mark.parametrize(("facts", "sender", "receiver"), ALLOWED)
def test_allowed(facts: RecordFacts, sender: str, receiver: str) -> None:
    check_may_travel(facts, sender=sender, receiver=receiver, groups=GROUPS)
    assert may_travel(facts, sender=sender, receiver=receiver, groups=GROUPS)


@pytest.mark.parametrize(("facts", "sender", "receiver", "reason"), REFUSED)
def test_refused_with_the_reason(
    facts: RecordFacts, sender: str, receiver: str, reason: str
) -> None:
    with pytest.raises(TravelRefused) as refused:
        check_may_travel(facts, sender=sender, receiver=receiver, groups=GROUPS)

    assert reason in refused.value.reason
    assert not may_travel(facts, sender=sender, receiver=receiver, groups=GROUPS)


def test_each_node_judges_with_its_own_view_of_the_groups() -> None:
    # uk's own configuration may not list au in five-eyes: then uk does not send to au.
    uk_view = Groups.of({"five-eyes": ["ca", "uk"]})

    assert not may_travel(_facts(), sender="uk", receiver="au", groups=uk_view)
    assert may_travel(_facts(), sender="uk", receiver="au", groups=GROUPS)


def test_record_facts_of_a_document() -> None:
    document = {"origin": "ca", "status": "published", "tlp": "amber", "scope": ["a", "b", "a"]}

    assert RecordFacts.of(document) == RecordFacts(
        "ca", "published", "amber", frozenset({"a", "b"})
    )


@pytest.mark.parametrize(
    "change",
    [
        {"origin": None},
        {"status": 1},
        {"tlp": ["green"]},
        {"scope": "five-eyes"},
        {"scope": None},
        {"scope": ["five-eyes", 3]},
    ],
)
def test_record_facts_refuse_malformed_fields(change: dict[str, Any]) -> None:
    document = {"origin": "ca", "status": "published", "tlp": "green", "scope": ["five-eyes"]}
    document.update(change)

    with pytest.raises(TravelRefused):
        RecordFacts.of(document)


def test_groups_helpers() -> None:
    assert GROUPS.holding("ca") == {"five-eyes", "nordic", "solo"}
    assert GROUPS.holding("uk", "au") == {"five-eyes", "pair"}
    assert GROUPS.holding("se", "uk") == frozenset()
    assert GROUPS.peers_of("ca") == {"uk", "us", "au", "nz", "se", "no"}
    assert GROUPS.peers_of("xx") == frozenset()


# --- properties -------------------------------------------------------------------------------

NODES = ["ca", "uk", "us", "au", "se", "xx"]
GROUP_NAMES = ["five-eyes", "nordic", "pair", "empty"]
STATUSES = ["draft", "published", "withdrawn", "archived"]
TLPS = ["clear", "green", "amber", "amber+strict", "red", "white"]

groups_strategy = st.dictionaries(
    st.sampled_from(GROUP_NAMES), st.frozensets(st.sampled_from(NODES)), max_size=4
).map(Groups.of)
facts_strategy = st.builds(
    RecordFacts,
    origin=st.sampled_from(NODES),
    status=st.sampled_from(STATUSES),
    tlp=st.sampled_from(TLPS),
    scope=st.frozensets(st.sampled_from([*GROUP_NAMES, "unknown"])),
)


def _simple_rule(facts: RecordFacts, receiver: str, groups: Groups) -> bool:
    """SPEC section 5 for a record its origin sends: shareable, and a scope group holds both."""
    return (
        facts.status in {"published", "withdrawn"}
        and facts.tlp in {"clear", "green", "amber"}
        and facts.origin != receiver
        and any(
            facts.origin in groups.members.get(name, frozenset())
            and receiver in groups.members.get(name, frozenset())
            for name in facts.scope
        )
    )


@settings(max_examples=500, deadline=None)
@given(facts=facts_strategy, receiver=st.sampled_from(NODES), groups=groups_strategy)
def test_from_the_origin_the_rule_is_the_simple_one(
    facts: RecordFacts, receiver: str, groups: Groups
) -> None:
    assert may_travel(facts, sender=facts.origin, receiver=receiver, groups=groups) == (
        _simple_rule(facts, receiver, groups)
    )


@settings(max_examples=500, deadline=None)
@given(
    facts=facts_strategy,
    sender=st.sampled_from(NODES),
    receiver=st.sampled_from(NODES),
    groups=groups_strategy,
)
def test_a_relay_needs_one_scope_group_holding_all_three(
    facts: RecordFacts, sender: str, receiver: str, groups: Groups
) -> None:
    expected = _simple_rule(facts, receiver, groups) and any(
        {sender, receiver, facts.origin} <= groups.members.get(name, frozenset())
        for name in facts.scope
    )

    assert may_travel(facts, sender=sender, receiver=receiver, groups=groups) == expected
    # A relay never reaches further than the origin itself could send.
    if expected:
        assert may_travel(facts, sender=facts.origin, receiver=receiver, groups=groups)


@settings(max_examples=200, deadline=None)
@given(
    facts=facts_strategy,
    sender=st.sampled_from(NODES),
    receiver=st.sampled_from(NODES),
    groups=groups_strategy,
)
def test_may_travel_is_check_may_travel_not_raising(
    facts: RecordFacts, sender: str, receiver: str, groups: Groups
) -> None:
    allowed = may_travel(facts, sender=sender, receiver=receiver, groups=groups)

    if allowed:
        check_may_travel(facts, sender=sender, receiver=receiver, groups=groups)
    else:
        with pytest.raises(TravelRefused) as refused:
            check_may_travel(facts, sender=sender, receiver=receiver, groups=groups)
        assert refused.value.reason
