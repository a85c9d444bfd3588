"""``trex-node``: the operator's command (SPEC section 8)."""

from __future__ import annotations

import logging.config
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.orm import Session

from federation.keys import KeyError_, KeyRing, PublicNodeKey, b64url_encode
from federation.rotation import rotate
from federation.sync import PeerError, fetch_descriptor
from service.access import service as access
from service.access.schemas import OrgUpdate
from service.access.service import add_org, add_user, create_token, get_org_by_name
from service.audit.service import CLI_ACTOR, AuditChainBroken, record, verify_chain
from service.db import make_engine, make_session_factory, transaction, utcnow
from service.db import read_only as read_only_session
from service.errors import TrexError
from service.peering import bundles
from service.peering import service as peering
from service.peering.runner import SyncRunner
from service.peering.store import retry_quarantine
from service.settings import NODE_CONFIG_FILE, Settings, read_node_config

METRICS_DIRECTORY = "metrics"
"""In the data directory: the workers' metric files while ``serve --workers N`` runs."""

# Alembic, uvicorn and the demo data are imported by the commands that use them: every
# 'trex-node' run (a sync from cron, a token) would otherwise pay for them at start-up.


def _upgrade(database_url: str) -> None:
    from service.migrate import upgrade

    upgrade(database_url)


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
    except AuditChainBroken as error:
        raise click.ClickException(
            f"Nothing done: the audit log is broken ({error}); see 'trex-node audit verify'."
        ) from None
    finally:
        engine.dispose()


def _audit(session: Session, action: str, target: str, detail: dict[str, Any]) -> None:
    """Record an operator command in the audit log, in the command's own transaction."""
    record(
        session,
        actor=CLI_ACTOR,
        actor_org_id=None,
        action=action,
        target=target,
        detail=detail,
        now=utcnow(),
    )


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
    _upgrade(checked.resolved_database_url)
    ring = _key_ring(checked)
    click.echo(f"Node {node_id!r} ready in {checked.data_dir.resolve()}")
    _echo_key(ring.current.public)


@main.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _upgrade(settings.resolved_database_url)
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
    import uvicorn

    from service.observability.logs import logging_config
    from service.serving import PROTOCOL

    directory = _metrics_directory(settings, workers)
    try:
        # JSON log lines in every worker; the app writes one line per request (uvicorn's is off).
        uvicorn.run(
            "service.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_config=logging_config(),
            access_log=False,
            http=PROTOCOL,
        )
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _metrics_directory(settings: Settings, workers: int) -> Path | None:
    """With several workers, a fresh directory for their metric files, which it returns.

    Every worker writes its metrics there, so any of them answers a scrape for all. An operator's
    own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is (emptying it between runs is theirs to do);
    with one worker and none, metrics stay in memory.
    """
    from service.observability.metrics import MULTIPROCESS_ENV, fresh_multiprocess_directory

    given = os.environ.get(MULTIPROCESS_ENV)
    if given:
        if not Path(given).is_dir():
            raise click.ClickException(f"{MULTIPROCESS_ENV}={given} is not a directory.")
        return None
    if workers <= 1:
        return None
    directory = fresh_multiprocess_directory(settings.data_dir / METRICS_DIRECTORY).resolve()
    # Spawned workers inherit the environment, and read it before any metric is made.
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


@main.command("demo")
def demo_command() -> None:
    """Build (or reuse) the demo node and print a fresh token for each demo user."""
    from service import demo

    settings = _settings()
    if not settings.node_id:
        _write_node_config(settings.data_dir, node_id="demo", name="trex demo node", country="CA")
        os.environ.setdefault("TREX_NODE_ID", "demo")
        settings = Settings(node_id="demo")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _upgrade(settings.resolved_database_url)
    now = utcnow()
    key = _key_ring(settings).current
    with _unit_of_work(settings) as session:
        if demo.is_loaded(session):
            click.echo("Reusing the demo node in " + str(settings.data_dir.resolve()))
        else:
            count = demo.load_demo(session, node_id=settings.node_id, now=now, key=key)
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


_DATE = click.DateTime(formats=["%Y-%m-%d"])


