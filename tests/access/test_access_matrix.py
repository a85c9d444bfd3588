"""Every reader against every kind of advisory on every read endpoint: SPEC section 5 exactly.

One database per backend holds the whole matrix: orgs that are vetted, never vetted, vetted
until yesterday, or suspended; in each, a user of every role the org may have (and one disabled
user); and advisories of both tiers, all five TLPs and the three statuses, with audiences that
name some orgs and not others, contributed by vetted and unvetted orgs. The advisories are
written through the API while every org is vetted, then the operator sets each org's final
state, as happens when vetting ends after an org has written.

The expected outcome comes from ``spec_visible``, a table-driven restatement of SPEC section 5
written here, never from ``service.access.policy``: visible means 200 and listed, invisible
means 404 and absent from every list (never 403), and a suspended org's or disabled user's
token means 401. Failures are collected and reported together, each naming its combination.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.access.service import add_org, add_user, create_token
from service.db import transaction, utcnow
from tests.factories import PROBLEM_JSON, post_advisory

# --- SPEC section 5, restated as tables ---------------------------------------------------------

# An org is vetted while its vetted_until date is in the future.
VETTED_BY_STATE = {"vetted": True, "never vetted": False, "vetting expired yesterday": False}
# Who a published or withdrawn advisory's TLP admits.
TLP_RULE = {
    "clear": "anyone",
    "green": "signed-in member",
    "amber": "member of a vetted org",
    "amber+strict": "named org",
    "red": "named org",
}
# A government-tier advisory of any other TLP also needs the reader's org vetted.
GOVERNMENT_OPEN_TLP = {"clear"}
RELEASED = {"published", "withdrawn"}


@dataclass(frozen=True)
class OrgSpec:
    name: str
    kind: str
    vetting: str
    suspended: bool = False


ORGS = (
    OrgSpec("Vetted University", "university", "vetted"),
    OrgSpec("Unvetted University", "university", "never vetted"),
    OrgSpec("Lapsed University", "university", "vetting expired yesterday"),
    OrgSpec("Vetted Agency", "government", "vetted"),
    OrgSpec("Lapsed Agency", "government", "vetting expired yesterday"),
    OrgSpec("Suspended University", "university", "vetted", suspended=True),
)
ORG_BY_NAME = {org.name: org for org in ORGS}
ROLES_BY_KIND = {
    "university": ("reader", "analyst", "operator"),
    "government": ("reader", "analyst", "publisher", "operator"),
}
# Each org is named in exactly one of the two audiences; contributors' own included.
AUDIENCES = {
    "audience A": frozenset({"Unvetted University", "Lapsed University", "Vetted Agency"}),
    "audience B": frozenset({"Vetted University", "Lapsed Agency", "Suspended University"}),
}
CONTRIBUTORS = {
    "academia": (("Vetted University", "analyst"), ("Unvetted University", "analyst")),
    "government": (("Vetted Agency", "publisher"), ("Lapsed Agency", "publisher")),
}
STATUSES = ("draft", "published", "withdrawn")
TLPS = tuple(TLP_RULE)
RESTRICTED_CATEGORY = "named_orgs_only"


@dataclass(frozen=True)
class Case:
    """One advisory of the matrix."""

    tier: str
    tlp: str
    status: str
    audience_name: str
    contributor: str

    @property
    def audience(self) -> frozenset[str]:
        return AUDIENCES.get(self.audience_name, frozenset())

    @property
    def name(self) -> str:
        return f"{self.status} {self.tier} {self.tlp} by {self.contributor} to {self.audience_name}"

    @property
    def categories(self) -> list[str]:
        return [RESTRICTED_CATEGORY] if TLP_RULE[self.tlp] == "named org" else ["other"]

    @property
    def revisions(self) -> list[int]:
        return [1, 2] if self.status == "withdrawn" else [1]


@dataclass(frozen=True)
class Viewer:
    org: str | None
    role: str
    token: str | None
    disabled: bool = False

    @property
    def label(self) -> str:
        if self.org is None:
            return "anonymous"
        return f"{'disabled ' if self.disabled else ''}{self.role} of {self.org}"

    @property
    def refused(self) -> bool:
        """Whether its credentials no longer hold (suspended org, disabled user)."""
        return self.disabled or (self.org is not None and ORG_BY_NAME[self.org].suspended)

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}


def vetted(org: str | None) -> bool:
    return org is not None and VETTED_BY_STATE[ORG_BY_NAME[org].vetting]


def spec_visible(viewer_org: str | None, case: Case) -> bool:
    """SPEC section 5: whether a user of ``viewer_org`` (None: anonymous) sees ``case``."""
    if case.status not in RELEASED:
        return viewer_org is not None and viewer_org == case.contributor
    admitted_by_rule = {
        "anyone": True,
        "signed-in member": viewer_org is not None,
        "member of a vetted org": vetted(viewer_org),
        "named org": viewer_org is not None
        and (viewer_org in case.audience or viewer_org == case.contributor),
    }
    admitted = admitted_by_rule[TLP_RULE[case.tlp]]
    if case.tier == "government" and case.tlp not in GOVERNMENT_OPEN_TLP:
        admitted = admitted and vetted(viewer_org)
    return admitted


def _cases() -> list[Case]:
    """Both tiers, every TLP and status, from each tier's two contributors.

    The two advisories of a tier, TLP and status name different audiences, so every org is
    named by one and not by the other; which one alternates with the status, so contributors
    are sometimes in their own advisory's audience and sometimes not.
    """
    cases = []
    for tier, contributors in CONTRIBUTORS.items():
        for index, (contributor, _) in enumerate(contributors):
            for status_index, status in enumerate(STATUSES):
                for tlp in TLPS:
                    # On clear and green an audience changes nothing; on amber it must grant
                    # nothing either, and on amber+strict and red it decides.
                    audience = sorted(AUDIENCES)[(index + status_index) % 2]
                    if tlp in ("clear", "green"):
                        audience = "no audience"
                    cases.append(Case(tier, tlp, status, audience, contributor))
    return cases


# Lists asked for, and which advisories each may return (before visibility).
LIST_QUERIES: list[tuple[dict[str, str | int], Callable[[Case], bool]]] = [
    ({}, lambda c: c.status == "published"),
    ({"status": "published"}, lambda c: c.status == "published"),
    ({"status": "withdrawn"}, lambda c: c.status == "withdrawn"),
    ({"status": "draft"}, lambda c: c.status == "draft"),
    ({"status": "all"}, lambda c: True),
    ({"status": "all", "limit": 9}, lambda c: True),
    ({"tier": "government"}, lambda c: c.status == "published" and c.tier == "government"),
    ({"status": "all", "tier": "academia"}, lambda c: c.tier == "academia"),
    (
        {"status": "all", "category": RESTRICTED_CATEGORY},
        lambda c: TLP_RULE[c.tlp] == "named org",
    ),
    ({"status": "all", "q": "by Lapsed Agency"}, lambda c: c.contributor == "Lapsed Agency"),
    ({"status": "all", "country": "RU"}, lambda c: c.tier == "government"),
]


# --- building the matrix ------------------------------------------------------------------------


def _members(factory: sessionmaker[Session]) -> tuple[dict[str, str], list[Viewer]]:
    """Every org (vetted and active for now) and a user with a token per role; org ids."""
    now = utcnow()
    org_ids: dict[str, str] = {}
    viewers = [Viewer(None, "anonymous", None)]
    with transaction(factory) as session:
        orgs = {}
        for spec in ORGS:
            org = add_org(
                session,
                name=spec.name,
                kind=spec.kind,
                vetted_until=(now + timedelta(days=30)).date(),
            )
            orgs[spec.name], org_ids[spec.name] = org, org.id
            slug = spec.name.lower().replace(" ", "-")
            for role in ROLES_BY_KIND[spec.kind]:
                email = f"{role}@{slug}.example"
                add_user(session, email=email, org=org, role=role)
                token = create_token(session, email=email, now=now, ttl=timedelta(days=1))
                viewers.append(Viewer(spec.name, role, token))
        email = "disabled@vetted-university.example"
        add_user(session, email=email, org=orgs["Vetted University"], role="reader")
        token = create_token(session, email=email, now=now, ttl=timedelta(days=1))
        viewers.append(Viewer("Vetted University", "reader", token, disabled=True))
    return org_ids, viewers


def _token_of(viewers: list[Viewer], org: str, role: str) -> dict[str, str]:
    return next(v for v in viewers if v.org == org and v.role == role and not v.disabled).headers


def _write_matrix(
    client: TestClient, org_ids: dict[str, str], viewers: list[Viewer]
) -> dict[Case, str]:
    ids = {}
    for case in _cases():
        role = dict(CONTRIBUTORS[case.tier])[case.contributor]
        headers = _token_of(viewers, case.contributor, role)
        document = post_advisory(
            client,
            headers,
            tier=case.tier,
            tlp=case.tlp,
            status="draft" if case.status == "draft" else "published",
            audience=sorted(org_ids[name] for name in case.audience),
            subject={
                "name": case.name,
                "country": "RU" if case.tier == "government" else "CN",
                "kind": "university",
            },
            categories=case.categories,
        )
        if case.status == "withdrawn":
            withdrawn = client.post(
                f"/v1/advisories/{document['id']}/withdraw",
                json={"base_revision": 1, "reason": "Matrix withdrawal."},
                headers=headers,
            )
            assert withdrawn.status_code == 200, (case.name, withdrawn.text)
        ids[case] = document["id"]
    return ids


def _set_final_states(client: TestClient, org_ids: dict[str, str], viewers: list[Viewer]) -> None:
    """Through the admin API: end or lapse vetting, suspend, disable."""
    operator = _token_of(viewers, "Vetted University", "operator")
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    for spec in ORGS:
        changes: dict[str, Any] = {}
        if spec.vetting == "never vetted":
            changes["vetted_until"] = None
        elif spec.vetting == "vetting expired yesterday":
            changes["vetted_until"] = yesterday
        if spec.suspended:
            changes["status"] = "suspended"
        if changes:
            response = client.patch(
                f"/v1/admin/orgs/{org_ids[spec.name]}", json=changes, headers=operator
            )
            assert response.status_code == 200, (spec.name, response.text)
            assert response.json()["vetted"] is VETTED_BY_STATE[spec.vetting], spec.name
    users = client.get("/v1/admin/users", headers=operator)
    assert users.status_code == 200, users.text
    disabled = next(u for u in users.json() if u["email"].startswith("disabled@"))
    response = client.patch(
        f"/v1/admin/users/{disabled['id']}", json={"status": "disabled"}, headers=operator
    )
    assert response.status_code == 200, response.text


# --- checking -----------------------------------------------------------------------------------


def _is_problem(response: httpx.Response, status: int) -> bool:
    return (
        response.status_code == status
        and response.headers.get("content-type") == PROBLEM_JSON
        and response.json().get("status") == status
    )


def _outcome(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:120]}"


async def _listed(
    http: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str | int]
) -> tuple[list[str], httpx.Response | None]:
    """Every id a list query returns, following cursors; or the first refused response."""
    query = {"limit": 500, **params}
    ids: list[str] = []
    for _ in range(100):
        response = await http.get("/v1/advisories", params=query, headers=headers)
        if response.status_code != 200:
            return ids, response
        page = response.json()
        ids.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            return ids, None
        query["cursor"] = page["next_cursor"]
    raise AssertionError(f"{params}: the list never ended")


async def _check_refused(
    http: httpx.AsyncClient, viewer: Viewer, ids: dict[Case, str]
) -> list[str]:
    """A suspended org's or disabled user's token: 401 with a challenge on every read."""
    failures = []
    paths = ["/v1/advisories", "/v1/advisories?status=all", "/v1/advisories?status=draft"]
    paths.append("/v1/me")
    # What the viewer's org would see and what it would not: refused alike, before any lookup.
    for case, advisory_id in ids.items():
        if case.status != "published" or case.tlp not in ("clear", "red"):
            continue
        paths += [f"/v1/advisories/{advisory_id}", f"/v1/advisories/{advisory_id}/revisions"]
    for path in paths:
        response = await http.get(path, headers=viewer.headers)
        if not _is_problem(response, 401) or "www-authenticate" not in response.headers:
            failures.append(f"{viewer.label}: GET {path}: expected 401, got {_outcome(response)}")
    return failures


async def _check_single_reads(
    http: httpx.AsyncClient, viewer: Viewer, ids: dict[Case, str]
) -> list[str]:
    failures = []
    for case, advisory_id in ids.items():
        visible = spec_visible(viewer.org, case)
        where = f"{viewer.label} on {case.name}"
        fetched = await http.get(f"/v1/advisories/{advisory_id}", headers=viewer.headers)
        history = await http.get(f"/v1/advisories/{advisory_id}/revisions", headers=viewer.headers)
        if visible:
            if fetched.status_code != 200:
                failures.append(f"{where}: GET expected 200, got {_outcome(fetched)}")
            else:
                body = fetched.json()
                got = (body["id"], body["status"], body["revision"])
                if got != (advisory_id, case.status, case.revisions[-1]):
                    failures.append(f"{where}: GET served {got}")
            if history.status_code != 200:
                failures.append(f"{where}: revisions expected 200, got {_outcome(history)}")
            elif [r["revision"] for r in history.json()["items"]] != case.revisions:
                failures.append(f"{where}: revisions served {history.text[:200]}")
        else:
            for endpoint, response in (("GET", fetched), ("revisions", history)):
                if not _is_problem(response, 404):
                    failures.append(f"{where}: {endpoint} expected 404, got {_outcome(response)}")
    return failures


async def _check_lists(http: httpx.AsyncClient, viewer: Viewer, ids: dict[Case, str]) -> list[str]:
    failures = []
    name_of = {advisory_id: case.name for case, advisory_id in ids.items()}
    for params, selects in LIST_QUERIES:
        expected = {
            advisory_id
            for case, advisory_id in ids.items()
            if selects(case) and spec_visible(viewer.org, case)
        }
        found, refused = await _listed(http, viewer.headers, params)
        where = f"{viewer.label}: list {params}"
        if refused is not None:
            failures.append(f"{where}: expected 200, got {_outcome(refused)}")
            continue
        if len(found) != len(set(found)):
            failures.append(f"{where}: an advisory was listed twice")
        failures.extend(
            f"{where}: lists the invisible or unasked-for {name_of.get(i, i)}"
            for i in sorted(set(found) - expected)
        )
        failures.extend(
            f"{where}: leaves out the visible {name_of[i]}" for i in sorted(expected - set(found))
        )
    return failures


def _report(failures: Iterable[str]) -> str:
    failures = list(failures)
    shown = "\n".join(failures[:40])
    more = f"\n… and {len(failures) - 40} more" if len(failures) > 40 else ""
    return f"{len(failures)} combinations break SPEC section 5:\n{shown}{more}"


async def _check_all(app: Any, viewers: list[Viewer], ids: dict[Case, str]) -> list[str]:
    # In-process over ASGI, without TestClient's thread hop per request: this is thousands of
    # requests, and the hop costs more than most of them.
    transport = httpx.ASGITransport(app=app)
    failures: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for viewer in viewers:
            if viewer.refused:
                failures.extend(await _check_refused(http, viewer, ids))
                continue
            failures.extend(await _check_single_reads(http, viewer, ids))
            failures.extend(await _check_lists(http, viewer, ids))
    return failures


def test_every_reader_sees_exactly_what_spec_section_5_allows(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    org_ids, viewers = _members(session_factory)
    ids = _write_matrix(client, org_ids, viewers)
    _set_final_states(client, org_ids, viewers)

    failures = asyncio.run(_check_all(client.app, viewers, ids))

    assert not failures, _report(failures)


def test_the_matrix_covers_every_combination_it_claims() -> None:
    """The statement of the matrix itself: each dimension takes every value it should."""
    cases = _cases()
    assert {c.tier for c in cases} == {"academia", "government"}
    assert {c.tlp for c in cases} == set(TLPS)
    assert {c.status for c in cases} == set(STATUSES)
    assert {o.vetting for o in ORGS} == set(VETTED_BY_STATE)
    assert any(o.suspended for o in ORGS)
    for org in ORG_BY_NAME:
        in_audiences = [name for name, members in AUDIENCES.items() if org in members]
        assert len(in_audiences) == 1, org
    for tier in CONTRIBUTORS:
        for tlp in ("amber", "amber+strict", "red"):
            for status in STATUSES:
                alike = [c for c in cases if (c.tier, c.tlp, c.status) == (tier, tlp, status)]
                for org in ORG_BY_NAME:
                    named = {org in c.audience for c in alike}
                    assert named == {True, False}, (tier, tlp, status, org)
        # Contributors, vetted or not, both inside and outside their own advisory's audience.
        for contributor, _ in CONTRIBUTORS[tier]:
            own = [c for c in cases if c.contributor == contributor and c.audience]
            assert {c.contributor in c.audience for c in own} == {True, False}, contributor
    roles = {role for kind_roles in ROLES_BY_KIND.values() for role in kind_roles}
    assert roles == {"reader", "analyst", "publisher", "operator"}
