"""No token, key or password ever reaches a served node's log, whatever the requests do.

A real ``trex-node serve`` process (and a ``trex-node sync`` pulling from it) writes JSON log
lines while it is signed in to with good and bad tokens, creates a token (shown once, in the
response), pins a peer, is pulled from by that peer, and screens; then every secret the node
knows is looked for in every line.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from federation.keys import KEY_RING_FILE, b64url_decode
from tests.federation.cluster import ANALYST, OPERATOR, Cluster
from tests.node_process import NODE_BACKENDS

DB_PASSWORD = "pw-" + secrets.token_urlsafe(12)


def _log_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        entry = json.loads(line)  # every line the server writes is one JSON object
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


def _key_material(data_dir_file: str) -> list[str]:
    """Every private seed of the key ring, as stored and as base64, base64url and hex."""
    forms = []
    for entry in json.loads(data_dir_file)["keys"]:
        seed = entry["private_seed"]
        raw = b64url_decode(seed, length=32)
        forms += [
            seed,
            raw.hex(),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        ]
    return forms


@pytest.mark.parametrize("backend", NODE_BACKENDS)
def test_no_secret_reaches_a_log_line(nodes: Cluster, backend: str) -> None:
    uk = nodes.add("uk")
    ca = nodes.add("ca", backend=backend, serve=False)
    secrets_known: list[str] = []
    if backend == "postgresql":
        # The test server trusts loopback, so a password is accepted (and must never show).
        url = make_url(ca.env["TREX_DATABASE_URL"]).set(password=DB_PASSWORD)
        ca.env["TREX_DATABASE_URL"] = url.render_as_string(hide_password=False)
        secrets_known.append(DB_PASSWORD)
    ca.start()
    try:
        operator = ca.tokens[OPERATOR.format(node="ca")]
        secrets_known += list(ca.tokens.values())
        bad_token = f"trex_{'0' * 32}_{secrets.token_urlsafe(32)}"
        garbage = "not-a-token-" + secrets.token_urlsafe(16)
        secrets_known += [bad_token, garbage]

        with ca.client(OPERATOR.format(node="ca")) as client:
            assert client.get("/v1/me").status_code == 200
            response = client.get("/v1/me", headers={"X-Request-ID": "trace-me-1"})
            assert response.headers["X-Request-ID"] == "trace-me-1"
            # A token, created through the admin API, is in the response only.
            users = client.get("/v1/admin/users").json()
            analyst = next(u for u in users if u["email"] == ANALYST.format(node="ca"))
            created = client.post("/v1/admin/tokens", json={"user_id": analyst["id"]})
            assert created.status_code == 201, created.text
            secrets_known.append(created.json()["token"])
            # Pin a peer with its key, over the API; it then pulls from this node.
            pinned = client.post(
                "/v1/admin/peers",
                json={"node_id": "uk", "url": uk.url, "public_key": uk.public_key},
            )
            assert pinned.status_code == 201, pinned.text
            assert client.get("/metrics").status_code == 200
        for header in (f"Bearer {bad_token}", f"Bearer {garbage}", f"Basic {garbage}", garbage):
            with ca.client() as client:
                refused = client.get("/v1/me", headers={"Authorization": header})
            assert refused.status_code == 401
        with ca.client() as client:
            assert (
                client.get("/metrics", headers={"Authorization": f"Bearer {bad_token}"}).status_code
                == 401
            )
            assert client.get("/v1/screen", params={"q": "Example University"}).status_code == 200

        uk.run("peers", "add", "ca", "--url", ca.url, "--public-key", ca.public_key)
        pulled = uk.sync()  # signed requests to ca's federation feed
        assert "ca:" in pulled.stdout
        secrets_known += _key_material((ca.data_dir / KEY_RING_FILE).read_text())
        secrets_known += _key_material((uk.data_dir / KEY_RING_FILE).read_text())
        assert ca.served is not None
        log = ca.served.output()
    finally:
        ca.stop()

    entries = _log_lines(log)
    requests = [e for e in entries if e["logger"] == "trex.request"]
    assert {e["route"] for e in requests} >= {
        "/v1/me",
        "/v1/admin/tokens",
        "/v1/admin/peers",
        "/v1/federation/feed",
        "/metrics",
    }
    assert any(e["request_id"] == "trace-me-1" and e["route"] == "/v1/me" for e in requests)
    assert all(e["request_id"] and e["duration_ms"] >= 0 for e in requests)
    # uvicorn's own access log is replaced by ours: no plain-text request lines.
    assert not [e for e in entries if e["logger"] == "uvicorn.access"]
    # The sync worker (trex-node sync) logs JSON lines too, on stderr.
    sync_entries = _log_lines(pulled.stderr)
    assert any(
        e["logger"] == "trex.sync" and e["message"].startswith("sync from ca:")
        for e in sync_entries
    ), pulled.stderr
    everything = log + pulled.stdout + pulled.stderr
    for secret in secrets_known:
        assert secret not in everything, "a secret reached the log"
    for header_value in (f"Bearer {operator}", f"Bearer {bad_token}"):
        assert header_value not in everything
