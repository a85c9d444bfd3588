"""The TAXII 2.1 view of a real served demo node, read with OASIS's own tools.

``taxii2-client`` discovers the server and pages through every collection; ``stix2`` parses and
the OASIS validator checks every object; and what each caller pulls is exactly the clear and
green advisories that caller may list on ``/v1/advisories``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import stix2
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from service.taxii.stix import StixNode
from tests.factories import advisory_payload
from tests.node_process import (
    NODE_BACKENDS,
    backend_environment,
    demo_tokens,
    run_node_command,
    served_node,
)
from tests.taxii.test_stix import ALLOWED_WARNINGS, validation_problems

TAXII = "application/taxii+json;version=2.1"
PAGE = 7
ANALYST = "analyst@example.edu"
READER = "reader@example.edu"
UNVETTED = "reader@poly.example"
PUBLISHER = "publisher@gov.example"
CALLERS = [None, READER, UNVETTED, PUBLISHER]
ADVISORIES = "dea497bf-5fce-4b90-9d3b-5e660164a05b"
TIERS = {
    "dea497bf-5fce-4b90-9d3b-5e660164a05b": None,
    "5354ed73-3092-42bd-85f3-d7f2a0e0054e": "academia",
    "f336bc14-e0ae-4202-ba3c-6a1fce6efa6e": "government",
}


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` for taxii2-client (which speaks ``requests``)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass
class TaxiiNode:
    base_url: str
    tokens: dict[str, str]
    node: StixNode
    # The advisories the fixture wrote on top of the demo's, by what happened to them.
    written: dict[str, str] = field(default_factory=dict)

    def http(self, email: str | None = None, **headers: str) -> httpx.Client:
        if email is not None:
            headers["Authorization"] = f"Bearer {self.tokens[email]}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)

    def server(self, email: str | None) -> Server:
        auth = BearerAuth(self.tokens[email]) if email is not None else None
        return Server(f"{self.base_url}/taxii2/", auth=auth)

    def collection(self, email: str | None, collection_id: str = ADVISORIES) -> Collection:
        auth = BearerAuth(self.tokens[email]) if email is not None else None
        url = f"{self.base_url}/taxii2/api/collections/{collection_id}/"
        return Collection(url, auth=auth)


def _payload(name: str, **overrides: Any) -> dict[str, Any]:
    subject = {"name": name, "country": "CN", "kind": "research_institute"}
    return advisory_payload(subject=subject, **overrides)


def _write_history(client: httpx.Client) -> dict[str, str]:
    """Advisories with a history: revised, withdrawn, raised to amber, lowered, drafted."""

    def create(name: str, **overrides: Any) -> str:
        response = client.post("/v1/advisories", json=_payload(name, **overrides))
        assert response.status_code == 201, response.text
        advisory_id: str = response.json()["id"]
        return advisory_id

    def change(advisory_id: str, base: int, **changes: Any) -> None:
        body = {"base_revision": base, **changes}
        response = client.patch(f"/v1/advisories/{advisory_id}", json=body)
        assert response.status_code == 200, response.text

    written = {
        "revised": create("Revised Institute", tlp="green"),
        "withdrawn": create("Withdrawn Institute", tlp="clear"),
        "raised": create("Raised Institute", tlp="green"),
        "lowered": create("Lowered Institute", tlp="amber"),
        "drafted": create("Drafted Institute", tlp="green", status="draft"),
    }
    change(written["revised"], 1, risk="high")
    withdrawal = {"base_revision": 1, "reason": "Merged into another advisory."}
    response = client.post(f"/v1/advisories/{written['withdrawn']}/withdraw", json=withdrawal)
    assert response.status_code == 200, response.text
    change(written["raised"], 1, tlp="amber")
    change(written["lowered"], 1, tlp="green")
    change(written["drafted"], 1, status="published")
    return written


@pytest.fixture(scope="module", params=NODE_BACKENDS)
def taxii_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TaxiiNode]:
    """One served demo node per backend, with a few advisory histories; read-only after."""
    data_dir = tmp_path_factory.mktemp("taxii-node")
    with backend_environment(request.param, data_dir, request) as env:
        tokens = demo_tokens(run_node_command(["demo"], env).stdout)
        with served_node(env, data_dir / "serve.log") as served:
            descriptor = httpx.get(f"{served.base_url}/.well-known/trex-node").json()
            node = StixNode(descriptor["node_id"], "", "", served.base_url)
            taxii = TaxiiNode(served.base_url, tokens, node)
            with taxii.http(ANALYST) as client:
                taxii.written = _write_history(client)
            yield taxii


_checked: set[str] = set()


def assert_valid_stix(obj: dict[str, Any]) -> None:
    """stix2 parses it with no custom content allowed; the OASIS validator finds no error."""
    text = json.dumps(obj, sort_keys=True)
    if text in _checked:
        return
    assert stix2.parse(text, allow_custom=False).id == obj["id"]
    errors, warnings = validation_problems(obj)
    assert errors == [], obj
    assert warnings <= ALLOWED_WARNINGS, (warnings, obj)
    _checked.add(text)


def listed(taxii: TaxiiNode, email: str | None, tier: str | None = None) -> list[dict[str, Any]]:
    """The clear and green advisories ``email`` may list on /v1 (every status it may see)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"status": "all", "limit": 100}
    if tier is not None:
        params["tier"] = tier
    with taxii.http(email) as client:
        while True:
            body = client.get("/v1/advisories", params=params).json()
            items.extend(body["items"])
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
    return [a for a in items if a["tlp"] in ("clear", "green") and a["status"] != "draft"]


