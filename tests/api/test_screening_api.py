"""``GET /v1/screen`` as its users see it, on both backends (SPEC sections 5-6).

The demo advisories are written through the advisory domain as their demo authors; the checks
then go through HTTP: what each kind of caller finds, that a hidden advisory leaves no trace,
and that screening follows every write at once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.audit.chain import entries
from tests.factories import Members, assert_problem, load_demo_advisories, post_advisory

READER = "reader@example.edu"  # University of Example: vetted university
ANALYST = "analyst@example.edu"
POLY_READER = "reader@poly.example"  # Example Polytechnic: not vetted
GOV_PUBLISHER = "publisher@gov.example"  # Office of Research Security: vetted government
AGENCY_PUBLISHER = "publisher@agency.example"  # Defence Research Agency: vetted government
OPERATOR = "operator@node.example"  # Node operations: not vetted
ANONYMOUS = "anonymous"

HIT = "Harbin Institute of Technology"  # academia, clear
BUAA = "Beihang University"  # academia, green
NJUST = "Nanjing University of Science and Technology"  # academia, amber
NUDT = "National University of Defense Technology"  # government, amber
IAPCM = "Institute of Applied Physics and Computational Mathematics"  # government, amber+strict
HUAWEI = "Huawei Technologies Co., Ltd."  # government, clear
SKOLTECH = "Skolkovo Institute of Science and Technology"  # academia, draft
NONSENSE = "Qwxzv Blorptastic Emporium of Underwater Basketry"


def auth(members: Members, who: str) -> dict[str, str]:
    return {} if who == ANONYMOUS else members.auth(who)


@pytest.fixture
def demo(session_factory: sessionmaker[Session], members: Members) -> dict[str, dict[str, Any]]:
    return load_demo_advisories(session_factory, members)


def screen(
    client: TestClient, headers: dict[str, str], q: str, **params: str | int
) -> dict[str, Any]:
    response = client.get("/v1/screen", params={"q": q, **params}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert_result_shape(body)
    return body


def assert_result_shape(body: dict[str, Any]) -> None:
    """The SPEC's screening result: matches best first, each with what matched and why."""
    assert isinstance(body["query"], str)
    assert isinstance(body["matches"], list)
    scores = [match["score"] for match in body["matches"]]
    assert scores == sorted(scores, reverse=True), scores
    for match in body["matches"]:
        subject = match["subject"]
        assert isinstance(subject["name"], str)
        assert isinstance(subject["country"], str)
        assert isinstance(subject["identifiers"], dict)
        assert 0.0 <= match["score"] <= 1.0
        assert isinstance(match["matched_on"], str)
        assert match["matched_on"]
        # A subject is listed only for the advisories the caller may see: never for none.
        assert match["advisories"], match
        for advisory in match["advisories"]:
            for key in ("id", "risk", "tier", "tlp", "summary"):
                assert isinstance(advisory[key], str), (key, advisory)


def match_names(body: dict[str, Any]) -> list[str]:
    return [match["subject"]["name"] for match in body["matches"]]


def advisory_ids(body: dict[str, Any]) -> set[str]:
    return {a["id"] for match in body["matches"] for a in match["advisories"]}


def listed_ids(client: TestClient, headers: dict[str, str]) -> set[str]:
    """Ids of every advisory the caller may list (published ones), following cursors."""
    ids: set[str] = set()
    params: dict[str, str | int] = {"limit": 500}
    while True:
        response = client.get("/v1/advisories", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]


def nothing_found(body: dict[str, Any], query: str) -> bool:
    """The answer for a name nobody ever wrote an advisory about: no trace of anything."""
    return body == {"query": query, "country": None, "matches": []}


# --- finding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [HIT, "哈工大", "哈尔滨工业大学", "harbin inst. technol."])
def test_a_vetted_reader_finds_hit_and_its_advisory(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]], query: str
) -> None:
    body = screen(client, members.auth(READER), query)

    assert body["query"] == query
    best = body["matches"][0]
    assert best["subject"]["name"] == HIT
    assert best["subject"]["country"] == "CN"
    assert best["subject"]["identifiers"] == demo[HIT]["subject"]["identifiers"]
    assert best["score"] > 0.8
    expected = demo[HIT]
    [advisory] = best["advisories"]
    for key in ("id", "risk", "tier", "tlp", "summary", "revision", "origin", "categories"):
        assert advisory[key] == expected[key], key
    # Not its look-alike: the Harbin Engineering University advisory is not about this name.
    assert "Harbin Engineering University" not in match_names(body)[:1]


