"""Advisory benchmark on one backend: load, then list latency against in-process baselines.

1. Load ``count`` advisories (``bench.load``), all of them through the domain write path: per
   batch transaction, one ``allocate_sequence`` range and one ``store_revisions`` call. The
   load rate is over every advisory; generating the documents is timed apart and not counted.
2. Time ``GET /v1/advisories?limit=100`` with two filters through the real app (httpx's ASGI
   transport, a vetted reader's bearer token): the first page, and a page in the middle of the
   results fetched again and again with its cursor.
3. Baselines in the same process: the same pages through ``list_advisories`` with a session
   (SQL and paging, no HTTP), and ``GET /healthz`` (the framework's floor).
4. The access policy's cost (``bench.policy``): a list and a search with the policy filter, for
   a vetted reader, an unvetted reader and an anonymous caller, against the same query with none.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench import policy
from bench.data import NODE_ID, READER_EMAIL
from bench.load import LoadStats, load, make_members
from bench.timing import Timing, time_calls
from service.access.principal import Principal, principal_for
from service.access.service import get_user_by_email
from service.advisories.cursor import decode_cursor
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.schemas import ListFilters
from service.advisories.service import list_advisories, list_query
from service.app import create_app
from service.db import make_engine, make_session_factory, read_only, utcnow
from service.settings import Settings

AIM_MS = 20.0
AIM_COUNT = 100_000
PAGE = 100
FILTERS = {"country": "CN", "risk": "high"}
QUERY = "&".join(f"{k}={v}" for k, v in FILTERS.items())
LIST_URL = f"/v1/advisories?{QUERY}&limit={PAGE}"


@dataclass
class Result:
    backend: str
    batch: int
    load: LoadStats = field(default_factory=LoadStats)
    matching: int = 0
    pages: int = 0
    deep_page: int = 0
    timings: dict[str, Timing] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    policy: policy.PolicyResult = field(default_factory=policy.PolicyResult)


class InProcessClient:
    """HTTP requests straight into the ASGI app, on one event loop, with no server and no thread.

    Starlette's TestClient hands every request to a portal thread, which costs more than many
    of the requests measured here; httpx's ASGI transport calls the app directly.
    """

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench.invalid"
        )

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(url, headers=headers))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


def check_loaded(factory: sessionmaker[Session], stats: LoadStats) -> None:
    """Raise unless the database holds what was written, each advisory at its latest revision."""
    with read_only(factory) as session:
        advisories = session.scalar(select(func.count()).select_from(Advisory))
        revisions = session.scalar(select(func.count()).select_from(AdvisoryRevision))
        latest = (
            select(AdvisoryRevision.advisory_pk, func.max(AdvisoryRevision.seq).label("seq"))
            .group_by(AdvisoryRevision.advisory_pk)
            .subquery()
        )
        stale = session.scalar(
            select(func.count())
            .select_from(Advisory)
            .join(latest, latest.c.advisory_pk == Advisory.pk)
            .where(Advisory.current_seq != latest.c.seq)
        )
    found = (advisories, revisions, stale)
    expected = (stats.advisories, stats.revisions, 0)
    if found != expected:
        raise RuntimeError(
            "the database holds (advisories, revisions, advisories not at their latest "
            f"revision) = {found}, expected {expected}"
        )


def analyze(engine: Engine) -> None:
    """Planner statistics, as autovacuum keeps them on a running PostgreSQL server."""
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def explain(engine: Engine, principal: Principal, cursor: str | None) -> list[str]:
    """The plan of the list query, with the access filter, as the backend runs it."""
    query = list_query(
        principal=principal, filters=ListFilters.model_validate(FILTERS), today=utcnow().date()
    )
    if cursor is not None:
        query = query.where(Advisory.pk < decode_cursor(cursor))
    compiled = query.limit(PAGE + 1).compile(engine, compile_kwargs={"literal_binds": True})
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        rows = connection.execute(
            text(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + str(compiled))
        ).all()
    return [str(row[-1] if sqlite else row[0]) for row in rows]


def walk_pages(
    client: InProcessClient, headers: dict[str, str], result: Result
) -> tuple[str | None, list[int]]:
    """Fetch every page once; returns the cursor of the page in the middle and each page's size."""
    cursors: list[str | None] = [None]
    sizes: list[int] = []
    while True:
        cursor = cursors[-1]
        response = client.get(
            LIST_URL + ("" if cursor is None else f"&cursor={cursor}"), headers=headers
        )
        response.raise_for_status()
        body = response.json()
        sizes.append(len(body["items"]))
        if body["next_cursor"] is None:
            break
        cursors.append(body["next_cursor"])
    result.matching = sum(sizes)
    result.pages = len(cursors)
    result.deep_page = len(cursors) // 2 + 1
    return cursors[result.deep_page - 1], sizes


def measure(
    client: InProcessClient,
    factory: sessionmaker[Session],
    result: Result,
    *,
    token: str,
    warmup: int,
    runs: int,
    budget_s: float,
) -> tuple[Principal, str | None]:
    headers = {"Authorization": f"Bearer {token}"}
    deep_cursor, sizes = walk_pages(client, headers, result)
    deep_url = LIST_URL + ("" if deep_cursor is None else f"&cursor={deep_cursor}")

    def api(url: str) -> Callable[[], object]:
        def call() -> None:
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")

        return call

    with factory() as session:
        principal = principal_for(get_user_by_email(session, READER_EMAIL))
    filters = ListFilters.model_validate(FILTERS)

    def direct(cursor: str | None, expected: int) -> Callable[[], object]:
        def call() -> None:
            with read_only(factory) as session:
                documents, _ = list_advisories(
                    session,
                    principal=principal,
                    filters=filters,
                    limit=PAGE,
                    cursor=cursor,
                    now=utcnow(),
                )
            if len(documents) != expected:
                raise RuntimeError(f"list_advisories gave {len(documents)} documents")

        return call

    def health() -> None:
        client.get("/healthz").raise_for_status()

    cases: dict[str, Callable[[], object]] = {
        "api_first": api(LIST_URL),
        "api_deep": api(deep_url),
        "sql_first": direct(None, sizes[0]),
        "sql_deep": direct(deep_cursor, sizes[result.deep_page - 1]),
        "healthz": health,
    }
    for name, call in cases.items():
        result.timings[name] = time_calls(call, warmup=warmup, runs=runs, budget_s=budget_s)
    return principal, deep_cursor