@orgs.command("add")
@click.argument("name")
@click.option(
    "--kind", required=True, type=click.Choice(["university", "government", "company", "other"])
)
@click.option("--vetted-until", type=_DATE, default=None, help="Vetted while before this date.")
@click.option("--domain", "domains", multiple=True, help="Email domain of its users (repeat).")
def orgs_add(name: str, kind: str, vetted_until: datetime | None, domains: tuple[str, ...]) -> None:
    """Admit an organisation."""
    until = vetted_until.date() if vetted_until is not None else None
    with _unit_of_work(_settings()) as session:
        org = add_org(session, name=name, kind=kind, vetted_until=until, email_domains=domains)
        _audit(
            session,
            "admin.org.add",
            org.id,
            {"name": org.name, "kind": org.kind, "vetted_until": until and until.isoformat()},
        )
        click.echo(f"Added org {org.name!r} ({org.kind}) id={org.id}")


@orgs.command("list")
def orgs_list() -> None:
    """Member organisations with their vetting and status."""
    today = utcnow().date()
    with _unit_of_work(_settings()) as session:
        for org in access.list_orgs(session):
            vetted = "vetted" if org.vetted_until and org.vetted_until > today else "not vetted"
            until = org.vetted_until.isoformat() if org.vetted_until else "-"
            domains = ",".join(org.email_domains) or "-"
            click.echo(
                f"{org.id}  {org.name:<32} {org.kind:<11} {org.status:<9} "
                f"{vetted:<10} until {until:<10} {domains}"
            )


@orgs.command("vet")
@click.argument("name")
@click.option("--until", "until", type=_DATE, default=None, help="Vetted while before this date.")
@click.option("--end", is_flag=True, help="End vetting now.")
def orgs_vet(name: str, until: datetime | None, end: bool) -> None:
    """Set (or end) an org's vetting."""
    if (until is None) == (not end):
        raise click.UsageError("Give exactly one of --until DATE or --end.")
    changes = OrgUpdate(vetted_until=None if end or until is None else until.date())
    with _unit_of_work(_settings()) as session:
        org = access.update_org(session, get_org_by_name(session, name), changes)
        _audit(
            session, "admin.org.update", org.id, changes.model_dump(mode="json", exclude_unset=True)
        )
        click.echo(f"{org.name!r} vetted until {org.vetted_until or 'no longer vetted'}")


@orgs.command("suspend")
@click.argument("name")
def orgs_suspend(name: str) -> None:
    """Suspend an org: its users and tokens stop working at once."""
    with _unit_of_work(_settings()) as session:
        org = access.update_org(
            session, get_org_by_name(session, name), OrgUpdate(status="suspended")
        )
        _audit(session, "admin.org.update", org.id, {"status": "suspended"})
        click.echo(f"Suspended {name!r}")


@orgs.command("reinstate")
@click.argument("name")
def orgs_reinstate(name: str) -> None:
    """Lift an org's suspension."""
    with _unit_of_work(_settings()) as session:
        org = access.update_org(session, get_org_by_name(session, name), OrgUpdate(status="active"))
        _audit(session, "admin.org.update", org.id, {"status": "active"})
        click.echo(f"Reinstated {name!r}")


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
        _audit(
            session,
            "admin.user.add",
            user.id,
            {"email": user.email, "org_id": user.org_id, "role": user.role},
        )
        click.echo(f"Added user {user.email} ({user.role}) to {org_name!r}")