def pull(collection: Collection, **filters: Any) -> list[dict[str, Any]]:
    """Every object of ``collection`` through taxii2-client's pager, PAGE at a time."""
    pages = list(as_pages(collection.get_objects, per_request=PAGE, **filters))
    for envelope in pages[:-1]:
        assert len(envelope["objects"]) == PAGE
        assert envelope["next"]
    assert pages[-1]["more"] is False
    return [obj for envelope in pages for obj in envelope.get("objects", [])]


def extension(taxii: TaxiiNode, report: dict[str, Any]) -> dict[str, Any]:
    ext: dict[str, Any] = report["extensions"][taxii.node.extension_id]
    return ext


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    return body


def collection_path(collection_id: str = ADVISORIES) -> str:
    return f"/taxii2/api/collections/{collection_id}/"


# --- discovery -----------------------------------------------------------------------------


def test_taxii2_client_discovers_the_server(taxii_node: TaxiiNode) -> None:
    with taxii_node.server(READER) as server:
        assert server.title
        assert [root.url for root in server.api_roots] == [f"{taxii_node.base_url}/taxii2/api/"]
        root: ApiRoot = server.default
        assert root is server.api_roots[0]
        assert root.versions == [TAXII]
        assert root.max_content_length > 0
        collections = {c.id: c for c in root.collections}
    assert set(collections) == set(TIERS)
    assert {c.alias for c in collections.values()} == {"advisories", "academia", "government"}
    for collection in collections.values():
        assert collection.can_read is True
        assert collection.can_write is False
        assert collection.media_types == ["application/stix+json;version=2.1"]


# --- what each caller pulls ----------------------------------------------------------------


@pytest.mark.parametrize("email", CALLERS, ids=lambda e: e or "anonymous")
def test_each_caller_pulls_exactly_the_advisories_it_may_list(
    taxii_node: TaxiiNode, email: str | None
) -> None:
    with taxii_node.server(email) as server:
        collections = list(server.default.collections)
        assert {c.id for c in collections} == set(TIERS)
        for collection in collections:
            objects = pull(collection)
            ids = [obj["id"] for obj in objects]
            assert len(ids) == len(set(ids)), "each object once, in its latest version"
            for obj in objects:
                assert_valid_stix(obj)
            expected = {a["id"]: a for a in listed(taxii_node, email, TIERS[collection.id])}
            reports = [o for o in objects if o["type"] == "report"]
            # Every caller sees some of every collection: the demo has clear advisories of both
            # tiers, and the fixture a withdrawn clear one.
            assert expected, collection.alias
            pulled = {extension(taxii_node, r)["advisory_id"]: r for r in reports}
            assert sorted(pulled) == sorted(expected), collection.alias
            for advisory_id, report in pulled.items():
                advisory = expected[advisory_id]
                assert extension(taxii_node, report)["revision"] == advisory["revision"]
                assert report.get("revoked", False) == (advisory["status"] == "withdrawn")
                assert report["id"] == taxii_node.node.report_id(advisory_id)
            identities = {o["id"]: o for o in objects if o["type"] == "identity"}
            subjects = {ref for r in reports for ref in r["object_refs"]}
            assert set(identities) == subjects | {taxii_node.node.identity_id}
            kinds = sorted(o["type"] for o in objects if o["type"] not in ("identity", "report"))
            assert kinds == ["extension-definition", "marking-definition", "marking-definition"]


