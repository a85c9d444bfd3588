"""The deployment files in deploy/, checked with what runs here (no container engine does):
the compose topology, the image, the service units, the proxy's routes, and every ``trex-node``
command line the files and the runbook give an operator.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from service.cli import main
from tests.node_process import TREX_NODE, node_environment, run_node_command

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NODES = ("us", "uk", "ca")
OPT_TREX_NODE = "/opt/trex/bin/trex-node"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY$", re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
REQUIRED_HARDENING = {
    "User": "trex",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/trex",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


# --------------------------------------------------------------------------- helpers


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default (what a fresh checkout gets)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> values (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{name}: {line!r} outside a section"
        assert "=" in line, f"{name}: {line!r} is not key=value"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _caddy_sites() -> dict[str, list[str]]:
    """Each site address of deploy/Caddyfile with the lines of its block (snippets expanded)."""
    lines = [
        line.strip()
        for line in (DEPLOY / "Caddyfile").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    blocks: list[tuple[str, list[str]]] = []
    depth = 0
    # Placeholders such as {$US_HOST:…} open and close on one line: counting braces is enough.
    for line in lines:
        if depth == 0 and line.endswith("{"):
            blocks.append((line[:-1].strip(), []))
        elif depth > 0:
            blocks[-1][1].append(line)
        depth += line.count("{") - line.count("}")
    assert depth == 0, "unbalanced braces in the Caddyfile"
    snippets = {name[1:-1]: body for name, body in blocks if name.startswith("(")}
    sites: dict[str, list[str]] = {}
    for address, body in blocks:
        if not address or address.startswith("("):
            continue  # the global options block and the snippets
        host = re.sub(r"\{\$[A-Z_]+:([^}]*)\}", r"\1", address)
        expanded = []
        for line in body:
            parts = line.split()
            if parts[0] == "import":
                expanded += snippets[parts[1]]
            else:
                expanded.append(line)
        sites[host] = expanded
    return sites


def _check_command(args: list[str]) -> str:
    """Parse ``trex-node ARGS`` exactly as the CLI would, without running it; the command path."""
    command: click.Command = main
    path = ["trex-node"]
    while isinstance(command, click.Group):
        assert args, f"{' '.join(path)} needs a subcommand"
        name, *args = args
        assert name in command.commands, f"{' '.join(path)} has no command {name!r}"
        command = command.commands[name]
        path.append(name)
    try:
        command.make_context(" ".join(path), list(args))
    except click.ClickException as error:
        raise AssertionError(
            f"{' '.join(path)} {shlex.join(args)}: {error.format_message()}"
        ) from None
    return " ".join(path[1:])


def _readme_command_lines() -> Iterator[str]:
    """Every ``trex-node`` invocation in deploy/README.md: in shell blocks and in code spans."""
    text = (DEPLOY / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    candidates = [line for block in blocks for line in block.splitlines()]
    candidates += re.findall(
        r"`([^`\n]*trex-node [^`\n]*)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    )
    for candidate in candidates:
        # At the start of a command: alone, by its path, or run in a node's container.
        starts = r"(?:^\s*|/bin/|\bexec (?:-T )?[\w-]+ )"
        for match in re.finditer(starts + r"trex-node ([^|;&><#]*)", candidate):
            # An ellipsis stands for arguments the prose describes: not a command to check.
            if "…" not in match[1]:
                yield match[1].strip()


# --------------------------------------------------------------------------- compose


def test_compose_runs_three_nodes_each_with_its_own_database_init_web_and_sync() -> None:
    services = _services()
    assert set(services) == {
        f"{n}-{role}" for n in NODES for role in ("db", "init", "web", "sync")
    } | {"proxy"}
    data_volumes = set()
    for node in NODES:
        db, init, web, sync = (services[f"{node}-{role}"] for role in ("db", "init", "web", "sync"))
        assert re.fullmatch(r"postgres:15\.\d+(-\w+)?", db["image"])
        assert "pg_isready" in " ".join(db["healthcheck"]["test"])
        assert db["volumes"] == [f"{node}-pg:/var/lib/postgresql/data"]
        # The database's network is internal and only this node's services are on it.
        assert _compose()["networks"][node]["internal"] is True
        on_network = {name for name, s in services.items() if node in s.get("networks", [])}
        assert on_network == {f"{node}-{role}" for role in ("db", "init", "web", "sync")}

        assert init["command"][:3] == ["init", "--node-id", node]
        assert init["restart"] == "no"
        assert init["depends_on"] == {f"{node}-db": {"condition": "service_healthy"}}
        for service in (web, sync):
            assert service["depends_on"][f"{node}-init"] == {
                "condition": "service_completed_successfully"
            }
            assert service["env_file"] == init["env_file"] == f"env/{node}.env"
            assert service["volumes"] == init["volumes"] == [f"{node}-data:/var/lib/trex"]
        data_volumes.add(web["volumes"][0])

        assert web["command"][0] == "serve"
        assert web["environment"]["TREX_SYNC_INTERVAL_SECONDS"] == "0"
        assert "/readyz" in " ".join(web["healthcheck"]["test"])
        assert sync["command"][:2] == ["sync", "--interval"]
        assert "--once" not in sync["command"]
        assert sync["healthcheck"] == {"disable": True}
        public_urls = {s["environment"]["TREX_PUBLIC_URL"] for s in (init, web, sync)}
        assert len(public_urls) == 1

        # Each node's database URL names its own database service, with its own password.
        node_env = _env_file(DEPLOY / "env" / f"{node}.env.example")
        db_env = _env_file(DEPLOY / "env" / f"{node}-db.env.example")
        assert db["env_file"] == f"env/{node}-db.env"
        assert node_env["TREX_DATABASE_URL"] == (
            f"postgresql+psycopg://{db_env['POSTGRES_USER']}:{db_env['POSTGRES_PASSWORD']}"
            f"@{node}-db:5432/{db_env['POSTGRES_DB']}"
        )
    assert len(data_volumes) == len(NODES)


def test_compose_puts_a_tls_proxy_in_front_and_lets_the_nodes_reach_each_other_through_it() -> None:
    services = _services()
    proxy = services["proxy"]
    assert re.fullmatch(r"caddy:2\.\d+\.\d+(-\w+)?", proxy["image"])
    assert "443:443" in proxy["ports"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["depends_on"] == {f"{n}-web": {"condition": "service_started"} for n in NODES}
    assert proxy["healthcheck"]["test"]
    aliases = {_interpolate(a) for a in proxy["networks"]["edge"]["aliases"]}
    for node in NODES:
        host = _interpolate(services[f"{node}-web"]["environment"]["TREX_PUBLIC_URL"])
        assert host.startswith("https://")
        assert host.removeprefix("https://") in aliases
        # Only the proxy is published: the nodes and their databases are not.
        for role in ("db", "init", "web", "sync"):
            assert "ports" not in services[f"{node}-{role}"]


def test_compose_holds_no_secret_and_every_env_file_has_an_uncommitted_template() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert not CREDENTIALS_IN_URL.search(text)
    for name, service in _services().items():
        for key, value in (service.get("environment") or {}).items():
            assert not SECRET_NAME.search(key), f"{name} sets {key} inline"
            assert not CREDENTIALS_IN_URL.search(str(value)), f"{name}: {key}"
        if "env_file" in service:
            env_file = DEPLOY / service["env_file"]
            assert Path(f"{env_file}.example").is_file(), f"no template for {env_file}"
    ignored = (DEPLOY / ".gitignore").read_text().splitlines()
    assert "env/*.env" in ignored


def test_node_services_run_unprivileged_on_a_read_only_root() -> None:
    for node in NODES:
        for role in ("init", "web", "sync"):
            service = _services()[f"{node}-{role}"]
            assert service["read_only"] is True
            assert service["cap_drop"] == ["ALL"]
            assert "no-new-privileges:true" in service["security_opt"]
            assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}


# --------------------------------------------------------------------------- the image


def test_the_image_is_multi_stage_pinned_non_root_with_a_health_check() -> None:
    instructions = _dockerfile_instructions()
    args = dict(a.partition("=")[::2] for k, a in instructions if k == "ARG")
    assert re.fullmatch(
        r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"]
    )
    stages = [a for k, a in instructions if k == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    runtime = instructions[last_from:]
    assert "ADD" not in [k for k, _ in instructions]

    users = [a for k, a in runtime if k == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthcheck = " ".join(a for k, a in runtime if k == "HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert "urllib" in healthcheck
    assert "curl" not in healthcheck
    assert [a for k, a in runtime if k == "ENTRYPOINT"] == ['["trex-node"]']
    cmd = next(a for k, a in runtime if k == "CMD")
    assert cmd.startswith('["serve"')
    assert [a for k, a in runtime if k == "VOLUME"] == ['["/var/lib/trex"]']
    env = " ".join(a for k, a in runtime if k == "ENV")
    assert "TREX_DATA_DIR=/var/lib/trex" in env
    # The runtime stage takes only the built environment, never the source tree.
    assert [a for k, a in runtime if k == "COPY"] == ["--from=builder /opt/trex /opt/trex"]


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    copied = set()
    for keyword, arguments in _dockerfile_instructions():
        if keyword == "COPY" and not arguments.startswith("--from"):
            copied.update(arguments.split()[:-1])
    assert copied == {"pyproject.toml", "README.md", "service", "federation", "migrations"}
    for source in copied:
        assert (ROOT / source).exists()
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and line[0] != "#"
    ]
    # Everything is excluded, then exactly the copied sources are let back in.
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == copied


# --------------------------------------------------------------------------- systemd


@pytest.mark.parametrize("name", ["trex-node.service", "trex-sync.service"])
def test_the_service_units_are_hardened(name: str) -> None:
    unit = _unit(name)
    assert set(unit) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    for key, value in REQUIRED_HARDENING.items():
        assert service.get(key) == [value], f"{name}: {key}"
    assert "@system-service" in service["SystemCallFilter"]
    assert service["EnvironmentFile"] == ["/etc/trex/trex.env"]
    assert "TREX_DATA_DIR=/var/lib/trex" in service["Environment"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("name", ["trex-node.service", "trex-sync.service"])
def test_systemd_accepts_every_line_of_the_units(name: str, tmp_path: Path) -> None:
    # The installed command stands in for /opt/trex/bin/trex-node, which verify wants to exist.
    unit = tmp_path / name
    unit.write_text((DEPLOY / "systemd" / name).read_text().replace(OPT_TREX_NODE, str(TREX_NODE)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    complaints = [line for line in result.stderr.splitlines() if name in line]
    assert result.returncode == 0, result.stderr
    assert complaints == []


def test_the_web_unit_leaves_syncing_to_the_sync_unit() -> None:
    web = _unit("trex-node.service")["Service"]
    sync = _unit("trex-sync.service")["Service"]
    assert "TREX_SYNC_INTERVAL_SECONDS=0" in web["Environment"]
    assert shlex.split(web["ExecStart"][0])[1:4] == ["serve", "--host", "127.0.0.1"]
    assert shlex.split(sync["ExecStart"][0])[1:3] == ["sync", "--interval"]
    assert sync["Restart"] == ["always"]


# --------------------------------------------------------------------------- the proxy


def test_the_proxy_routes_each_node_by_host_name_to_its_own_web_service() -> None:
    sites = _caddy_sites()
    services = _services()
    expected = {
        _interpolate(services[f"{n}-web"]["environment"]["TREX_PUBLIC_URL"]).removeprefix(
            "https://"
        ): n
        for n in NODES
    }
    assert set(sites) == set(expected)
    for host, node in expected.items():
        proxied = [line.split()[1] for line in sites[host] if line.startswith("reverse_proxy")]
        assert proxied == [f"{node}-web:8000"]
        assert "--port" in services[f"{node}-web"]["command"]
        assert (
            services[f"{node}-web"]["command"][
                services[f"{node}-web"]["command"].index("--port") + 1
            ]
            == "8000"
        )
        # Only to a ready node, and never its metrics.
        assert "health_uri /readyz" in sites[host]
        assert "respond /metrics 404" in sites[host]


@pytest.mark.skipif(shutil.which("caddy") is None, reason="no caddy here")
def test_caddy_adapts_the_caddyfile_to_the_same_routes() -> None:
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.endswith("_HOST")},
    )
    assert result.returncode == 0, result.stderr
    routes = json.loads(result.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    upstreams = {}
    for route in routes:
        (host,) = route["match"][0]["host"]
        handlers = [h for r in route["handle"][0]["routes"] for h in r["handle"]]
        (proxy,) = [h for h in handlers if h["handler"] == "reverse_proxy"]
        assert proxy["health_checks"]["active"]["uri"] == "/readyz"
        upstreams[host] = [u["dial"] for u in proxy["upstreams"]]
    assert upstreams == {f"{n}.trex.example": [f"{n}-web:8000"] for n in NODES}


# --------------------------------------------------------------------------- commands


def test_every_trex_node_command_in_the_runbook_compose_and_units_is_valid() -> None:
    lines = list(_readme_command_lines())
    commands = [shlex.split(line) for line in lines]
    for service in _services().values():
        if service.get("image", "").startswith("trex-node"):
            commands.append(service["command"])
    for name in ("trex-node.service", "trex-sync.service"):
        commands.append(shlex.split(_unit(name)["Service"]["ExecStart"][0])[1:])

    paths = {_check_command(command) for command in commands}

    # The runbook covers every step an operator needs, with the real commands.
    assert {
        "init",
        "migrate",
        "serve",
        "sync",
        "keys show",
        "keys rotate",
        "peers add",
        "peers remove",
        "peers list",
        "groups add",
        "orgs add",
        "users add",
        "tokens create",
        "audit verify",
    } <= paths
    assert any("--only-this-key" in command for command in commands)
    readme = (DEPLOY / "README.md").read_text()
    for needed in ("pg_dump", "pg_restore", "node-keys.json", "fingerprint"):
        assert needed in readme


def test_a_command_the_cli_does_not_know_is_caught() -> None:
    # The checker itself: a wrong option or subcommand fails, as it would for an operator.
    with pytest.raises(AssertionError, match="No such option"):
        _check_command(["peers", "add", "uk", "--public-key", "k", "--only-this"])
    with pytest.raises(AssertionError, match="no command 'revoke'"):
        _check_command(["peers", "revoke", "uk"])
    with pytest.raises(AssertionError, match="Missing option"):
        _check_command(["peers", "add", "uk"])


def test_the_init_job_is_safe_to_run_on_every_start(tmp_path: Path) -> None:
    """compose runs ``us-init`` on every ``up``: again on the same data directory it keeps the
    node's key and only migrates."""
    command = _services()["us-init"]["command"]
    env = node_environment(tmp_path / "data")
    first = run_node_command(command, env)
    key_before = run_node_command(["keys", "show"], env).stdout
    again = run_node_command(command, env)
    assert run_node_command(["keys", "show"], env).stdout == key_before
    assert "Node 'us' ready" in first.stdout
    assert "Node 'us' ready" in again.stdout
    # Another id on the same data directory is refused: a node's id never changes.
    other = run_node_command(
        ["init", "--node-id", "uk", "--name", "x", "--country", "GB"], env, check=False
    )
    assert other.returncode != 0
    assert "never changes" in other.stderr