def test_a_name_nobody_wrote_about_gives_no_matches(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    for who in (READER, POLY_READER, ANONYMOUS):
        body = screen(client, auth(members, who), NONSENSE)
        assert nothing_found(body, NONSENSE), body


def test_limit_caps_the_matches_and_the_country_is_echoed(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    broad = screen(client, members.auth(READER), "University of Technology", limit=50)
    assert len(broad["matches"]) <= 50
    one = screen(client, members.auth(READER), "University of Technology", limit=1)
    assert len(one["matches"]) <= 1

    for given in ("CN", "cn", " CN "):
        body = screen(client, members.auth(READER), HIT, country=given)
        assert body["country"] == "CN"
        assert match_names(body)[0] == HIT


# --- access (SPEC section 5): invisible means absent ------------------------------------------


@pytest.mark.parametrize("query", [NUDT, "NUDT", "国防科技大学"])
def test_an_unvetted_member_gets_no_trace_of_government_amber_advisories(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]], query: str
) -> None:
    # The vetted reader sees it: the name does match.
    vetted = screen(client, members.auth(READER), query)
    assert match_names(vetted)[0] == NUDT
    assert advisory_ids(vetted) >= {demo[NUDT]["id"]}

    for who in (POLY_READER, OPERATOR, ANONYMOUS):
        body = screen(client, auth(members, who), query)
        assert nothing_found(body, query), (who, body)


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        (ANONYMOUS, {HIT, HUAWEI}),
        (POLY_READER, {HIT, HUAWEI, BUAA}),
        (READER, {HIT, HUAWEI, BUAA, NJUST, NUDT, IAPCM}),
        # Vetted, but not in the amber+strict audience.
        (AGENCY_PUBLISHER, {HIT, HUAWEI, BUAA, NJUST, NUDT}),
        # The contributor of the government ones.
        (GOV_PUBLISHER, {HIT, HUAWEI, BUAA, NJUST, NUDT, IAPCM}),
    ],
)
def test_each_caller_finds_exactly_what_it_may_see(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    who: str,
    visible: set[str],
) -> None:
    headers = auth(members, who)
    listable = listed_ids(client, headers)
    for name in (HIT, HUAWEI, BUAA, NJUST, NUDT, IAPCM):
        body = screen(client, headers, name)
        if name in visible:
            assert match_names(body)[0] == name, (who, name, body)
            assert demo[name]["id"] in advisory_ids(body)
        else:
            assert demo[name]["id"] not in advisory_ids(body), (who, name)
            assert name not in match_names(body), (who, name)
        # Whatever else matched, the same policy as the advisory list decided what is shown.
        assert advisory_ids(body) <= listable, (who, name)