def test_what_callers_see_differs_as_the_policy_says(taxii_node: TaxiiNode) -> None:
    def advisory_ids(email: str | None) -> set[str]:
        with taxii_node.collection(email) as collection:
            objects = pull(collection, type="report")
        return {extension(taxii_node, o)["advisory_id"] for o in objects}

    def tlps(email: str | None) -> set[str]:
        return {a["tlp"] for a in listed(taxii_node, email)}

    anonymous, unvetted, vetted = advisory_ids(None), advisory_ids(UNVETTED), advisory_ids(READER)
    assert anonymous < unvetted < vetted
    assert tlps(None) == {"clear"}
    assert taxii_node.written["withdrawn"] in anonymous


def test_amber_and_above_are_absent_even_when_asked_for_by_id(taxii_node: TaxiiNode) -> None:
    with taxii_node.http(READER) as client:
        everything = client.get("/v1/advisories", params={"status": "all", "limit": 500})
        restricted = [a["id"] for a in everything.json()["items"] if a["tlp"].startswith("amber")]
        restricted.append(taxii_node.written["raised"])
        assert len(restricted) > 3
        for advisory_id in restricted:
            for object_id in (
                taxii_node.node.report_id(advisory_id),
                taxii_node.node.subject_id(advisory_id),
            ):
                for suffix in ("", "versions/"):
                    path = f"{collection_path()}objects/{object_id}/{suffix}"
                    response = client.get(path)
                    assert response.status_code == 404, (path, response.text)
                    assert response.json()["http_status"] == "404"


# --- versions ------------------------------------------------------------------------------


def _report_versions(client: httpx.Client, taxii: TaxiiNode, name: str) -> list[str]:
    report_id = taxii.node.report_id(taxii.written[name])
    body = get(client, f"{collection_path()}objects/{report_id}/versions/")
    assert body["more"] is False
    versions: list[str] = body["versions"]
    return versions


def _revisions(taxii: TaxiiNode, body: dict[str, Any]) -> list[int]:
    return [extension(taxii, o)["revision"] for o in body.get("objects", [])]


def test_each_revision_is_a_version(taxii_node: TaxiiNode) -> None:
    revised = taxii_node.node.report_id(taxii_node.written["revised"])
    path = f"{collection_path()}objects/{revised}/"
    with taxii_node.http(READER) as client:
        versions = _report_versions(client, taxii_node, "revised")
        assert len(versions) == 2
        assert versions == sorted(versions)
        assert _revisions(taxii_node, get(client, path)) == [2]
        assert _revisions(taxii_node, get(client, path, **{"match[version]": "last"})) == [2]
        assert _revisions(taxii_node, get(client, path, **{"match[version]": "first"})) == [1]
        assert _revisions(taxii_node, get(client, path, **{"match[version]": "all"})) == [1, 2]
        by_time = get(client, path, **{"match[version]": versions[0]})
        assert _revisions(taxii_node, by_time) == [1]
        assert by_time["objects"][0]["modified"] == versions[0]
        both = get(client, path, **{"match[version]": f"first,{versions[1]}"})
        assert _revisions(taxii_node, both) == [1, 2]
        # The subject identity is versioned with its advisory.
        subject = taxii_node.node.subject_id(taxii_node.written["revised"])
        subject_versions = get(client, f"{collection_path()}objects/{subject}/versions/")
        assert subject_versions["versions"] == versions