@users.command("list")
@click.option("--org", "org_name", default=None, help="Only this org's users.")
def users_list(org_name: str | None) -> None:
    """Users with their org, role and status."""
    with _unit_of_work(_settings()) as session:
        org_id = get_org_by_name(session, org_name).id if org_name else None
        for user in access.list_users(session, org_id=org_id):
            click.echo(
                f"{user.id}  {user.email:<32} {user.role:<10} {user.status:<9} {user.org.name}"
            )


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable a user: its tokens stop working at once."""
    with _unit_of_work(_settings()) as session:
        user = access.update_user(
            session, access.get_user_by_email(session, email), status="disabled"
        )
        _audit(session, "admin.user.update", user.id, {"status": "disabled"})
        click.echo(f"Disabled {email}")


@users.command("enable")
@click.argument("email")
def users_enable(email: str) -> None:
    """Enable a disabled user again."""
    with _unit_of_work(_settings()) as session:
        user = access.update_user(
            session, access.get_user_by_email(session, email), status="active"
        )
        _audit(session, "admin.user.update", user.id, {"status": "active"})
        click.echo(f"Enabled {email}")


@main.group()
def tokens() -> None:
    """Bearer tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--ttl-days", type=int, default=None, help="Lifetime (default: the node's setting).")
@click.option("--read-only", is_flag=True, help="The token reads and screens, never writes.")
@click.option("--label", default=None, help="What the token is for, shown in listings.")
def tokens_create(email: str, ttl_days: int | None, read_only: bool, label: str | None) -> None:
    """Issue a token for a user and print it once (only its hash is stored)."""
    settings = _settings()
    ttl = timedelta(days=ttl_days or settings.token_ttl_days)
    with _unit_of_work(settings) as session:
        token = create_token(
            session, email=email, now=utcnow(), ttl=ttl, read_only=read_only, label=label
        )
        # Never the token: its text is a credential.
        user = access.get_user_by_email(session, email)
        _audit(
            session,
            "admin.token.create",
            user.id,
            {"email": user.email, "ttl_days": ttl.days, "read_only": read_only},
        )
    click.echo(token)


@tokens.command("list")
@click.argument("email", required=False)
def tokens_list(email: str | None) -> None:
    """Tokens' metadata (never their secrets)."""
    with _unit_of_work(_settings()) as session:
        user_id = access.get_user_by_email(session, email).id if email else None
        for token in access.list_tokens(session, user_id=user_id):
            state = "revoked" if token.revoked_at else f"expires {token.expires_at:%Y-%m-%d}"
            mode = "read-only" if token.read_only else "read-write"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            click.echo(
                f"{token.id}  {token.user.email:<32} {mode:<10} {state:<18} "
                f"last used {used}  {token.label or ''}"
            )


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token at once (by the id shown by 'tokens list')."""
    with _unit_of_work(_settings()) as session:
        token = access.revoke_token(session, token_id=token_id, now=utcnow())
        _audit(session, "admin.token.revoke", token.id, {"user_id": token.user_id})
        click.echo(f"Revoked {token_id}")


def _node_keys(settings: Settings) -> peering.NodeKeys:
    """The node's keys, the ring created on first use (mode 0600 in the data directory)."""
    if not settings.node_id:
        raise click.ClickException("This data directory has no node: run 'trex-node init' first.")
    try:
        return peering.NodeKeys(settings.data_dir, settings.node_id, now=utcnow())
    except KeyError_ as error:
        raise click.ClickException(str(error)) from None


def _key_ring(settings: Settings) -> KeyRing:
    return _node_keys(settings).ring()


def _echo_key(key: PublicNodeKey) -> None:
    # Public material only: the private key never leaves the key ring file.
    click.echo(f"  kid          {key.kid}")
    click.echo(f"  public key   {b64url_encode(key.public_key)}")
    click.echo(f"  fingerprint  {key.fingerprint}")


@main.group()
def keys() -> None:
    """This node's Ed25519 keys."""


@keys.command("show")
def keys_show() -> None:
    """The node's keys, for peers to pin (check the fingerprint with them out of band)."""
    ring = _key_ring(_settings())
    for key in ring.keys:
        state = "current" if key is ring.current else "retired"
        click.echo(f"{state}:")
        _echo_key(key.public)


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; the old one signs a statement that lets peers accept it."""
    settings = _settings()
    ring = _key_ring(settings)
    rotated = rotate(ring, now=utcnow())
    rotated.save(settings.data_dir)
    with _unit_of_work(settings) as session:
        _audit(
            session,
            "federation.key.rotate",
            settings.node_id,
            {"kid": rotated.current.kid, "previous_kid": ring.current.kid},
        )
    click.echo("New signing key (peers learn it from the statement the previous key signed):")
    _echo_key(rotated.current.public)


@main.group()
def peers() -> None:
    """Nodes this node federates with."""


@peers.command("add")
@click.argument("node_id")
@click.option("--url", default=None, help="The peer's public URL (omit: only trust its key).")
@click.option("--public-key", required=True, help="The peer's Ed25519 key, base64url (pinned).")
@click.option("--kid", default=None, help="The key's id (read from the peer's descriptor).")
@click.option(
    "--only-this-key",
    is_flag=True,
    help="Do not also pin the keys this one replaced (after a key was compromised).",
)
def peers_add(
    node_id: str, url: str | None, public_key: str, kid: str | None, only_this_key: bool
) -> None:
    """Pin a peer's key; with --url, also pull its feed.

    With a URL the key's id comes from the peer's descriptor, which must list this very key:
    the key you were given out of band is pinned, never one the network offers. Keys it
    replaced are pinned too when its rotation statements, signed by this key, prove them
    (records they signed still verify), unless --only-this-key.
    """
    settings = _settings()
    try:
        raw = peering.parse_public_key(public_key)
    except TrexError as error:
        raise click.ClickException(error.detail) from None
    if url is not None:
        try:
            descriptor = fetch_descriptor(url)
        except PeerError as error:
            raise click.ClickException(str(error)) from None
        try:
            pinned = peering.keys_from_descriptor(
                descriptor, node_id=node_id, public_key=raw, kid=kid, earlier=not only_this_key
            )
        except TrexError as error:
            raise click.ClickException(error.detail) from None
    elif kid is None:
        raise click.UsageError("Without --url, give the key's id with --kid.")
    else:
        pinned = [PublicNodeKey(node_id, kid, raw)]
    with _unit_of_work(settings) as session:
        peering.add_peer(
            session, node_id=node_id, url=url, keys=pinned, self_id=settings.node_id, now=utcnow()
        )
        _audit(
            session,
            "federation.peer.add",
            node_id,
            {"url": url, "keys": [{"kid": k.kid, "fingerprint": k.fingerprint} for k in pinned]},
        )
    for key in pinned:
        click.echo(f"Pinned {node_id} key {key.kid} {key.fingerprint}")


@peers.command("list")
def peers_list() -> None:
    """Peers with their URL, pinned keys and sync state."""
    with _unit_of_work(_settings()) as session:
        keys = peering.keys_by_peer(session)
        for peer in peering.list_peers(session):
            kids = ",".join(k.kid for k in keys.get(peer.id, []))
            last = f"{peer.last_success_at:%Y-%m-%d %H:%M:%S}" if peer.last_success_at else "never"
            click.echo(
                f"{peer.id:<12} {peer.url or '(key only)':<32} keys {kids:<24} "
                f"last sync {last}  accepted {peer.accepted_count}  "
                f"rejected {peer.rejected_count}  {peer.last_error or ''}"
            )


@peers.command("remove")
@click.argument("node_id")
def peers_remove(node_id: str) -> None:
    """Stop federating with a peer and forget its keys (what it sent stays)."""
    with _unit_of_work(_settings()) as session:
        peering.remove_peer(session, node_id=node_id)
        _audit(session, "federation.peer.remove", node_id, {})
    click.echo(f"Removed peer {node_id}")


@peers.command("quarantine")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option(
    "--retry",
    is_flag=True,
    help="Review refused records again (after pinning a key or adding a group).",
)
def peers_quarantine(limit: int, retry: bool) -> None:
    """Records refused on arrival, newest first: who sent them and why."""
    settings = _settings()
    if retry:
        engine = make_engine(settings.resolved_database_url)
        try:
            accepted, still = retry_quarantine(
                make_session_factory(engine), node_id=settings.node_id
            )
        finally:
            engine.dispose()
        click.echo(f"Reviewed again: {accepted} accepted, {still} still quarantined")
        return
    with _unit_of_work(settings) as session:
        for row in peering.list_quarantine(session, limit=limit):
            kind = "EQUIVOCATION" if row.equivocation else "refused"
            click.echo(
                f"{row.received_at:%Y-%m-%d %H:%M:%S}  from {row.sender:<8} "
                f"origin {row.origin or '?':<8} {row.advisory_id or '?'} "
                f"rev {row.revision if row.revision is not None else '?'}  {kind}: {row.reason}"
            )


@main.group()
def groups() -> None:
    """Sharing groups: the sets of nodes an advisory's scope may name."""


@groups.command("add")
@click.argument("name")
@click.option("--member", "members", multiple=True, required=True, help="A node id (repeat).")
def groups_add(name: str, members: tuple[str, ...]) -> None:
    """Create a group (or add members to it). Include this node's own id."""
    settings = _settings()
    with _unit_of_work(settings) as session:
        peering.add_group(session, name=name, members=members, now=utcnow())
        _audit(session, "federation.group.add", name, {"members": sorted(members)})
    if settings.node_id not in members:
        click.echo(f"Note: this node ({settings.node_id}) is not a member of {name!r} here.")
    click.echo(f"Group {name}: {', '.join(sorted(members))}")


@groups.command("list")
def groups_list() -> None:
    """Sharing groups and their members."""
    with _unit_of_work(_settings()) as session:
        for name, members in sorted(peering.load_groups(session).members.items()):
            click.echo(f"{name:<16} {' '.join(sorted(members))}")


@main.command()
@click.option("--peer", "peer_id", default=None, help="Only this peer.")
@click.option("--once", is_flag=True, help="One pass, then exit (non-zero if a peer failed).")
@click.option("--interval", type=float, default=None, help="Seconds between pulls of a peer.")
def sync(peer_id: str | None, once: bool, interval: float | None) -> None:
    """Pull peers' feeds: once, or in a loop with retries, back-off and jitter."""
    from service.observability.logs import logging_config

    # The sync worker logs as the server does: JSON lines on stderr, secrets redacted.
    logging.config.dictConfig(logging_config())
    settings = _settings()
    node_keys = _node_keys(settings)
    engine = make_engine(settings.resolved_database_url)
    runner = SyncRunner(
        engine=engine,
        factory=make_session_factory(engine),
        data_dir=settings.data_dir,
        node_id=settings.node_id,
        node_keys=node_keys,
        interval=interval if interval is not None else settings.sync_interval_seconds or 30.0,
        timeout=settings.peer_timeout_seconds,
        page_size=settings.sync_page_size,
    )
    try:
        if not once:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with suppress(KeyboardInterrupt):
                runner.run_forever(stop, only=peer_id)
            return
        try:
            outcomes = runner.run_pass(only=peer_id) or []
        except PeerError as error:
            raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    failed = False
    for outcome in outcomes:
        if outcome.error is not None:
            failed = True
            click.echo(f"{outcome.peer_id}: failed: {outcome.error}")
        elif outcome.result is not None:
            r = outcome.result
            click.echo(
                f"{outcome.peer_id}: {r.accepted} accepted, {r.rejected} rejected, "
                f"{r.unchanged} unchanged, {r.equivocations} equivocations"
            )
    if failed:
        raise click.ClickException("some peers could not be synced")


@main.group()
def bundle() -> None:
    """Signed records as JSON Lines, for air-gapped exchange."""


@bundle.command("export")
@click.option("--peer", "peer_id", required=True, help="The node the bundle is for.")
@click.option("--after", default=None, help="Only records after this feed cursor.")
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True), default="-")
def bundle_export(peer_id: str, after: str | None, output: str) -> None:
    """Write what PEER may receive, signed, as JSON Lines (a signed header line first)."""
    settings = _settings()
    ring = _key_ring(settings)
    with (
        click.open_file(output, "w", encoding="utf-8") as sink,
        _unit_of_work(settings) as session,
    ):
        count = bundles.export_bundle(
            session, ring=ring, peer_id=peer_id, after=after, sink=sink, now=utcnow()
        )
    click.echo(f"Exported {count} records for {peer_id}", err=True)