def test_a_draft_is_never_a_screening_hit(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    assert demo[SKOLTECH]["status"] == "draft"
    for who in (POLY_READER, GOV_PUBLISHER, AGENCY_PUBLISHER, ANONYMOUS, READER, ANALYST):
        for query in (SKOLTECH, "Skoltech", "Сколковский институт науки и технологий"):
            body = screen(client, auth(members, who), query)
            assert nothing_found(body, query), (who, query, body)


def test_screening_amber_or_government_advisories_is_audited(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    session_factory: sessionmaker[Session],
) -> None:
    before = len(entries(session_factory))

    # Clear academia only: nothing recorded, as for a list of clear advisories.
    screen(client, members.auth(READER), HIT)
    screen(client, {}, HIT)
    # Nothing shown: nothing recorded either.
    screen(client, members.auth(POLY_READER), NUDT)
    assert len(entries(session_factory)) == before

    screen(client, members.auth(READER), NUDT)
    recorded = entries(session_factory)[before:]
    assert len(recorded) == 1
    [entry] = recorded
    assert entry.actor == READER
    assert entry.actor_org_id == members.org_ids["University of Example"]
    assert entry.action == "advisory.screen", entry
    assert demo[NUDT]["id"] in json.dumps(entry.detail)
    assert demo[HIT]["id"] not in json.dumps(entry.detail)


# --- keeping current --------------------------------------------------------------------------


def _subject(name: str, *aliases: str) -> dict[str, Any]:
    return {
        "name": name,
        "names": [{"value": alias, "type": "alias"} for alias in aliases],
        "country": "CN",
        "kind": "research_institute",
        "identifiers": {},
        "parent": None,
    }


def test_screening_follows_create_rename_and_withdraw_at_once(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    analyst, reader = members.auth(ANALYST), members.auth(POLY_READER)
    old_name, new_name = "Qinling Photonics Laboratory", "Taihang Advanced Materials Institute"
    assert nothing_found(screen(client, reader, old_name), old_name)

    created = post_advisory(client, analyst, subject=_subject(old_name), tlp="green")
    found = screen(client, reader, old_name)
    assert match_names(found)[0] == old_name
    assert found["matches"][0]["advisories"][0]["id"] == created["id"]

    renamed = client.patch(
        f"/v1/advisories/{created['id']}",
        json={"base_revision": 1, "subject": _subject(new_name), "summary": "Renamed."},
        headers=analyst,
    )
    assert renamed.status_code == 200, renamed.text
    assert created["id"] not in advisory_ids(screen(client, reader, old_name))
    after = screen(client, reader, new_name)
    assert match_names(after)[0] == new_name
    [advisory] = after["matches"][0]["advisories"]
    assert (advisory["id"], advisory["revision"], advisory["summary"]) == (
        created["id"],
        2,
        "Renamed.",
    )

    withdrawn = client.post(
        f"/v1/advisories/{created['id']}/withdraw",
        json={"base_revision": 2, "reason": "No longer a concern."},
        headers=analyst,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    for name in (new_name, old_name):
        body = screen(client, reader, name)
        assert created["id"] not in advisory_ids(body)
        assert new_name not in match_names(body)


def test_a_second_advisory_about_the_same_subject_joins_the_match(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    second = post_advisory(
        client,
        members.auth(GOV_PUBLISHER),
        tier="government",
        tlp="amber",
        risk="high",
        subject=demo[HIT]["subject"],
        summary="A government view of the same university.",
    )

    vetted = screen(client, members.auth(READER), HIT)
    assert match_names(vetted)[0] == HIT
    assert {a["id"] for a in vetted["matches"][0]["advisories"]} == {
        demo[HIT]["id"],
        second["id"],
    }
    # The unvetted reader still finds HIT, with only the advisory it may see.
    unvetted = screen(client, members.auth(POLY_READER), HIT)
    assert [a["id"] for a in unvetted["matches"][0]["advisories"]] == [demo[HIT]["id"]]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({}, "q", id="q-missing"),
        pytest.param({"q": ""}, "q", id="q-empty"),
        pytest.param({"q": "   "}, "q", id="q-blank"),
        pytest.param({"q": "x" * 1001}, "q", id="q-too-long"),
        pytest.param({"q": "Harbin\x00Institute"}, "q", id="q-nul"),
        pytest.param({"q": "Harbin\x07"}, "q", id="q-control"),
        pytest.param({"q": HIT, "country": "XX"}, "country", id="country-unknown"),
        pytest.param({"q": HIT, "country": "CHN"}, "country", id="country-alpha-3"),
        pytest.param({"q": HIT, "country": "China"}, "country", id="country-name"),
        pytest.param({"q": HIT, "limit": 0}, "limit", id="limit-0"),
        pytest.param({"q": HIT, "limit": 51}, "limit", id="limit-51"),
        pytest.param({"q": HIT, "limit": "ten"}, "limit", id="limit-text"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    params: dict[str, str | int],
    field: str,
) -> None:
    for headers in (members.auth(READER), {}):
        response = client.get("/v1/screen", params=params, headers=headers)
        assert_problem(response, 422, field)


def test_the_longest_name_allowed_is_screened(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    query = ("Harbin Institute of Technology " * 40)[:1000]
    body = screen(client, members.auth(READER), query)
    assert len(body["query"]) <= 1000


def test_a_bad_token_is_401_not_an_anonymous_screen(client: TestClient) -> None:
    response = client.get(
        "/v1/screen", params={"q": HIT}, headers={"Authorization": "Bearer trex_nope"}
    )
    assert_problem(response, 401)


def test_the_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    single = paths["/v1/screen"]["get"]
    assert {p["name"] for p in single["parameters"]} >= {"q", "country", "limit"}
    assert "application/json" in single["responses"]["200"]["content"]
    assert "application/problem+json" in single["responses"]["422"]["content"]

    batch = paths["/v1/screen/batch"]["post"]
    assert set(batch["requestBody"]["content"]) == {"application/json", "text/csv"}
    assert set(batch["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    for status in ("413", "415", "422"):
        assert "application/problem+json" in batch["responses"][status]["content"], status
