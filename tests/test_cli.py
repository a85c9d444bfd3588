"""``trex-node``, the installed command, run as a subprocess against a temporary data directory."""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.access.models import Org, User
from service.access.tokens import TOKEN_PREFIX
from service.advisories.models import Advisory
from service.app import create_app
from service.db import make_engine, make_session_factory
from service.demo import DEMO_USERS, demo_advisories
from service.migrate import current_revision, head_revision
from service.settings import NODE_CONFIG_FILE, Settings
from tests.node_process import demo_tokens, node_environment, run_node_command


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Not created yet: the commands create it."""
    return tmp_path / "node-data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return node_environment(data_dir)


def _refused(args: list[str], env: dict[str, str]) -> str:
    """Run a command that must fail cleanly: non-zero exit, a message, no traceback."""
    result = run_node_command(args, env, check=False)
    assert result.returncode != 0, f"trex-node {' '.join(args)} should fail:\n{result.stdout}"
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error" in result.stderr
    return result.stderr


def _head_of(data_dir: Path) -> str | None:
    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _secret(token: str) -> str:
    """The part of ``trex_<id>_<secret>`` that must never be stored."""
    assert token.startswith(TOKEN_PREFIX)
    token_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
    assert token_id
    assert len(secret) >= 32
    return secret


def _assert_not_stored(data_dir: Path, tokens: list[str]) -> None:
    """No token, nor its secret, appears in any file of the data directory (WAL included)."""
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert data_dir / "node.db" in files
    for path in files:
        content = path.read_bytes()
        for token in tokens:
            assert _secret(token).encode() not in content, f"a token secret is stored in {path}"


def test_init_creates_a_migrated_node_and_refuses_another_id(
    data_dir: Path, env: dict[str, str]
) -> None:
    result = run_node_command(
        ["init", "--node-id", "ca", "--name", "Canadian research security node", "--country", "CA"],
        env,
    )
    assert "ca" in result.stdout
    assert data_dir.is_dir()
    assert (data_dir.stat().st_mode & 0o777) == 0o700, "the data dir holds keys: owner only"
    config_path = data_dir / NODE_CONFIG_FILE
    config = tomllib.loads(config_path.read_text("utf-8"))
    assert config["node_id"] == "ca"
    assert config["node_name"] == "Canadian research security node"
    assert config["node_country"] == "CA"
    assert _head_of(data_dir) == head_revision()
    written = config_path.read_bytes()

    message = _refused(
        ["init", "--node-id", "uk", "--name", "Another node", "--country", "GB"], env
    )
    assert "'ca'" in message
    assert config_path.read_bytes() == written, "a refused init must not touch the config"

    migrated = run_node_command(["migrate"], env)
    assert "newest migration" in migrated.stdout
    assert _head_of(data_dir) == head_revision()

    # The node's own settings come from the data directory the command wrote.
    settings = Settings(data_dir=data_dir)
    assert (settings.node_id, settings.node_country) == ("ca", "CA")


def test_init_refuses_a_bad_node_id_cleanly(data_dir: Path, env: dict[str, str]) -> None:
    message = _refused(["init", "--node-id", "Not An Id", "--name", "x", "--country", "CA"], env)
    assert "node_id" in message
    assert not (data_dir / NODE_CONFIG_FILE).exists()


def test_init_keeps_any_node_name_readable(data_dir: Path, env: dict[str, str]) -> None:
    """The config is TOML: a name with quotes, backslashes or a newline must round-trip."""
    name = 'Nœud "Québec" \\ C:\\trex\nsecond line\ttab'
    run_node_command(["init", "--node-id", "qc", "--name", name, "--country", "ca"], env)
    config = tomllib.loads((data_dir / NODE_CONFIG_FILE).read_text("utf-8"))
    assert config == {"node_id": "qc", "node_name": name, "node_country": "CA"}
    # The node's settings load from that config (a broken file would stop every command).
    assert Settings(data_dir=data_dir).node_name == name


def test_members_and_a_token_that_works(data_dir: Path, env: dict[str, str]) -> None:
    run_node_command(["init", "--node-id", "ca", "--name", "CA node", "--country", "CA"], env)
    added = run_node_command(
        [
            "orgs",
            "add",
            "University of Toronto",
            "--kind",
            "university",
            "--vetted-until",
            "2099-01-01",
        ],
        env,
    )
    assert "University of Toronto" in added.stdout
    run_node_command(
        [
            "users",
            "add",
            "Analyst@UToronto.example",
            "--org",
            "University of Toronto",
            "--role",
            "analyst",
        ],
        env,
    )

    refusals = {
        "bad kind": ["orgs", "add", "Some Church", "--kind", "church"],
        "unknown org": ["users", "add", "x@no.example", "--org", "Nowhere", "--role", "reader"],
        "publisher outside government": [
            "users", "add", "p@utoronto.example",
            "--org", "University of Toronto", "--role", "publisher",
        ],
    }  # fmt: skip
    # Independent refusals: run them side by side to keep the suite quick.
    with ThreadPoolExecutor(max_workers=len(refusals)) as pool:
        outcomes = pool.map(lambda args: _refused(args, env), refusals.values())
        messages = dict(zip(refusals, outcomes, strict=True))
    assert "--kind" in messages["bad kind"]
    assert "university" in messages["bad kind"]
    assert "No org named 'Nowhere'" in messages["unknown org"]
    assert "publishers belong to government orgs" in messages["publisher outside government"]

    created = run_node_command(["tokens", "create", "analyst@utoronto.example"], env)
    assert len(created.stdout.splitlines()) == 1, "the token, and only the token, is printed"
    token = created.stdout.strip()
    assert token.startswith(TOKEN_PREFIX)

    with TestClient(create_app(Settings(data_dir=data_dir))) as client:
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "analyst@utoronto.example"
    assert me.json()["role"] == "analyst"
    assert me.json()["org"]["name"] == "University of Toronto"
    assert me.json()["vetted"] is True
    # Nothing of the refused commands was stored.
    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    try:
        with make_session_factory(engine)() as session:
            orgs = session.scalars(select(Org.name)).all()
            users = session.scalars(select(User.email)).all()
    finally:
        engine.dispose()
    assert orgs == ["University of Toronto"]
    assert users == ["analyst@utoronto.example"]
    _assert_not_stored(data_dir, [token])


def test_demo_twice_reuses_the_node(data_dir: Path, env: dict[str, str]) -> None:
    first_run = run_node_command(["demo"], env)
    second_run = run_node_command(["demo"], env)
    first, second = demo_tokens(first_run.stdout), demo_tokens(second_run.stdout)
    emails = {user.email for user in DEMO_USERS}
    assert set(first) == set(second) == emails
    assert len(emails) == 5
    assert "Loaded 25 demo advisories" in first_run.stdout
    assert "Reusing the demo node" in second_run.stdout
    assert not set(first.values()) & set(second.values()), "each run issues fresh tokens"

    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    try:
        with make_session_factory(engine)() as session:
            count = session.scalar(select(func.count()).select_from(Advisory))
    finally:
        engine.dispose()
    assert count == len(demo_advisories()) == 25

    with TestClient(create_app(Settings(data_dir=data_dir))) as client:
        for tokens in (first, second):
            for email, token in tokens.items():
                me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 200, me.text
                assert me.json()["email"] == email
    _assert_not_stored(data_dir, [*first.values(), *second.values()])
