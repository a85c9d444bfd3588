"""Traffic and checks shared by the fault tests: a client thread that keeps requesting while a
fault is injected, the shape of a clean refusal, and whether every write landed whole or not
at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from service.advisories.models import Advisory, AdvisoryRevision
from service.audit.models import AuditEntry
from tests.factories import PROBLEM_JSON, advisory_payload
from tests.federation.cluster import ANALYST, READER, Node

REQUEST_TIMEOUT = 10.0
"""A request still unanswered after this long counts as a hang."""
SLOWEST_ANSWER = 5.0
"""The longest a request may take, fault or not: failing fast is part of failing cleanly."""
KINDS = ("list", "screen", "write")


def bearer(node: Node, template: str) -> dict[str, str]:
    """The Authorization header of ``node``'s user ``template`` (``READER``, ``ANALYST``...)."""
    return {"Authorization": f"Bearer {node.tokens[template.format(node=node.node_id)]}"}


def write_payload(subject: str) -> dict[str, Any]:
    """A published advisory about ``subject`` (unique per write, so each can be found)."""
    return advisory_payload(
        subject={"name": subject, "names": [], "country": "CN", "kind": "company"},
        summary=f"Written under load: {subject}.",
    )


@dataclass(frozen=True)
class Outcome:
    """One request the load made: what, when (monotonic), how long, and what came back."""

    kind: str
    started: float
    seconds: float
    status: int
    """0 when no HTTP answer came at all (the error is in ``error``)."""
    content_type: str = ""
    retry_after: str | None = None
    body: str = ""
    error: str = ""
    subject: str = ""
    """For a write: the subject name it created."""

    def describe(self) -> str:
        return f"{self.kind} {self.status} after {self.seconds:.2f} s: {self.error or self.body}"


def attempt(client: httpx.Client, kind: str, headers: dict[str, str], subject: str = "") -> Outcome:
    """One request of ``kind``: a list, a screen, or a write about ``subject``."""
    started = time.monotonic()
    try:
        if kind == "list":
            response = client.get("/v1/advisories", params={"limit": "50"}, headers=headers)
        elif kind == "screen":
            response = client.get("/v1/screen", params={"q": "Harbin"}, headers=headers)
        else:
            response = client.post("/v1/advisories", json=write_payload(subject), headers=headers)
    except httpx.TransportError as error:
        return Outcome(
            kind, started, time.monotonic() - started, 0, error=repr(error), subject=subject
        )
    return Outcome(
        kind,
        started,
        time.monotonic() - started,
        response.status_code,
        response.headers.get("content-type", ""),
        response.headers.get("retry-after"),
        response.text,
        subject=subject,
    )


@dataclass
class Load:
    """Lists, screens and writes against ``node`` in turn, from one thread, until stopped."""

    node: Node
    label: str
    outcomes: list[Outcome] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _writes: int = 0

    def run(self) -> None:
        reader = bearer(self.node, READER)
        analyst = bearer(self.node, ANALYST)
        with httpx.Client(base_url=self.node.url, timeout=REQUEST_TIMEOUT) as client:
            while not self._stop.is_set():
                for kind in KINDS:
                    subject = ""
                    if kind == "write":
                        self._writes += 1
                        subject = f"{self.label} load subject {self._writes}"
                    outcome = attempt(client, kind, analyst if kind == "write" else reader, subject)
                    with self._lock:
                        self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in self.snapshot() if o.started >= moment]

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def running(load: Load) -> Iterator[Load]:
    """``load`` running in a thread for the block; stopped and joined after."""
    thread = threading.Thread(target=load.run, name=f"load-{load.label}", daemon=True)
    thread.start()
    try:
        yield load
    finally:
        load.stop()
        thread.join(timeout=REQUEST_TIMEOUT * 2)
        assert not thread.is_alive(), "the load thread is stuck in a request"


def succeeded(outcome: Outcome) -> bool:
    return outcome.status in {200, 201}


def every_kind(load: Load, since: float, check: Callable[[Outcome], bool]) -> Callable[[], bool]:
    """Whether a list, a screen and a write made from ``since`` on have each passed ``check``."""
    return lambda: {o.kind for o in load.since(since) if check(o)} == set(KINDS)


def assert_clean_refusal(
    outcome: Outcome, status: int, *, words: tuple[str, ...], retry_after: bool = True
) -> None:
    """A problem document with ``status`` (and ``Retry-After`` if ``retry_after``), whose
    detail says one of ``words`` and shows nothing of the node's insides."""
    assert outcome.status == status, outcome.describe()
    assert outcome.content_type == PROBLEM_JSON, outcome.describe()
    if retry_after:
        assert outcome.retry_after is not None, outcome.describe()
        assert outcome.retry_after.isdigit(), outcome.describe()
        assert int(outcome.retry_after) >= 1, outcome.describe()
    for leak in ("Traceback", "sqlalchemy", "psycopg", "sqlite3", 'File "'):
        assert leak not in outcome.body, outcome.describe()
    assert any(word in outcome.body.lower() for word in words), outcome.describe()


def assert_writes_whole(node: Node, outcomes: list[Outcome]) -> int:
    """Every write attempted is in the node's database exactly once, complete (advisory, first
    revision and audit entry), or not at all; each one answered 201 is there. How many landed."""
    landed = 0
    with node.database() as factory, factory() as session:
        for outcome in (o for o in outcomes if o.kind == "write"):
            rows = session.scalars(
                select(Advisory).where(Advisory.subject_name == outcome.subject)
            ).all()
            if outcome.status == 201:
                assert len(rows) == 1, outcome.describe()
            assert len(rows) <= 1, outcome.describe()
            if not rows:
                continue
            landed += 1
            advisory = rows[0]
            revisions = session.scalar(
                select(func.count())
                .select_from(AdvisoryRevision)
                .where(AdvisoryRevision.advisory_pk == advisory.pk)
            )
            audited = session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "advisory.create", AuditEntry.target == advisory.id)
            )
            assert (advisory.revision, revisions, audited) == (1, 1, 1), outcome.describe()
    return landed


def assert_audit_chain_verifies(node: Node) -> None:
    assert node.run("audit", "verify").stdout.startswith("OK: ")
