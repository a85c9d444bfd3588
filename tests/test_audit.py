"""The audit log end to end, on both backends: what the API and the operator's commands
record (and what they must not), and ``trex-node audit verify`` on a clean and a tampered log.

Writes and reads of restricted advisories go through the HTTP API and must leave an entry; a
read of clear or green academia advisories leaves none. ``tests/audit/`` checks the chain itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.db import make_engine, make_session_factory
from tests.audit.chain import TAMPERING, Entry, append_entries, entries, tamper, verified
from tests.factories import Members, advisory_payload, post_advisory
from tests.node_process import node_environment, run_node_command

ANALYST = "analyst@example.edu"  # University of Example: vetted university
READER = "reader@example.edu"
POLY_READER = "reader@poly.example"  # Example Polytechnic: not vetted
GOV_PUBLISHER = "publisher@gov.example"  # Office of Research Security: vetted government


def actions(factory: sessionmaker[Session]) -> list[str]:
    return [entry.action for entry in entries(factory)]


# --- what is recorded ---------------------------------------------------------------------


def test_writes_are_recorded_by_whom_and_on_what(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    headers = members.auth(ANALYST)
    created = post_advisory(client, headers, tlp="green")
    path = f"/v1/advisories/{created['id']}"
    changed = client.patch(
        path, json={"base_revision": 1, "risk": "high", "summary": "Revised."}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    withdrawn = client.post(
        f"{path}/withdraw", json={"base_revision": 2, "reason": "Merged."}, headers=headers
    )
    assert withdrawn.status_code == 200, withdrawn.text

    org_id = members.org_ids["University of Example"]
    common = {"status": "published", "tier": "academia", "tlp": "green"}
    assert entries(session_factory) == [
        Entry(1, ANALYST, org_id, "advisory.create", created["id"], {"revision": 1, **common}),
        Entry(
            2,
            ANALYST,
            org_id,
            "advisory.update",
            created["id"],
            {"revision": 2, **common, "changed": ["risk", "summary"]},
        ),
        Entry(
            3,
            ANALYST,
            org_id,
            "advisory.withdraw",
            created["id"],
            {"revision": 3, **common, "status": "withdrawn"},
        ),
    ]
    assert verified(session_factory).count == 3


def test_a_refused_write_records_nothing(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    created = post_advisory(client, members.auth(ANALYST))
    stale = client.patch(
        f"/v1/advisories/{created['id']}",
        json={"base_revision": 7, "summary": "From a stale copy."},
        headers=members.auth(ANALYST),
    )
    assert stale.status_code == 409
    refused = client.post(
        "/v1/advisories", json=advisory_payload(tier="government"), headers=members.auth(ANALYST)
    )
    assert refused.status_code == 403

    assert actions(session_factory) == ["advisory.create"]
    assert verified(session_factory).count == 1


def _read_everything(client: TestClient, headers: dict[str, str], advisory_id: str) -> None:
    for path in (f"/v1/advisories/{advisory_id}", f"/v1/advisories/{advisory_id}/revisions"):
        assert client.get(path, headers=headers).status_code == 200, path
    assert client.get("/v1/advisories", headers=headers).status_code == 200


def test_reading_clear_and_green_academia_advisories_records_nothing(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    clear = post_advisory(client, members.auth(ANALYST), tlp="clear")
    green = post_advisory(client, members.auth(ANALYST), tlp="green")

    _read_everything(client, members.auth(READER), green["id"])
    _read_everything(client, members.auth(POLY_READER), clear["id"])
    _read_everything(client, {}, clear["id"])

    assert actions(session_factory) == ["advisory.create", "advisory.create"]


def test_reads_of_amber_and_government_advisories_are_recorded(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    green = post_advisory(client, members.auth(ANALYST), tlp="green")
    amber = post_advisory(client, members.auth(ANALYST), tlp="amber")
    government = post_advisory(client, members.auth(GOV_PUBLISHER), tier="government", tlp="green")
    red = post_advisory(
        client,
        members.auth(ANALYST),
        tlp="red",
        audience=[members.org_ids["Office of Research Security"]],
    )
    writes = len(entries(session_factory))
    headers = members.auth(READER)

    assert client.get(f"/v1/advisories/{amber['id']}", headers=headers).status_code == 200
    history = client.get(f"/v1/advisories/{government['id']}/revisions", headers=headers)
    assert history.status_code == 200
    page = client.get("/v1/advisories", headers=headers)
    assert page.status_code == 200
    assert {item["id"] for item in page.json()["items"]} == {
        green["id"],
        amber["id"],
        government["id"],
        red["id"],
    }

    reader_org = members.org_ids["University of Example"]
    assert entries(session_factory)[writes:] == [
        Entry(writes + 1, READER, reader_org, "advisory.read", amber["id"], {"revision": 1}),
        Entry(
            writes + 2, READER, reader_org, "advisory.history", government["id"], {"revisions": [1]}
        ),
        # One entry for the page, naming the restricted advisories on it, newest first.
        Entry(
            writes + 3,
            READER,
            reader_org,
            "advisory.list",
            None,
            {"ids": [red["id"], government["id"], amber["id"]]},
        ),
    ]
    assert verified(session_factory).count == writes + 3


def test_a_list_page_without_restricted_advisories_records_nothing(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    post_advisory(client, members.auth(ANALYST), tlp="amber")
    green = post_advisory(client, members.auth(ANALYST), tlp="green")

    page = client.get("/v1/advisories", params={"limit": 1}, headers=members.auth(READER))
    assert [item["id"] for item in page.json()["items"]] == [green["id"]]
    assert actions(session_factory) == ["advisory.create", "advisory.create"]

    # The next page holds the amber one: that page is recorded.
    client.get(
        "/v1/advisories",
        params={"limit": 1, "cursor": page.json()["next_cursor"]},
        headers=members.auth(READER),
    )
    assert actions(session_factory)[-1] == "advisory.list"


def test_a_refused_read_records_nothing(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    amber = post_advisory(client, members.auth(ANALYST), tlp="amber")
    for path in (f"/v1/advisories/{amber['id']}", f"/v1/advisories/{amber['id']}/revisions"):
        assert client.get(path, headers=members.auth(POLY_READER)).status_code == 404
        assert client.get(path).status_code == 404
    assert client.get("/v1/advisories", headers=members.auth(POLY_READER)).json()["items"] == []
    assert actions(session_factory) == ["advisory.create"]


def test_history_names_only_the_restricted_revisions_shown(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    amber = post_advisory(client, members.auth(ANALYST), tlp="amber")
    path = f"/v1/advisories/{amber['id']}"
    relaxed = client.patch(
        path, json={"base_revision": 1, "tlp": "green"}, headers=members.auth(ANALYST)
    )
    assert relaxed.status_code == 200, relaxed.text
    writes = len(entries(session_factory))

    # An unvetted reader sees only the green revision: nothing restricted was shown.
    unvetted = client.get(f"{path}/revisions", headers=members.auth(POLY_READER))
    assert [item["revision"] for item in unvetted.json()["items"]] == [2]
    assert client.get(path, headers=members.auth(READER)).status_code == 200
    assert len(entries(session_factory)) == writes

    vetted = client.get(f"{path}/revisions", headers=members.auth(READER))
    assert [item["revision"] for item in vetted.json()["items"]] == [1, 2]
    last = entries(session_factory)[-1]
    assert (last.action, last.target, last.detail) == (
        "advisory.history",
        amber["id"],
        {"revisions": [1]},
    )


def test_an_anonymous_read_of_a_clear_government_advisory_is_recorded(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    advisory = post_advisory(client, members.auth(GOV_PUBLISHER), tier="government", tlp="clear")
    assert client.get(f"/v1/advisories/{advisory['id']}").status_code == 200
    last = entries(session_factory)[-1]
    assert (last.actor, last.actor_org_id, last.action) == ("anonymous", None, "advisory.read")


def test_the_search_text_of_a_list_is_never_recorded(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    engine: Engine,
) -> None:
    marker = "Zyxwvut Secret Lab"
    amber = post_advisory(
        client,
        members.auth(ANALYST),
        tlp="amber",
        subject={"name": marker, "country": "CN", "kind": "lab"},
    )
    found = client.get(
        "/v1/advisories", params={"q": "zyxwvut", "country": "CN"}, headers=members.auth(READER)
    )
    assert [item["id"] for item in found.json()["items"]] == [amber["id"]]

    last = entries(session_factory)[-1]
    assert (last.action, last.detail) == ("advisory.list", {"ids": [amber["id"]]})
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_log")).all()
    for row in rows:
        assert "zyxwvut" not in repr(tuple(row)).casefold()


# --- trex-node audit verify, and operator commands ---------------------------------------------


def test_trex_node_audit_verify_passes_then_names_the_broken_entry(
    session_factory: sessionmaker[Session], engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The installed command, on the test's database, for a clean log and a tampered one."""
    append_entries(session_factory, 5)
    env = node_environment(tmp_path / "node", TREX_DATABASE_URL=database_url)

    clean = run_node_command(["audit", "verify"], env)
    assert clean.stdout.startswith("OK: 5 audit entries verified"), clean.stdout
    assert verified(session_factory).head_hash in clean.stdout

    tamper(engine, TAMPERING["detail changed"][0])
    broken = run_node_command(["audit", "verify"], env, check=False)
    assert broken.returncode != 0
    assert "Traceback" not in broken.stderr, broken.stderr
    assert "broken at entry 3: hash mismatch" in broken.stderr, broken.stderr


