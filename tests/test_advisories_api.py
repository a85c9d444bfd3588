"""The advisory API (SPEC sections 4-6) as its users see it, on both backends.

Every check goes through HTTP: what a write returns, what it leaves in the history, and what
each kind of reader can and cannot see afterwards.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import (
    Members,
    advisory_payload,
    assert_problem,
    post_advisory,
    table_counts,
)

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")

ANALYST = "analyst@example.edu"  # University of Example: vetted university
READER = "reader@example.edu"
POLY_ANALYST = "analyst@poly.example"  # Example Polytechnic: not vetted
POLY_READER = "reader@poly.example"
GOV_PUBLISHER = "publisher@gov.example"  # Office of Research Security: vetted government
AGENCY_PUBLISHER = "publisher@agency.example"  # Defence Research Agency: vetted government
OPERATOR = "operator@node.example"  # Node operations: not vetted
ANONYMOUS = "anonymous"


def auth(members: Members, who: str) -> dict[str, str]:
    return {} if who == ANONYMOUS else members.auth(who)


def subject(name: str, country: str = "CN", **extra: Any) -> dict[str, Any]:
    return {"name": name, "country": country, "kind": "university", **extra}


def listed(
    client: TestClient, headers: dict[str, str], **params: str | int
) -> list[dict[str, Any]]:
    """Every item of a list query, following cursors to the end."""
    items: list[dict[str, Any]] = []
    query: dict[str, str | int] = dict(params)
    while True:
        response = client.get("/v1/advisories", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


def listed_names(client: TestClient, headers: dict[str, str], **params: str | int) -> set[str]:
    return {item["subject"]["name"] for item in listed(client, headers, **params)}


def history(client: TestClient, headers: dict[str, str], advisory_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/advisories/{advisory_id}/revisions", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def parse_time(stamp: str) -> datetime:
    assert RFC3339_UTC.match(stamp), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# --- create -----------------------------------------------------------------------------------


def test_create_published(client: TestClient, members: Members) -> None:
    payload = advisory_payload(status="published")
    response = client.post("/v1/advisories", json=payload, headers=members.auth(ANALYST))

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/advisories/{body['id']}"
    assert uuid.UUID(body["id"])
    assert body["revision"] == 1
    assert body["status"] == "published"
    assert body["origin"] == "test"
    assert body["contributor_org"] == "University of Example"
    assert parse_time(body["published_at"]) == parse_time(body["updated_at"])
    assert abs(parse_time(body["updated_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    for name in ("tier", "tlp", "risk", "summary", "categories", "valid_from", "review_by"):
        assert body[name] == payload[name]
    assert body["subject"]["names"][0]["value"] == "哈尔滨工业大学"

    fetched = client.get(response.headers["location"], headers=members.auth(POLY_READER))
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_create_draft_is_seen_only_by_its_org_and_only_when_asked_for(
    client: TestClient, members: Members
) -> None:
    draft = post_advisory(client, members.auth(ANALYST), status="draft")

    assert draft["status"] == "draft"
    assert draft["published_at"] is None
    assert parse_time(draft["updated_at"])
    location = f"/v1/advisories/{draft['id']}"
    assert client.get(location, headers=members.auth(READER)).status_code == 200
    assert listed(client, members.auth(READER)) == []
    assert [a["id"] for a in listed(client, members.auth(READER), status="draft")] == [draft["id"]]
    assert [a["id"] for a in listed(client, members.auth(READER), status="all")] == [draft["id"]]
    for other in (POLY_READER, GOV_PUBLISHER, OPERATOR, ANONYMOUS):
        assert_problem(client.get(location, headers=auth(members, other)), 404)
        assert_problem(client.get(f"{location}/revisions", headers=auth(members, other)), 404)
        assert listed(client, auth(members, other), status="draft") == []
        assert listed(client, auth(members, other), status="all") == []


# --- change -----------------------------------------------------------------------------------


def test_patch_adds_revisions_and_history_keeps_each_one(
    client: TestClient, members: Members
) -> None:
    analyst = members.auth(ANALYST)
    first = post_advisory(client, analyst, summary="First version.", risk="high")

    second = client.patch(
        f"/v1/advisories/{first['id']}",
        json={"base_revision": 1, "summary": "Second version.", "risk": "very_high"},
        headers=analyst,
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["revision"] == 2
    assert (body["id"], body["origin"]) == (first["id"], first["origin"])
    assert (body["summary"], body["risk"]) == ("Second version.", "very_high")
    # Fields not named in the change are carried over.
    assert body["subject"] == first["subject"]
    assert body["categories"] == first["categories"]
    assert body["contributor_org"] == "University of Example"
    assert body["published_at"] == first["published_at"]
    assert parse_time(body["updated_at"]) > parse_time(first["updated_at"])

    third = client.patch(
        f"/v1/advisories/{first['id']}",
        json={"base_revision": 2, "categories": ["defence_lab"]},
        headers=analyst,
    )
    assert third.status_code == 200, third.text
    assert third.json()["revision"] == 3

    latest = client.get(f"/v1/advisories/{first['id']}", headers=members.auth(POLY_READER))
    assert latest.json()["revision"] == 3
    assert latest.json()["summary"] == "Second version."
    revisions = history(client, members.auth(POLY_READER), first["id"])
    assert [r["revision"] for r in revisions] == [1, 2, 3]
    assert revisions[0] == first
    assert revisions[1] == body
    assert revisions[2]["categories"] == ["defence_lab"]


def test_stale_base_revision_is_refused_and_changes_nothing(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    analyst = members.auth(ANALYST)
    advisory = post_advisory(client, analyst)
    path = f"/v1/advisories/{advisory['id']}"
    assert client.patch(path, json={"base_revision": 1, "summary": "Mine."}, headers=analyst)
    before = table_counts(session_factory)

    stale = client.patch(path, json={"base_revision": 1, "summary": "Theirs."}, headers=analyst)

    assert_problem(stale, 409, "base_revision")
    assert table_counts(session_factory) == before
    current = client.get(path, headers=analyst).json()
    assert (current["revision"], current["summary"]) == (2, "Mine.")
    ahead = client.patch(path, json={"base_revision": 7, "summary": "Theirs."}, headers=analyst)
    assert_problem(ahead, 409, "base_revision")
    assert table_counts(session_factory) == before


def test_publishing_a_draft_sets_published_at_and_shows_it(
    client: TestClient, members: Members
) -> None:
    draft = post_advisory(client, members.auth(ANALYST), status="draft", summary="Draft text.")
    assert listed(client, members.auth(POLY_READER)) == []

    published = client.patch(
        f"/v1/advisories/{draft['id']}",
        json={"base_revision": 1, "status": "published"},
        headers=members.auth(ANALYST),
    )

    assert published.status_code == 200, published.text
    body = published.json()
    assert (body["status"], body["revision"]) == ("published", 2)
    assert body["published_at"] == body["updated_at"]
    assert parse_time(body["published_at"])
    assert [a["id"] for a in listed(client, members.auth(POLY_READER))] == [draft["id"]]
    # Another org sees the published revision, never the draft before it.
    assert [r["revision"] for r in history(client, members.auth(POLY_READER), draft["id"])] == [2]
    assert [r["revision"] for r in history(client, members.auth(READER), draft["id"])] == [1, 2]


def test_published_cannot_return_to_draft(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    advisory = post_advisory(client, members.auth(ANALYST))
    before = table_counts(session_factory)

    response = client.patch(
        f"/v1/advisories/{advisory['id']}",
        json={"base_revision": 1, "status": "draft"},
        headers=members.auth(ANALYST),
    )

    assert_problem(response, 422, "status")
    assert table_counts(session_factory) == before
    still = client.get(f"/v1/advisories/{advisory['id']}", headers=members.auth(POLY_READER))
    assert (still.status_code, still.json()["status"]) == (200, "published")


# --- withdraw ---------------------------------------------------------------------------------


def test_withdraw_keeps_the_advisory_readable_but_out_of_the_default_list(
    client: TestClient, members: Members
) -> None:
    analyst = members.auth(ANALYST)
    advisory = post_advisory(client, analyst)
    other = post_advisory(client, analyst, subject=subject("Other University"))

    response = client.post(
        f"/v1/advisories/{advisory['id']}/withdraw",
        json={"base_revision": 1, "reason": "Listing was lifted."},
        headers=analyst,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["revision"]) == ("withdrawn", 2)
    assert body["withdrawal_reason"] == "Listing was lifted."
    assert body["published_at"] == advisory["published_at"]
    reader = members.auth(POLY_READER)
    assert [a["id"] for a in listed(client, reader)] == [other["id"]]
    assert [a["id"] for a in listed(client, reader, status="withdrawn")] == [advisory["id"]]
    assert {a["id"] for a in listed(client, reader, status="all")} == {advisory["id"], other["id"]}
    fetched = client.get(f"/v1/advisories/{advisory['id']}", headers=reader).json()
    assert (fetched["status"], fetched["withdrawal_reason"]) == ("withdrawn", "Listing was lifted.")
    revisions = history(client, reader, advisory["id"])
    assert [(r["revision"], r["status"]) for r in revisions] == [(1, "published"), (2, "withdrawn")]
    assert "withdrawal_reason" not in revisions[0]


def test_a_withdrawn_advisory_cannot_be_withdrawn_again_or_changed(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    analyst = members.auth(ANALYST)
    advisory = post_advisory(client, analyst)
    path = f"/v1/advisories/{advisory['id']}"
    withdrawn = client.post(
        f"{path}/withdraw", json={"base_revision": 1, "reason": "Gone."}, headers=analyst
    )
    assert withdrawn.status_code == 200
    before = table_counts(session_factory)

    for base in (2, 1):
        again = client.post(
            f"{path}/withdraw", json={"base_revision": base, "reason": "Again."}, headers=analyst
        )
        assert_problem(again, 409)
    patched = client.patch(path, json={"base_revision": 2, "summary": "Back."}, headers=analyst)
    assert_problem(patched, 409)

    assert table_counts(session_factory) == before
    assert client.get(path, headers=analyst).json()["withdrawal_reason"] == "Gone."


def test_withdrawing_a_draft_is_refused_so_it_never_shows(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    draft = post_advisory(client, members.auth(ANALYST), status="draft")
    before = table_counts(session_factory)

    response = client.post(
        f"/v1/advisories/{draft['id']}/withdraw",
        json={"base_revision": 1, "reason": "Never mind."},
        headers=members.auth(ANALYST),
    )

    assert_problem(response, 409)
    assert table_counts(session_factory) == before
    path = f"/v1/advisories/{draft['id']}"
    assert_problem(client.get(path, headers=members.auth(POLY_READER)), 404)
    assert listed(client, members.auth(POLY_READER), status="all") == []


# --- write rules (SPEC section 5) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "tier", "status"),
    [
        (ANALYST, "academia", 201),
        (POLY_ANALYST, "academia", 201),
        (GOV_PUBLISHER, "government", 201),
        (AGENCY_PUBLISHER, "government", 201),
        (READER, "academia", 403),
        (OPERATOR, "academia", 403),
        (ANALYST, "government", 403),
        (GOV_PUBLISHER, "academia", 403),
        (ANONYMOUS, "academia", 401),
    ],
)
def test_who_may_create_which_tier(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    who: str,
    tier: str,
    status: int,
) -> None:
    before = table_counts(session_factory)

    response = client.post(
        "/v1/advisories", json=advisory_payload(tier=tier), headers=auth(members, who)
    )

    if status == 201:
        assert response.status_code == 201, response.text
        assert response.json()["tier"] == tier
        assert table_counts(session_factory) == (before[0] + 1, before[1] + 1)
        return
    assert_problem(response, status)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert table_counts(session_factory) == before


def _write(
    client: TestClient, headers: dict[str, str], advisory_id: str, how: str
) -> httpx.Response:
    """A change (``patch``) or a withdrawal (``withdraw``) based on revision 1."""
    path = f"/v1/advisories/{advisory_id}"
    if how == "patch":
        body = {"base_revision": 1, "summary": "Changed by someone else."}
        response: httpx.Response = client.patch(path, json=body, headers=headers)
    else:
        body = {"base_revision": 1, "reason": "Withdrawn by someone else."}
        response = client.post(f"{path}/withdraw", json=body, headers=headers)
    return response


@pytest.mark.parametrize("how", ["patch", "withdraw"])
@pytest.mark.parametrize(
    ("owner", "overrides", "who", "status"),
    [
        # Visible to the caller, but not theirs (or not their role) to change: 403.
        pytest.param(ANALYST, {"tlp": "green"}, POLY_ANALYST, 403, id="poly-analyst-on-green"),
        pytest.param(ANALYST, {"tlp": "green"}, READER, 403, id="same-org-reader"),
        pytest.param(ANALYST, {"tlp": "green"}, OPERATOR, 403, id="operator"),
        pytest.param(
            ANALYST, {"tlp": "amber"}, GOV_PUBLISHER, 403, id="gov-publisher-on-academia-amber"
        ),
        pytest.param(
            GOV_PUBLISHER, {"tier": "government"}, AGENCY_PUBLISHER, 403, id="other-gov-publisher"
        ),
        # Invisible to the caller: absent, 404.
        pytest.param(ANALYST, {"tlp": "amber"}, POLY_ANALYST, 404, id="unvetted-on-amber"),
        pytest.param(ANALYST, {"status": "draft"}, POLY_ANALYST, 404, id="other-org-on-draft"),
        pytest.param(
            GOV_PUBLISHER,
            {"tier": "government", "status": "draft"},
            AGENCY_PUBLISHER,
            404,
            id="other-gov-on-gov-draft",
        ),
        pytest.param(
            ANALYST,
            {"tlp": "red", "audience": ["Defence Research Agency"]},
            GOV_PUBLISHER,
            404,
            id="outside-red-audience",
        ),
        # No credentials: 401 whether or not the advisory is visible without them.
        pytest.param(ANALYST, {"tlp": "clear"}, ANONYMOUS, 401, id="anonymous-on-clear"),
        pytest.param(ANALYST, {"tlp": "green"}, ANONYMOUS, 401, id="anonymous-on-green"),
        pytest.param(ANALYST, {"status": "draft"}, ANONYMOUS, 401, id="anonymous-on-draft"),
    ],
)
def test_only_the_contributing_org_changes_an_advisory(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    owner: str,
    overrides: dict[str, Any],
    who: str,
    status: int,
    how: str,
) -> None:
    if "audience" in overrides:
        overrides = {**overrides, "audience": [members.org_ids[n] for n in overrides["audience"]]}
    advisory = post_advisory(client, members.auth(owner), **overrides)
    before = table_counts(session_factory)

    response = _write(client, auth(members, who), advisory["id"], how)

    assert_problem(response, status)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert table_counts(session_factory) == before
    current = client.get(f"/v1/advisories/{advisory['id']}", headers=members.auth(owner)).json()
    assert current == advisory


def test_analyst_cannot_move_an_advisory_to_government_tier(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    advisory = post_advisory(client, members.auth(ANALYST))
    before = table_counts(session_factory)

    response = client.patch(
        f"/v1/advisories/{advisory['id']}",
        json={"base_revision": 1, "tier": "government"},
        headers=members.auth(ANALYST),
    )

    assert_problem(response, 403)
    assert table_counts(session_factory) == before


# --- reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "advisory_id",
    [
        pytest.param("5d6c7a0e-2f0b-4c55-9b1e-3f5d2a9c8e71", id="unknown-uuid"),
        pytest.param("not-an-id", id="not-an-id"),
        pytest.param("%00", id="nul"),
        pytest.param("x" * 100, id="too-long"),
    ],
)
def test_unknown_id_is_404(client: TestClient, members: Members, advisory_id: str) -> None:
    post_advisory(client, members.auth(ANALYST))
    path = f"/v1/advisories/{advisory_id}"

    for who in (READER, ANONYMOUS):
        assert_problem(client.get(path, headers=auth(members, who)), 404)
        assert_problem(client.get(f"{path}/revisions", headers=auth(members, who)), 404)
    for how in ("patch", "withdraw"):
        assert_problem(_write(client, members.auth(ANALYST), advisory_id, how), 404)


def _seed_for_filters(client: TestClient, members: Members) -> None:
    analyst = members.auth(ANALYST)
    post_advisory(client, analyst)  # Harbin Institute of Technology, CN, very_high
    post_advisory(
        client,
        analyst,
        subject=subject(
            "Beihang University",
            names=[
                {"value": "北京航空航天大学", "lang": "zh", "type": "official"},
                {"value": "BUAA", "type": "acronym"},
            ],
        ),
        risk="high",
        categories=["seven_sons"],
    )
    post_advisory(
        client,
        analyst,
        subject=subject(
            "Skolkovo Institute of Science and Technology",
            "RU",
            names=[{"value": "Сколковский институт науки и технологий", "type": "official"}],
        ),
        risk="medium",
        categories=["sanctions"],
    )
    post_advisory(
        client,
        members.auth(GOV_PUBLISHER),
        tier="government",
        subject=subject("National University of Defense Technology"),
        categories=["defence_lab"],
    )
    gone = post_advisory(client, analyst, subject=subject("Withdrawn Institute", "IR"), risk="low")
    withdrawn = client.post(
        f"/v1/advisories/{gone['id']}/withdraw",
        json={"base_revision": 1, "reason": "Merged into another entry."},
        headers=analyst,
    )
    assert withdrawn.status_code == 200
    post_advisory(client, analyst, status="draft", subject=subject("Draft Laboratory"))


HIT = "Harbin Institute of Technology"
BUAA = "Beihang University"
SKOLTECH = "Skolkovo Institute of Science and Technology"
NUDT = "National University of Defense Technology"
WITHDRAWN = "Withdrawn Institute"
DRAFT = "Draft Laboratory"


FILTER_CASES: list[tuple[dict[str, str], set[str]]] = [
    ({}, {HIT, BUAA, SKOLTECH, NUDT}),
    ({"country": "CN"}, {HIT, BUAA, NUDT}),
    ({"country": "RU"}, {SKOLTECH}),
    ({"country": "US"}, set()),
    ({"risk": "very_high"}, {HIT, NUDT}),
    ({"risk": "low"}, set()),
    ({"risk": "low", "status": "withdrawn"}, {WITHDRAWN}),
    ({"tier": "government"}, {NUDT}),
    ({"tier": "academia"}, {HIT, BUAA, SKOLTECH}),
    ({"category": "seven_sons"}, {HIT, BUAA}),
    ({"category": "defence_lab"}, {NUDT}),
    ({"origin": "test"}, {HIT, BUAA, SKOLTECH, NUDT}),
    ({"origin": "ca"}, set()),
    ({"status": "published"}, {HIT, BUAA, SKOLTECH, NUDT}),
    ({"status": "withdrawn"}, {WITHDRAWN}),
    ({"status": "draft"}, {DRAFT}),
    ({"status": "all"}, {HIT, BUAA, SKOLTECH, NUDT, WITHDRAWN, DRAFT}),
    ({"q": "harbin"}, {HIT}),
    ({"q": "HARBIN INSTITUTE"}, {HIT}),
    ({"q": "哈尔滨"}, {HIT}),
    ({"q": "北京航空航天大学"}, {BUAA}),
    ({"q": "buaa"}, {BUAA}),
    # Case folding beyond ASCII (SQLite's own LIKE folds ASCII only).
    ({"q": "СКОЛКОВСКИЙ"}, {SKOLTECH}),
    ({"q": "University"}, {BUAA, NUDT}),
    ({"q": "institute"}, {HIT, SKOLTECH}),
    ({"q": "institute", "status": "all"}, {HIT, SKOLTECH, WITHDRAWN}),
    ({"q": "%"}, set()),
    ({"q": "_"}, set()),
    ({"q": "no such name"}, set()),
    ({"country": "CN", "risk": "very_high", "tier": "academia"}, {HIT}),
]


def test_list_filters(client: TestClient, members: Members) -> None:
    _seed_for_filters(client, members)

    wrong = {}
    for params, expected in FILTER_CASES:
        found = listed_names(client, members.auth(READER), **params)
        if found != expected:
            wrong[str(params)] = {"expected": sorted(expected), "found": sorted(found)}
    assert not wrong


def test_list_filter_updated_after(client: TestClient, members: Members) -> None:
    analyst = members.auth(ANALYST)
    older = post_advisory(client, analyst, subject=subject("Older University"))
    newer = post_advisory(client, analyst, subject=subject("Newer University"))
    cut = parse_time(older["updated_at"])
    same_moment_elsewhere = cut.astimezone(timezone(timedelta(hours=2))).isoformat()

    for stamp in (older["updated_at"], same_moment_elsewhere):
        after = listed(client, members.auth(READER), updated_after=stamp)
        assert [a["id"] for a in after] == [newer["id"]]
    before_all = (cut - timedelta(seconds=1)).isoformat()
    assert len(listed(client, members.auth(READER), updated_after=before_all)) == 2

    changed = client.patch(
        f"/v1/advisories/{older['id']}",
        json={"base_revision": 1, "risk": "low"},
        headers=analyst,
    )
    assert changed.status_code == 200
    after = listed(client, members.auth(READER), updated_after=older["updated_at"])
    assert {a["id"] for a in after} == {older["id"], newer["id"]}
    last = max(parse_time(a["updated_at"]) for a in after)
    assert listed(client, members.auth(READER), updated_after=last.isoformat()) == []


# --- paging -----------------------------------------------------------------------------------


def _page(
    client: TestClient, headers: dict[str, str], limit: int, cursor: str | None
) -> tuple[list[str], str | None]:
    params: dict[str, str | int] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = client.get("/v1/advisories", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["items"]) <= limit
    return [item["id"] for item in body["items"]], body["next_cursor"]


@pytest.mark.parametrize("limit", [1, 3, 7, 8, 50])
def test_paging_returns_every_visible_item_once(
    client: TestClient, members: Members, limit: int
) -> None:
    # Eight advisories the Polytechnic may see, interleaved with ones it may not.
    hidden: dict[int, dict[str, Any]] = {
        2: {"tlp": "amber"},
        4: {"status": "draft"},
        6: {"tier": "government", "tlp": "green"},
    }
    visible: list[str] = []
    for n in range(8):
        if n in hidden:
            tier = hidden[n].get("tier", "academia")
            who = GOV_PUBLISHER if tier == "government" else ANALYST
            post_advisory(client, members.auth(who), subject=subject(f"Hidden {n}"), **hidden[n])
        who = POLY_ANALYST if n == 5 else ANALYST
        document = post_advisory(client, members.auth(who), subject=subject(f"University {n}"))
        visible.append(document["id"])

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        ids, cursor = _page(client, members.auth(POLY_READER), limit, cursor)
        seen.extend(ids)
        pages += 1
        if cursor is None:
            break
        assert len(ids) == limit
        assert pages < 20

    assert seen == list(reversed(visible))  # each once, newest first
    assert pages == -(-len(visible) // limit)


def test_paging_while_others_write_neither_skips_nor_repeats(
    client: TestClient, members: Members
) -> None:
    writer = members.auth(ANALYST)
    existing = [
        post_advisory(client, writer, subject=subject(f"Institute {n}"))["id"] for n in range(9)
    ]
    revisions = dict.fromkeys(existing, 1)

    seen: list[str] = []
    cursor: str | None = None
    step = 0
    while True:
        ids, cursor = _page(client, members.auth(READER), 2, cursor)
        seen.extend(ids)
        if cursor is None:
            break
        # Between page requests another client creates advisories and revises old ones: one
        # already seen, one not yet reached.
        step += 1
        post_advisory(client, writer, subject=subject(f"Newcomer {step}"))
        unseen = [a for a in existing if a not in seen]
        for advisory_id in {seen[0], *unseen[-1:]}:
            changed = client.patch(
                f"/v1/advisories/{advisory_id}",
                json={"base_revision": revisions[advisory_id], "summary": f"Revised {step}."},
                headers=writer,
            )
            assert changed.status_code == 200, changed.text
            revisions[advisory_id] += 1

    assert step >= 4
    assert len(seen) == len(set(seen)), "an advisory was served twice"
    assert set(existing) <= set(seen), "an advisory that existed when paging began was skipped"


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="garbage"),
        pytest.param("!!!", id="not-base64"),
        pytest.param(base64.urlsafe_b64encode(b"a1:abc").decode(), id="not-a-number"),
        pytest.param(base64.urlsafe_b64encode(b"b1:12").decode(), id="other-prefix"),
        pytest.param(base64.urlsafe_b64encode(b"a1:-3").decode(), id="negative"),
        pytest.param(
            base64.urlsafe_b64encode(b"a1:" + b"9" * 40).decode().rstrip("="), id="beyond-any-row"
        ),
        pytest.param("", id="empty"),
    ],
)
def test_bad_cursor_is_422_naming_cursor(client: TestClient, members: Members, cursor: str) -> None:
    post_advisory(client, members.auth(ANALYST))

    response = client.get("/v1/advisories", params={"cursor": cursor}, headers=members.auth(READER))

    assert_problem(response, 422, "cursor")


# --- visibility (SPEC section 5) --------------------------------------------------------------


def _seed_for_visibility(client: TestClient, members: Members) -> dict[str, str]:
    """One advisory per visibility case, named by it; returns ids by name."""
    analyst, gov = members.auth(ANALYST), members.auth(GOV_PUBLISHER)
    agency_id = members.org_ids["Defence Research Agency"]
    office_id = members.org_ids["Office of Research Security"]
    example_id = members.org_ids["University of Example"]
    cases: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("clear-academia", analyst, {"tlp": "clear"}),
        ("green-academia", analyst, {"tlp": "green"}),
        ("amber-academia", analyst, {"tlp": "amber"}),
        ("strict-academia", analyst, {"tlp": "amber+strict", "audience": [agency_id]}),
        ("red-academia", analyst, {"tlp": "red", "audience": [office_id]}),
        ("draft-academia", analyst, {"tlp": "clear", "status": "draft"}),
        ("clear-government", gov, {"tlp": "clear"}),
        ("green-government", gov, {"tlp": "green"}),
        ("amber-government", gov, {"tlp": "amber"}),
        ("red-government", gov, {"tlp": "red", "audience": [example_id]}),
    ]
    ids = {}
    for name, headers, overrides in cases:
        tier = "government" if name.endswith("government") else "academia"
        document = post_advisory(client, headers, tier=tier, subject=subject(name), **overrides)
        ids[name] = document["id"]
    return ids


OPEN_TO_ALL = {"clear-academia", "clear-government"}
OPEN_TO_MEMBERS = OPEN_TO_ALL | {"green-academia"}
OPEN_TO_VETTED = OPEN_TO_MEMBERS | {"amber-academia", "green-government", "amber-government"}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (ANONYMOUS, OPEN_TO_ALL),
        # Unvetted: no amber, and no government tier beyond clear.
        (POLY_READER, OPEN_TO_MEMBERS),
        (POLY_ANALYST, OPEN_TO_MEMBERS),
        # The operator role brings no extra read access.
        (OPERATOR, OPEN_TO_MEMBERS),
        # The contributor of the academia ones, and named in red-government's audience.
        (READER, OPEN_TO_VETTED | {"strict-academia", "red-academia", "red-government"}),
        (ANALYST, OPEN_TO_VETTED | {"strict-academia", "red-academia", "red-government"}),
        # Named in strict-academia's audience only.
        (AGENCY_PUBLISHER, OPEN_TO_VETTED | {"strict-academia"}),
        # The contributor of the government ones, and named in red-academia's audience.
        (GOV_PUBLISHER, OPEN_TO_VETTED | {"red-academia", "red-government"}),
    ],
)
def test_visibility_by_reader(
    client: TestClient, members: Members, who: str, expected: set[str]
) -> None:
    ids = _seed_for_visibility(client, members)
    headers = auth(members, who)
    own_drafts = {"draft-academia"} if who in (READER, ANALYST) else set()

    assert listed_names(client, headers) == expected
    assert listed_names(client, headers, status="all") == expected | own_drafts
    assert listed_names(client, headers, status="draft") == own_drafts
    for name, advisory_id in ids.items():
        response = client.get(f"/v1/advisories/{advisory_id}", headers=headers)
        revisions = client.get(f"/v1/advisories/{advisory_id}/revisions", headers=headers)
        if name in expected | own_drafts:
            assert response.status_code == 200, (name, response.text)
            assert response.json()["subject"]["name"] == name
            assert revisions.status_code == 200, name
        else:
            assert_problem(response, 404)
            assert_problem(revisions, 404)
        # Searching for it finds it exactly when it is visible.
        assert listed_names(client, headers, q=name) == {name} & expected
        assert listed_names(client, headers, q=name, status="all") == {name} & (
            expected | own_drafts
        )


def test_narrowing_the_audience_hides_the_advisory_from_those_left_out(
    client: TestClient, members: Members
) -> None:
    agency, office = (
        members.org_ids["Defence Research Agency"],
        members.org_ids["Office of Research Security"],
    )
    advisory = post_advisory(client, members.auth(ANALYST), tlp="red", audience=[agency, office])
    path = f"/v1/advisories/{advisory['id']}"
    assert client.get(path, headers=members.auth(AGENCY_PUBLISHER)).status_code == 200

    narrowed = client.patch(
        path, json={"base_revision": 1, "audience": [office]}, headers=members.auth(ANALYST)
    )

    assert narrowed.status_code == 200, narrowed.text
    assert_problem(client.get(path, headers=members.auth(AGENCY_PUBLISHER)), 404)
    assert listed(client, members.auth(AGENCY_PUBLISHER), status="all") == []
    assert client.get(path, headers=members.auth(GOV_PUBLISHER)).json()["revision"] == 2
    assert client.get(path, headers=members.auth(READER)).json()["audience"] == [office]