def run(
    backend: str,
    url: str,
    *,
    count: int,
    batch: int,
    warmup: int,
    runs: int,
    budget_s: float,
    show_plans: bool,
    log: Callable[[str], None],
) -> Result:
    """Load ``count`` advisories into the migrated, empty database at ``url`` and time lists."""
    result = Result(backend, batch)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = utcnow()
    try:
        members = make_members(factory, now)
        log(f"{backend}: loading {count:,} advisories, {batch:,} per transaction ...")
        result.load = load(factory, members, count=count, batch=batch, now=now)
        check_loaded(factory, result.load)
        if engine.dialect.name == "postgresql":
            analyze(engine)
            result.notes.append("ANALYZE was run after the load, as autovacuum would")
        log(f"{backend}: loaded; timing requests ...")
        with tempfile.TemporaryDirectory(prefix="trex-bench-") as data_dir:
            settings = Settings(
                data_dir=Path(data_dir),
                database_url=url,
                node_id=NODE_ID,
                node_name="Benchmark node",
                node_country="CA",
            )
            app = create_app(settings)
            client = InProcessClient(app)
            try:
                principal, deep_cursor = measure(
                    client,
                    factory,
                    result,
                    token=members.reader_token,
                    warmup=warmup,
                    runs=runs,
                    budget_s=budget_s,
                )
            finally:
                client.close()
                app.state.engine.dispose()
        log(f"{backend}: timing the access policy filter ...")
        result.policy = policy.measure(
            engine,
            factory,
            warmup=warmup,
            runs=runs,
            budget_s=budget_s,
            show_plans=show_plans,
            log=lambda message: log(f"{backend}: {message}"),
        )
        if show_plans:
            for label, cursor in (("first page", None), ("deep page", deep_cursor)):
                result.plans.append(f"plan of the list query, {label}:")
                result.plans.extend("    " + line for line in explain(engine, principal, cursor))
    finally:
        engine.dispose()
    return result


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def report(result: Result, *, title: str) -> list[str]:
    """The result as a plain-text table."""
    t = result.timings
    stats = result.load
    width = 60
    rule = "-" * (width + 30)
    lines = [
        title,
        "=" * len(title),
        f"{stats.advisories:,} advisories ({stats.revisions:,} revisions); {QUERY} gives "
        f"{result.matching:,} visible to a vetted reader = {result.pages} pages of {PAGE}",
        "",
        f"{'measure':<{width}}{'p50':>12}{'p99':>12}{'n':>6}",
        rule,
        f"{'load rate: store_revisions, ' + f'{result.batch:,} per transaction':<{width}}"
        f"{stats.rate:>12,.0f} advisories/s",
        f"{'':<{width}}(all {stats.advisories:,} in {stats.seconds:.1f} s)",
    ]

    def row(label: str, timing: Timing) -> str:
        return f"{label:<{width}}{_ms(timing.p50):>12}{_ms(timing.p99):>12}{len(timing.samples):>6}"

    per_batch = Timing(tuple(sorted(seconds * 1000 for seconds in stats.batches)))
    lines += [
        row("load: one transaction, allocate_sequence + store_revisions", per_batch),
        row(f"GET /v1/advisories?{QUERY}&limit={PAGE}: first page", t["api_first"]),
        row(f"GET /v1/advisories ... deep page {result.deep_page} (by cursor)", t["api_deep"]),
        row("baseline: list_advisories() + session, first page", t["sql_first"]),
        row(f"baseline: list_advisories() + session, page {result.deep_page}", t["sql_deep"]),
        row("baseline: GET /healthz (framework floor)", t["healthz"]),
        rule,
    ]
    for label, api_key, sql_key in (
        ("first page", "api_first", "sql_first"),
        ("deep page ", "api_deep", "sql_deep"),
    ):
        api, sql, floor = t[api_key], t[sql_key], t["healthz"]
        lines.append(
            f"API / list_advisories, {label}: {api.p50 / sql.p50:.1f}x at p50, "
            f"{api.p99 / sql.p99:.1f}x at p99; API / healthz: {api.p50 / floor.p50:.1f}x at p50"
        )
    worst = max(t["api_first"].p99, t["api_deep"].p99)
    verdict = "met" if worst < AIM_MS else "NOT met"
    lines.append(
        f"aim, p99 under {AIM_MS:.0f} ms in-process at {AIM_COUNT:,}: {verdict} "
        f"(first page {_ms(t['api_first'].p99)}, deep page {_ms(t['api_deep'].p99)})"
        + ("" if stats.advisories == AIM_COUNT else f" - but measured at {stats.advisories:,}")
    )
    lines.append(f"(generating the documents took {stats.generate_seconds:.1f} s, not counted)")
    lines.extend(f"note: {note}" for note in result.notes)
    lines.extend(result.plans)
    lines.extend(policy.report(result.policy))
    return lines