@pytest.mark.parametrize("tampering", ["middle row deleted", "detail changed and rehashed"])
def test_trex_node_audit_verify_names_gaps_and_broken_links(
    session_factory: sessionmaker[Session],
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    tampering: str,
) -> None:
    append_entries(session_factory, 5)
    statements, seq, reason = TAMPERING[tampering]
    tamper(engine, statements)

    env = node_environment(tmp_path / "node", TREX_DATABASE_URL=database_url)
    result = run_node_command(["audit", "verify"], env, check=False)

    assert result.returncode != 0
    assert f"broken at entry {seq}: {reason}" in result.stderr, result.stderr


def test_operator_commands_are_recorded_as_cli_and_never_hold_the_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "node-data"
    env = node_environment(data_dir)
    run_node_command(["init", "--node-id", "ca", "--name", "CA node", "--country", "CA"], env)
    run_node_command(["orgs", "add", "Uni", "--kind", "university"], env)
    run_node_command(["users", "add", "a@uni.example", "--org", "Uni", "--role", "analyst"], env)
    token = run_node_command(["tokens", "create", "a@uni.example"], env).stdout.strip()
    run_node_command(["orgs", "add", "Uni", "--kind", "university"], env, check=False)

    verify = run_node_command(["audit", "verify"], env)
    assert verify.stdout.startswith("OK: 3 audit entries verified"), verify.stdout

    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    try:
        recorded = entries(make_session_factory(engine))
    finally:
        engine.dispose()
    assert [(e.actor, e.actor_org_id, e.action) for e in recorded] == [
        ("cli", None, "admin.org.add"),
        ("cli", None, "admin.user.add"),
        ("cli", None, "admin.token.create"),
    ]
    assert recorded[0].detail == {"name": "Uni", "kind": "university", "vetted_until": None}
    assert recorded[1].detail["email"] == "a@uni.example"
    assert recorded[2].target == recorded[1].target, "the token's user"
    secret = token.removeprefix("trex_").partition("_")[2]
    assert len(secret) >= 32
    assert all(secret not in repr(entry) for entry in recorded)