def test_versions_the_caller_may_not_see_are_left_out(taxii_node: TaxiiNode) -> None:
    with taxii_node.http(READER) as client:
        # Revision 1 was amber, revision 1 of the other a draft: neither is ever served.
        for name in ("lowered", "drafted"):
            assert len(_report_versions(client, taxii_node, name)) == 1
            report_id = taxii_node.node.report_id(taxii_node.written[name])
            body = get(
                client, f"{collection_path()}objects/{report_id}/", **{"match[version]": "all"}
            )
            assert _revisions(taxii_node, body) == [2]
            first = get(
                client, f"{collection_path()}objects/{report_id}/", **{"match[version]": "first"}
            )
            assert _revisions(taxii_node, first) == [2]


def test_a_withdrawn_advisory_is_a_revoked_report(taxii_node: TaxiiNode) -> None:
    report_id = taxii_node.node.report_id(taxii_node.written["withdrawn"])
    path = f"{collection_path()}objects/{report_id}/"
    with taxii_node.http() as client:  # TLP:CLEAR: anonymous callers see it too
        latest = get(client, path)["objects"]
        history = get(client, path, **{"match[version]": "all"})["objects"]
    assert [o.get("revoked", False) for o in latest] == [True]
    assert [o.get("revoked", False) for o in history] == [False, True]
    assert extension(taxii_node, latest[0])["withdrawal_reason"] == "Merged into another advisory."


def test_all_versions_of_a_collection(taxii_node: TaxiiNode) -> None:
    with taxii_node.collection(READER) as collection:
        latest = pull(collection, type="report")
        every = pull(collection, type="report", version="all")
    assert len({o["id"] for o in every}) == len(latest)
    # Two revisions served for the revised and the withdrawn advisory; one for the others.
    assert len(every) == len(latest) + 2
    pairs = [(o["id"], o["modified"]) for o in every]
    assert len(set(pairs)) == len(pairs)


# --- filters and the manifest --------------------------------------------------------------


def test_match_filters(taxii_node: TaxiiNode) -> None:
    with taxii_node.collection(READER) as collection:
        everything = pull(collection)
        reports = pull(collection, type="report")
        assert reports == [o for o in everything if o["type"] == "report"]
        some = [everything[0]["id"], reports[0]["id"], reports[-1]["id"]]
        assert [o["id"] for o in pull(collection, id=some)] == [
            o["id"] for o in everything if o["id"] in some
        ]
        fixed = pull(collection, type=["marking-definition", "extension-definition"])
        assert len(fixed) == 3
        assert pull(collection, spec_version="2.0") == []
        assert [o["id"] for o in pull(collection, spec_version="2.1")] == [
            o["id"] for o in everything
        ]
        assert pull(collection, id="report--00000000-0000-4000-8000-000000000000") == []


def test_the_manifest_lists_what_the_objects_are(taxii_node: TaxiiNode) -> None:
    with taxii_node.collection(UNVETTED) as collection:
        objects = pull(collection)
        pages = list(as_pages(collection.get_manifest, per_request=5))
    records = [record for page in pages for record in page.get("objects", [])]
    assert [r["id"] for r in records] == [o["id"] for o in objects]
    assert [r["version"] for r in records] == [o.get("modified", o["created"]) for o in objects]
    assert {r["media_type"] for r in records} == {"application/stix+json;version=2.1"}
    assert all(r["date_added"].endswith("Z") for r in records)


def test_added_after_and_the_date_added_headers(taxii_node: TaxiiNode) -> None:
    with taxii_node.http(READER) as client:
        manifest = get(client, f"{collection_path()}manifest/", limit=1000)["objects"]
        added = sorted({r["date_added"] for r in manifest})
        # The fixed objects, the demo's advisories, then each write of the fixture.
        assert len(added) > 3
        for moment in added:
            expected = [r["id"] for r in manifest if r["date_added"] > moment]
            response = client.get(
                f"{collection_path()}objects/", params={"added_after": moment, "limit": 1000}
            )
            assert response.status_code == 200, response.text
            objects = response.json().get("objects", [])
            assert [o["id"] for o in objects] == expected
            if objects:
                shown = [r for r in manifest if r["id"] in expected]
                assert response.headers["X-TAXII-Date-Added-First"] == shown[0]["date_added"]
                assert response.headers["X-TAXII-Date-Added-Last"] == shown[-1]["date_added"]
            else:
                assert "X-TAXII-Date-Added-First" not in response.headers


