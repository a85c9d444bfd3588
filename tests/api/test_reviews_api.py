"""``/v1/reviews`` as its users see it, on both backends (SPEC sections 1, 5 and 6).

The demo advisories are written through the advisory domain as their demo authors; everything
else goes through HTTP: the three answers and the concern level for realistic projects, that
hidden advisories leave no trace, that reviews stay with the org that ran them, and refusals.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.access.models import Org
from service.access.service import create_token
from service.db import read_only, transaction, utcnow
from service.reviews.models import Review
from tests.audit.chain import entries
from tests.factories import Members, assert_problem, load_demo_advisories

READER = "reader@example.edu"  # University of Example: vetted university
ANALYST = "analyst@example.edu"
POLY_READER = "reader@poly.example"  # Example Polytechnic: not vetted
POLY_ANALYST = "analyst@poly.example"
GOV_PUBLISHER = "publisher@gov.example"  # Office of Research Security: vetted government
OPERATOR = "operator@node.example"

HIT = "Harbin Institute of Technology"
NUDT = "National University of Defense Technology"  # government, amber


@pytest.fixture
def demo(session_factory: sessionmaker[Session], members: Members) -> dict[str, str]:
    """The demo advisories, each written by its demo author; advisory ids by subject name."""
    documents = load_demo_advisories(session_factory, members)
    return {name: document["id"] for name, document in documents.items()}


def project(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Joint project",
        "partners": [{"name": "Université Laval", "country": "CA"}],
        "research_area": "Arctic sea ice dynamics",
        "technologies": [],
        "non_public_resources": {"kinds": ["none"], "description": ""},
        "applications": "Better climate projections",
    }
    body.update(overrides)
    return body


def post_review(client: TestClient, members: Members, who: str, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/reviews", json=project(**overrides), headers=members.auth(who))
    assert response.status_code == 201, response.text
    review: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/reviews/{review['id']}"
    return review


def concerns(review: dict[str, Any]) -> dict[str, str]:
    levels = {q["key"]: q["concern"] for q in review["questions"]}
    return {**levels, "overall": review["concern_level"]}


def cited(review: dict[str, Any]) -> set[str]:
    return {a["id"] for o in review["organisations"] for m in o["matches"] for a in m["advisories"]}


def review_count(factory: sessionmaker[Session]) -> int:
    with read_only(factory) as session:
        return session.scalar(select(func.count()).select_from(Review)) or 0


# --- the answers -------------------------------------------------------------------------------


def test_hit_with_shared_compute_and_aerospace_work_is_severe(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    review = post_review(
        client,
        members,
        READER,
        partners=["School of Astronautics, Harbin Institute of Technology, Harbin 150001, China"],
        research_area="Hypersonic flow control with deep learning",
        technologies=["aerospace"],
        non_public_resources={"kinds": ["compute", "data"], "description": "GPU time and data"},
        applications="Aerospace vehicle design",
    )

    assert concerns(review) == {
        "resources": "severe",
        "partner": "high",
        "applications": "severe",
        "overall": "severe",
    }
    assert [q["key"] for q in review["questions"]] == ["resources", "partner", "applications"]
    assert review["questions"][0]["question"].startswith("Does the project give the foreign")
    assert cited(review) == {demo[HIT]}
    advisory = review["organisations"][0]["matches"][0]["advisories"][0]
    assert advisory["categories"][0] == "seven_sons"
    assert advisory["listings"] == ["us_entity_list"]
    assert (advisory["tier"], advisory["tlp"]) == ("academia", "clear")
    assert "aerospace" in review["questions"][2]["answer"]
    assert "hypersonic" in review["questions"][2]["answer"]
    assert any("export-control office" in step for step in review["guidance"])
    assert any("Limit the partners' access" in step for step in review["guidance"])
    assert "it does not make it" in review["notice"]
    assert review["created_by"] == READER
    assert review["withheld"] is None


def test_a_very_high_risk_partner_without_shared_resources_is_high(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    review = post_review(client, members, READER, partners=["北航"])

    assert concerns(review)["overall"] == "high"
    assert review["organisations"][0]["highest_risk"] == "very_high"
    assert "Beihang University" in review["questions"][1]["answer"]


def test_sichuan_university_is_elevated(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    review = post_review(
        client,
        members,
        READER,
        partners=[{"name": "Sichuan University", "country": "CN"}],
        research_area="Medical image segmentation of liver tumours",
        applications="Earlier diagnosis of liver cancer in hospitals",
    )

    assert concerns(review) == {
        "resources": "low",
        "partner": "elevated",
        "applications": "low",
        "overall": "elevated",
    }
    assert cited(review) == {demo["Sichuan University"]}


def test_an_unknown_partner_and_open_data_is_low(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    review = post_review(client, members, READER)

    assert set(concerns(review).values()) == {"low"}
    assert review["organisations"][0]["matches"] == []
    assert "not a clearance" in review["questions"][1]["answer"]
    assert review["guidance"]


def test_an_unvetted_member_reviewing_nudt_gets_no_trace_of_it(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    """NUDT's only advisory is government amber, hidden from Example Polytechnic."""
    shared = {
        "partners": [{"name": NUDT, "country": "CN"}],
        "research_area": "Supercomputing for climate models",
        "applications": "Regional flood forecasting",
    }
    hidden = post_review(client, members, POLY_READER, **shared)
    seen = post_review(client, members, READER, **shared)

    assert hidden["organisations"][0]["matches"] == []
    assert hidden["organisations"][0]["highest_risk"] is None
    assert demo[NUDT] not in str(hidden)
    assert set(concerns(hidden).values()) == {"low"}  # nothing raised by what it cannot see
    assert "No advisory you can see" in hidden["questions"][1]["answer"]
    # The vetted member reviewing the same project does see it.
    assert cited(seen) == {demo[NUDT]}
    assert concerns(seen)["overall"] == "severe"  # legally restricted, supercomputing overlap


