"""``trex-node``: the operator's command (SPEC section 8)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import uvicorn
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service import demo
from service.access.service import add_org, add_user, create_token, get_org_by_name
from service.db import make_engine, make_session_factory, transaction, utcnow
from service.errors import TrexError
from service.migrate import upgrade
from service.settings import NODE_CONFIG_FILE, Settings, read_node_config


def _settings(**values: Any) -> Settings:
    """The node's settings (``values`` over the environment); bad values end the command."""
    try:
        return Settings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise click.ClickException(f"Invalid settings: {problems}") from None


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[Session]:
    """One transaction on the node's database; domain errors become a clean command error."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    except TrexError as error:
        raise click.ClickException(error.detail) from None
    finally:
        engine.dispose()


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string: a name may hold quotes, backslashes or newlines."""
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif (char < " " and char != "\t") or char == "\x7f":
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _write_node_config(data_dir: Path, *, node_id: str, name: str, country: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    path = data_dir / NODE_CONFIG_FILE
    existing = read_node_config(data_dir)
    if existing and existing.get("node_id") != node_id:
        raise click.ClickException(
            f"{path} already belongs to node {existing.get('node_id')!r}; "
            "a node's id never changes."
        )
    path.write_text(
        f"node_id = {_toml_string(node_id)}\n"
        f"node_name = {_toml_string(name)}\n"
        f"node_country = {_toml_string(country)}\n",
        encoding="utf-8",
    )


@click.group()
def main() -> None:
    """Run a Trusted Research Exchange node."""


@main.command()
@click.option("--node-id", required=True, help="Short lowercase id, e.g. ca or uk.")
@click.option("--name", required=True, help="Human-readable name of the node.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code of the node's country.")
def init(node_id: str, name: str, country: str) -> None:
    """Create the data directory and its configuration, then migrate the database."""
    checked = _settings(node_id=node_id, node_name=name, node_country=country.upper())
    _write_node_config(checked.data_dir, node_id=node_id, name=name, country=checked.node_country)
    upgrade(checked.resolved_database_url)
    click.echo(f"Node {node_id!r} ready in {checked.data_dir.resolve()}")


@main.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    click.echo("Database at the newest migration.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API."""
    settings = _settings()
    if not settings.node_id:
        raise click.ClickException("This data directory has no node: run 'trex-node init' first.")
    uvicorn.run("service.asgi:app", host=host, port=port, workers=workers, log_level="info")


@main.command("demo")
def demo_command() -> None:
    """Build (or reuse) the demo node and print a fresh token for each demo user."""
    settings = _settings()
    if not settings.node_id:
        _write_node_config(settings.data_dir, node_id="demo", name="trex demo node", country="CA")
        os.environ.setdefault("TREX_NODE_ID", "demo")
        settings = Settings(node_id="demo")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    now = utcnow()
    with _unit_of_work(settings) as session:
        if demo.is_loaded(session):
            click.echo("Reusing the demo node in " + str(settings.data_dir.resolve()))
        else:
            count = demo.load_demo(session, node_id=settings.node_id, now=now)
            click.echo(f"Loaded {count} demo advisories into {settings.data_dir.resolve()}")
        tokens = demo.issue_demo_tokens(
            session, now=now, ttl=timedelta(days=settings.token_ttl_days)
        )
    click.echo("\nDemo tokens (each run issues new ones; use them as 'Authorization: Bearer …'):")
    for user, token in tokens:
        click.echo(f"  {user.email:<24} {user.role:<10} {user.org:<28} {token}")
    click.echo(
        f"\nTry: curl -H 'Authorization: Bearer {tokens[0][1]}' {settings.public_url}/v1/advisories"
    )


@main.group()
def orgs() -> None:
    """Member organisations."""


@orgs.command("add")
@click.argument("name")
@click.option(
    "--kind", required=True, type=click.Choice(["university", "government", "company", "other"])
)
@click.option("--vetted-until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
def orgs_add(name: str, kind: str, vetted_until: object) -> None:
    """Admit an organisation."""
    until: date | None = vetted_until.date() if vetted_until is not None else None  # type: ignore[attr-defined]
    with _unit_of_work(_settings()) as session:
        org = add_org(session, name=name, kind=kind, vetted_until=until)
        click.echo(f"Added org {org.name!r} ({org.kind}) id={org.id}")


@main.group()
def users() -> None:
    """Users of member organisations."""


@users.command("add")
@click.argument("email")
@click.option("--org", "org_name", required=True, help="The org's name.")
@click.option(
    "--role", required=True, type=click.Choice(["reader", "analyst", "publisher", "operator"])
)
def users_add(email: str, org_name: str, role: str) -> None:
    """Add a user to an org with one role."""
    with _unit_of_work(_settings()) as session:
        user = add_user(session, email=email, org=get_org_by_name(session, org_name), role=role)
        click.echo(f"Added user {user.email} ({user.role}) to {org_name!r}")


@main.group()
def tokens() -> None:
    """Bearer tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--ttl-days", type=int, default=None, help="Lifetime (default: the node's setting).")
def tokens_create(email: str, ttl_days: int | None) -> None:
    """Issue a token for a user and print it once (only its hash is stored)."""
    settings = _settings()
    ttl = timedelta(days=ttl_days or settings.token_ttl_days)
    with _unit_of_work(settings) as session:
        token = create_token(session, email=email, now=utcnow(), ttl=ttl)
    click.echo(token)


if __name__ == "__main__":
    sys.exit(main())