def test_next_continues_where_the_page_ended(taxii_node: TaxiiNode) -> None:
    path = f"{collection_path()}objects/"
    with taxii_node.http(READER) as client:
        whole = get(client, path, limit=1000)
        assert whole["more"] is False
        assert "next" not in whole
        first = get(client, path, limit=3)
        rest = get(client, path, limit=1000, next=first["next"])
    assert first["more"] is True
    assert [o["id"] for o in first["objects"] + rest["objects"]] == [
        o["id"] for o in whole["objects"]
    ]


# --- refusals ------------------------------------------------------------------------------


def assert_taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    assert body["http_status"] == str(status)
    assert body["title"]
    assert body["description"]
    return body


def test_a_bad_token_is_401_never_anonymous(taxii_node: TaxiiNode) -> None:
    for credentials in ("Bearer trex_0000000000000000_nope", "Basic dXNlcjpwYXNzd29yZA=="):
        with taxii_node.http(Authorization=credentials) as client:
            for path in ("/taxii2/", "/taxii2/api/", f"{collection_path()}objects/"):
                response = client.get(path)
                assert_taxii_error(response, 401)
                assert response.headers["www-authenticate"].startswith("Bearer")


def test_writes_are_403_the_collections_are_read_only(taxii_node: TaxiiNode) -> None:
    envelope = {"objects": []}
    with taxii_node.http(ANALYST, **{"Content-Type": TAXII}) as client:
        response = client.post(f"{collection_path()}objects/", json=envelope)
        assert_taxii_error(response, 403)
        some_id = taxii_node.node.report_id(taxii_node.written["revised"])
        assert_taxii_error(client.delete(f"{collection_path()}objects/{some_id}/"), 403)
        assert_taxii_error(client.put(f"{collection_path()}objects/", json=envelope), 405)


def test_unknown_things_are_404(taxii_node: TaxiiNode) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    with taxii_node.http(READER) as client:
        for path in (
            collection_path(unknown),
            f"{collection_path(unknown)}objects/",
            f"{collection_path(unknown)}manifest/",
            f"{collection_path()}objects/report--{unknown}/",
            f"{collection_path()}objects/report--{unknown}/versions/",
            "/taxii2/api/status/whatever/",
            "/taxii2/nothing-here/",
        ):
            assert_taxii_error(client.get(path), 404)


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (TAXII, 200),
        ("application/taxii+json", 200),
        ("application/taxii+json; version=2.1, application/json;q=0.5", 200),
        ("*/*", 200),
        ("application/json", 406),
        ("application/taxii+json;version=2.0", 406),
        ("application/taxii+json;q=0", 406),
        ("text/html", 406),
    ],
)
def test_content_negotiation(taxii_node: TaxiiNode, accept: str, status: int) -> None:
    with taxii_node.http(READER, Accept=accept) as client:
        response = client.get(f"{collection_path()}objects/", params={"limit": 1})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"added_after": "yesterday"}, "added_after"),
        ({"next": "not-a-token"}, "next"),
        ({"match[version]": "latest"}, "match[version]"),
        ({"match[id]": "a,,b"}, "match[id]"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    taxii_node: TaxiiNode, params: dict[str, str], field: str
) -> None:
    with taxii_node.http(READER) as client:
        response = client.get(f"{collection_path()}objects/", params=params)
    body = assert_taxii_error(response, 400)
    assert field in [error["field"] for error in body["details"]["errors"]]


def test_the_extension_schema_is_served(taxii_node: TaxiiNode) -> None:
    with taxii_node.http() as client:
        definition = get(
            client,
            f"{collection_path()}objects/{taxii_node.node.extension_id}/",
        )["objects"][0]
        response = httpx.get(definition["schema"], timeout=10.0)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert response.json()["title"].startswith("trex advisory")