# --- storage and privacy -----------------------------------------------------------------------


def test_a_review_reads_back_as_it_was_answered(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    review = post_review(client, members, READER, partners=["HIT"])

    for who in (READER, ANALYST):  # any member of the org
        response = client.get(f"/v1/reviews/{review['id']}", headers=members.auth(who))
        assert response.status_code == 200, response.text
        assert response.json() == review


def test_reviews_are_private_to_the_org(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    mine = post_review(client, members, READER, title="Ours", partners=["HIT"])
    theirs = post_review(client, members, POLY_READER, title="Theirs")

    for who, other in ((POLY_READER, mine), (POLY_ANALYST, mine), (READER, theirs)):
        assert_problem(client.get(f"/v1/reviews/{other['id']}", headers=members.auth(who)), 404)
    for who, own in ((READER, mine), (POLY_ANALYST, theirs)):
        page = client.get("/v1/reviews", headers=members.auth(who)).json()
        assert [item["id"] for item in page["items"]] == [own["id"]]
    # Another org's review is as absent as one that never existed.
    unknown = client.get(
        "/v1/reviews/00000000-0000-4000-8000-000000000000", headers=members.auth(READER)
    )
    assert (
        unknown.json()["detail"]
        == client.get(f"/v1/reviews/{theirs['id']}", headers=members.auth(READER)).json()["detail"]
    )


def test_the_list_pages_newest_first(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    made = [post_review(client, members, READER, title=f"Review {i}")["id"] for i in range(5)]

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = client.get("/v1/reviews", params=params, headers=members.auth(READER))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert seen == list(reversed(made))
    first = client.get("/v1/reviews", headers=members.auth(READER)).json()["items"][0]
    assert first["title"] == "Review 4"
    assert first["partners"] == ["Université Laval"]
    assert first["concern_level"] == "low"
    assert first["created_by"] == READER


def test_answers_citing_advisories_no_longer_visible_are_withheld(
    client: TestClient,
    members: Members,
    demo: dict[str, str],
    session_factory: sessionmaker[Session],
) -> None:
    review = post_review(client, members, READER, partners=[NUDT])
    assert cited(review) == {demo[NUDT]}
    with transaction(session_factory) as session:  # the org's vetting lapses
        session.execute(
            update(Org)
            .where(Org.id == members.org_ids["University of Example"])
            .values(vetted_until=date.today() - timedelta(days=1))
        )

    again = client.get(f"/v1/reviews/{review['id']}", headers=members.auth(READER)).json()
    listed = client.get("/v1/reviews", headers=members.auth(READER)).json()["items"]

    assert again["withheld"]
    assert again["concern_level"] is None
    assert again["questions"] == again["organisations"] == []
    assert demo[NUDT] not in str(again)
    assert again["input"] == review["input"]  # the org's own words stay readable
    assert [item["concern_level"] for item in listed] == [None]


def test_audit_names_the_review_never_its_content(
    client: TestClient,
    members: Members,
    demo: dict[str, str],
    session_factory: sessionmaker[Session],
) -> None:
    before = len(entries(session_factory))
    review = post_review(client, members, READER, partners=[NUDT], title="Secret partnership")
    client.get(f"/v1/reviews/{review['id']}", headers=members.auth(ANALYST)).raise_for_status()
    client.get("/v1/reviews", headers=members.auth(ANALYST)).raise_for_status()

    log = entries(session_factory)[before:]
    assert [(e.action, e.actor) for e in log] == [
        ("advisory.screen", READER),  # screening showed a government amber advisory
        ("review.create", READER),
        ("review.read", ANALYST),  # shown again to someone else: still audited
    ]
    assert log[1].target == log[2].target == review["id"]
    assert log[1].detail == {}
    assert log[2].detail == {"advisories": [demo[NUDT]]}
    for entry in log:
        assert "Secret" not in str(entry.detail)
        assert "Defense" not in str(entry.detail)


# --- who may review ----------------------------------------------------------------------------


def test_anonymous_callers_get_401(
    client: TestClient, members: Members, demo: dict[str, str]
) -> None:
    review = post_review(client, members, READER)
    assert_problem(client.post("/v1/reviews", json=project()), 401)
    assert_problem(client.get("/v1/reviews"), 401)
    assert_problem(client.get(f"/v1/reviews/{review['id']}"), 401)


def test_operators_neither_run_nor_read_reviews(
    client: TestClient,
    members: Members,
    demo: dict[str, str],
    session_factory: sessionmaker[Session],
) -> None:
    auth = members.auth(OPERATOR)
    assert_problem(client.post("/v1/reviews", json=project(), headers=auth), 403)
    assert_problem(client.get("/v1/reviews", headers=auth), 403)
    assert review_count(session_factory) == 0


@pytest.mark.parametrize("who", [READER, ANALYST, GOV_PUBLISHER])
def test_members_of_every_other_role_run_reviews(
    client: TestClient, members: Members, demo: dict[str, str], who: str
) -> None:
    post_review(client, members, who)


def test_a_read_only_token_reads_reviews_but_does_not_run_them(
    client: TestClient,
    members: Members,
    demo: dict[str, str],
    session_factory: sessionmaker[Session],
) -> None:
    review = post_review(client, members, READER)
    with transaction(session_factory) as session:
        token = create_token(
            session, email=READER, now=utcnow(), ttl=timedelta(days=1), read_only=True
        )
    auth = {"Authorization": f"Bearer {token}"}

    body = assert_problem(client.post("/v1/reviews", json=project(), headers=auth), 403)
    assert "read-only" in body["detail"]
    assert client.get(f"/v1/reviews/{review['id']}", headers=auth).status_code == 200
    assert review_count(session_factory) == 1


# --- bad input ---------------------------------------------------------------------------------


def _many(count: int) -> list[str]:
    return [f"Partner {i}" for i in range(count)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"partners": []}, "partners"),
        ({"partners": _many(51)}, "partners"),
        ({"partners": [""]}, "partners.0.name"),
        ({"partners": ["HIT", "   "]}, "partners.1.name"),
        ({"partners": ["x" * 1001]}, "partners.0.name"),
        ({"partners": ["Bad\x00name"]}, "partners.0.name"),
        ({"partners": [{"name": "HIT", "country": "ZZ"}]}, "partners.0.country"),
        ({"partners": [{"name": "HIT", "country": "cn"}]}, "partners.0.country"),
        ({"partners": [{"name": "HIT", "city": "Harbin"}]}, "partners.0.city"),
        ({"partners": [42]}, "partners.0"),
        ({"research_area": ""}, "research_area"),
        ({"research_area": None}, "research_area"),
        ({"applications": "x" * 2001}, "applications"),
        ({"technologies": ["Not A Slug"]}, "technologies.0"),
        ({"non_public_resources": {"kinds": []}}, "non_public_resources.kinds"),
        ({"non_public_resources": {"kinds": ["gold"]}}, "non_public_resources.kinds.0"),
        ({"non_public_resources": {"kinds": ["none", "data"]}}, "non_public_resources.kinds"),
        ({"non_public_resources": ["data"]}, "non_public_resources"),
        ({"funding_sources": [""]}, "funding_sources.0.name"),
        ({"title": "x" * 301}, "title"),
        ({"verdict": "approve"}, "verdict"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    change: dict[str, Any],
    field: str,
) -> None:
    response = client.post("/v1/reviews", json=project(**change), headers=members.auth(READER))

    assert_problem(response, 422, field)
    assert review_count(session_factory) == 0


def test_missing_fields_are_named(client: TestClient, members: Members) -> None:
    response = client.post("/v1/reviews", json={}, headers=members.auth(READER))
    body = assert_problem(response, 422)
    named = {error["field"] for error in body["errors"]}
    assert {"partners", "research_area", "non_public_resources", "applications"} <= named


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "cjE6bm9wZXxub3Bl"}, "cursor"),  # r1:nope|nope
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
    ],
)
def test_bad_list_parameters(
    client: TestClient, members: Members, params: dict[str, Any], field: str
) -> None:
    response = client.get("/v1/reviews", params=params, headers=members.auth(READER))
    assert_problem(response, 422, field)


@pytest.mark.parametrize("review_id", ["nope", "%00", "x" * 300])
def test_ids_that_name_no_review_are_404(
    client: TestClient, members: Members, review_id: str
) -> None:
    assert_problem(client.get(f"/v1/reviews/{review_id}", headers=members.auth(READER)), 404)


def test_a_body_that_is_not_json_is_a_400(client: TestClient, members: Members) -> None:
    response = client.post(
        "/v1/reviews",
        content=b"\xff\xfe not json",
        headers={**members.auth(READER), "content-type": "application/json"},
    )
    assert_problem(response, 400)