@bundle.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True))
def bundle_import(source: str) -> None:
    """Apply a bundle from a peer: every record verified as if it had come over the network."""
    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with click.open_file(source, "r", encoding="utf-8") as lines:
            result = bundles.import_bundle(
                make_session_factory(engine), lines=lines, node_id=settings.node_id
            )
    except bundles.BundleError as error:
        raise click.ClickException(str(error)) from None
    except UnicodeDecodeError:
        # Batches before the bad bytes are committed (each stands alone); importing again is
        # harmless: what is held already is a no-op.
        raise click.ClickException("The bundle is not UTF-8 text; it stops there.") from None
    finally:
        engine.dispose()
    click.echo(
        f"From {result.sender}: {result.accepted} accepted, {result.rejected} rejected, "
        f"{result.unchanged} unchanged"
    )


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain; exit non-zero at the first broken entry."""
    engine = make_engine(_settings().resolved_database_url)
    try:
        with read_only_session(make_session_factory(engine)) as session:
            chain = verify_chain(session)
    except AuditChainBroken as broken:
        where = "" if broken.seq is None else f" at entry {broken.seq}"
        raise click.ClickException(f"Audit log broken{where}: {broken.reason}") from None
    finally:
        engine.dispose()
    click.echo(f"OK: {chain.count} audit entries verified; head hash {chain.head_hash}")


if __name__ == "__main__":
    sys.exit(main())
