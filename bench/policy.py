"""What the access policy costs: lists and searches with and without ``visible_clause``.

The Access issue's aim: at 100,000 advisories, list and search latency with the policy filter no
more than 20% above the unfiltered figure. Measured at the domain/SQL level, a session per call
and no HTTP, on the database the rest of the benchmark loaded:

- with the filter: ``list_advisories`` as the node runs it (first page of 100), for a vetted
  reader, an unvetted reader and an anonymous caller, whose filters differ;
- without it: the select ``list_query`` builds (position and document, joined on the current
  revision, the same filter clauses, newest first, one row more than a page) built here with no
  ``visible_clause``; ``service`` has no unfiltered list, and must not have one;
- to split the difference: ``list_query`` with the filter run alone, as the unfiltered select
  is, without what ``list_advisories`` adds (three columns, the audit record of the page).

One list (country and risk) and one search (``q=``, a word in about 4% of subject names). The
cases of each are timed interleaved, so load from elsewhere on the shared machine falls on all of
them alike. Before timing, each filtered result is checked against the unfiltered one: exactly
the unfiltered rows that ``can_read`` allows, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from sqlalchemy import ColumnElement, Connection, Engine, Select, create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bench.data import READER_EMAIL, UNVETTED_READER_EMAIL
from bench.timing import Timing, time_interleaved
from service.access.policy import AdvisoryFacts, can_read
from service.access.principal import ANONYMOUS, Principal, principal_for
from service.access.service import get_user_by_email
from service.advisories.models import Advisory, AdvisoryAudience, AdvisoryRevision
from service.advisories.schemas import ListFilters
from service.advisories.service import list_advisories, list_query
from service.db import read_only, utcnow

AIM_PERCENT = 20.0
PAGE = 100
# A place name in about 4% of the generated subject names (bench/data.py PLACES), so a first
# page of a search has to pass over a few thousand advisories that do not match.
SEARCH_WORD = "harbin"
PRINCIPALS = ("vetted reader", "unvetted reader", "anonymous")


@dataclass(frozen=True)
class Workload:
    """One list or search: its filters for ``list_query`` and the same filters as clauses."""

    name: str
    label: str
    filters: ListFilters
    clauses: Callable[[], list[ColumnElement[bool]]]


def _list_clauses() -> list[ColumnElement[bool]]:
    return [Advisory.status == "published", Advisory.country == "CN", Advisory.risk == "high"]


def _search_clauses() -> list[ColumnElement[bool]]:
    # What list_query does with q: casefolded, LIKE-escaped (the word needs no escaping).
    return [
        Advisory.status == "published",
        Advisory.search_text.like(f"%{SEARCH_WORD.casefold()}%", escape="\\"),
    ]


WORKLOADS = (
    Workload(
        "list",
        "list country=CN&risk=high",
        ListFilters(country="CN", risk="high"),
        _list_clauses,
    ),
    Workload("search", f"search q={SEARCH_WORD}", ListFilters(q=SEARCH_WORD), _search_clauses),
)


def unfiltered_query(clauses: Sequence[ColumnElement[bool]]) -> Select[int, str]:
    """``list_query``'s select with ``clauses`` and no ``visible_clause``, one page and one row."""
    return (
        select(Advisory.pk, AdvisoryRevision.document)
        .join(AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq)
        .where(*clauses)
        .order_by(Advisory.pk.desc())
        .limit(PAGE + 1)
    )


def _unfiltered_for(workload: Workload) -> Select[int, str]:
    return unfiltered_query(workload.clauses())


def filtered_query(principal: Principal, workload: Workload, today: date) -> Select[int, str]:
    return list_query(principal=principal, filters=workload.filters, today=today).limit(PAGE + 1)


@dataclass
class Group:
    """One workload's numbers on one backend."""

    workload: Workload
    matching: int = 0  # advisories the filters match, visible or not
    visible: dict[str, int] = field(default_factory=dict)  # by principal
    # How far down the unfiltered rows the filtered first page (and its one extra row) ends:
    # the rows the query passes over to fill it, against PAGE + 1 without the filter.
    reach: dict[str, int] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)


@dataclass
class PolicyResult:
    groups: list[Group] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)


def principals(factory: sessionmaker[Session]) -> dict[str, Principal]:
    with read_only(factory) as session:
        vetted = principal_for(get_user_by_email(session, READER_EMAIL))
        unvetted = principal_for(get_user_by_email(session, UNVETTED_READER_EMAIL))
    today = utcnow().date()
    if not vetted.is_vetted(today) or unvetted.is_vetted(today):
        raise RuntimeError(f"{READER_EMAIL} must be vetted and {UNVETTED_READER_EMAIL} not")
    return dict(zip(PRINCIPALS, (vetted, unvetted, ANONYMOUS), strict=True))


def check(
    factory: sessionmaker[Session], group: Group, readers: dict[str, Principal], today: date
) -> None:
    """Count what each principal sees, and raise unless it is what ``can_read`` allows."""
    clauses = group.workload.clauses()
    with read_only(factory) as session:
        rows = session.execute(
            select(
                Advisory.pk,
                Advisory.status,
                Advisory.tier,
                Advisory.tlp,
                Advisory.contributor_org_id,
            )
            .where(*clauses)
            .order_by(Advisory.pk.desc())
        ).all()
        audience: dict[int, set[str]] = {}
        for pk, org_id in session.execute(
            select(AdvisoryAudience.advisory_pk, AdvisoryAudience.org_id).where(
                AdvisoryAudience.advisory_pk.in_(select(Advisory.pk).where(*clauses))
            )
        ):
            audience.setdefault(pk, set()).add(org_id)
        group.matching = len(rows)
        for name, principal in readers.items():
            shown = session.scalars(
                list_query(
                    principal=principal, filters=group.workload.filters, today=today
                ).with_only_columns(Advisory.pk)
            ).all()
            allowed = [
                pk
                for pk, status, tier, tlp, org_id in rows
                if can_read(
                    principal,
                    AdvisoryFacts(status, tier, tlp, org_id, frozenset(audience.get(pk, ()))),
                    today=today,
                )
            ]
            if list(shown) != allowed:
                raise RuntimeError(
                    f"{group.workload.label}, {name}: list_query gives {len(shown)} advisories, "
                    f"the unfiltered select and can_read {len(allowed)}"
                )
            group.visible[name] = len(shown)
            if shown:
                last = shown[min(PAGE, len(shown) - 1)]
                group.reach[name] = next(i for i, row in enumerate(rows) if row.pk == last) + 1


def cases(
    factory: sessionmaker[Session], group: Group, readers: dict[str, Principal]
) -> dict[str, Callable[[], object]]:
    """The calls to time: ``unfiltered``, then ``api <principal>`` and ``sql <principal>``."""
    workload = group.workload
    if group.matching == 0:
        raise RuntimeError(f"{workload.label} matches no advisory")

    def unfiltered() -> None:
        with read_only(factory) as session:
            rows = session.execute(_unfiltered_for(workload)).all()
        if len(rows) != min(PAGE + 1, group.matching):
            raise RuntimeError(f"{workload.label}, unfiltered: {len(rows)} rows")

    def listed(name: str) -> Callable[[], object]:
        principal = readers[name]
        expected = min(PAGE, group.visible[name])

        def call() -> None:
            with read_only(factory) as session:
                documents, _ = list_advisories(
                    session,
                    principal=principal,
                    filters=workload.filters,
                    limit=PAGE,
                    cursor=None,
                    now=utcnow(),
                )
            if len(documents) != expected:
                raise RuntimeError(f"{workload.label}, {name}: {len(documents)} documents")

        return call

    def selected(name: str) -> Callable[[], object]:
        principal = readers[name]
        expected = min(PAGE + 1, group.visible[name])

        def call() -> None:
            with read_only(factory) as session:
                query = filtered_query(principal, workload, utcnow().date())
                rows = session.execute(query).all()
            if len(rows) != expected:
                raise RuntimeError(f"{workload.label}, {name}: list_query gave {len(rows)} rows")

        return call

    calls: dict[str, Callable[[], object]] = {"unfiltered": unfiltered}
    calls.update({f"api {name}": listed(name) for name in readers})
    calls.update({f"sql {name}": selected(name) for name in readers})
    return calls


# psycopg (with its default settings, as the node's engine has them) prepares a statement on
# its 5th execution on a connection, and PostgreSQL may then switch to a generic plan, made
# without the parameters' values: the plan a node runs over and over, which EXPLAIN with the
# values written in does not show. A plan is shown as of this execution.
PLAN_EXECUTION = 12
AUTO_EXPLAIN = (
    "auto_explain.log_min_duration = 0",
    "auto_explain.log_analyze = on",
    "auto_explain.log_buffers = on",
    "auto_explain.log_level = notice",
)


def _plans_as_run(engine: Engine, queries: dict[str, Callable[[], Select[int, str]]]) -> list[str]:
    """PostgreSQL: each query's plan as run, from auto_explain, at its ``PLAN_EXECUTION``th run.

    On a connection of its own (discarded after), executing ``queries`` as the timed calls do,
    with their parameters bound rather than written into the SQL. Falls back to EXPLAIN ANALYZE
    with the values written in when auto_explain cannot be loaded (it needs a superuser).
    """
    lines: list[str] = []
    plan_engine = create_engine(engine.url, poolclass=NullPool)
    try:
        with plan_engine.connect() as connection:
            try:
                connection.execute(text("LOAD 'auto_explain'"))
            except DBAPIError as exc:
                reason = str(exc.orig).strip().splitlines()[0]
                lines.append(f"(auto_explain: {reason}; plans with the values written in)")
                connection.rollback()
                for label, query in queries.items():
                    lines.append(f"{label}:")
                    lines.extend("    " + line for line in _explain_literal(connection, query()))
                return lines
            for setting in AUTO_EXPLAIN:
                connection.execute(text("SET " + setting))
            notices: list[str] = []
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
            for label, query in queries.items():
                for _ in range(PLAN_EXECUTION):
                    notices.clear()
                    connection.execute(query()).all()
                    # The plan comes with the reply to the next statement.
                    connection.execute(text("SELECT 'flush'")).all()
                plans = [n for n in notices if "'flush'" not in n and "plan:" in n]
                lines.append(f"{label} (run {PLAN_EXECUTION}):")
                lines.extend("    " + line for line in _without_query_text(plans))
            connection.rollback()
    finally:
        plan_engine.dispose()
    return lines


def _without_query_text(plans: list[str]) -> list[str]:
    """The last plan auto_explain reported: its duration line and the plan, not the SQL."""
    if not plans:
        return ["no plan reported"]
    first, *rest = plans[-1].splitlines()
    start = next((i for i, line in enumerate(rest) if "(cost=" in line), 0)
    return [first, *rest[start:]]


def _explain_literal(connection: Connection, query: Select[int, str]) -> list[str]:
    compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
    rows = connection.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled))).all()
    return [str(row[0]) for row in rows]


def _plans_sqlite(engine: Engine, queries: dict[str, Callable[[], Select[int, str]]]) -> list[str]:
    """SQLite: EXPLAIN QUERY PLAN with the parameters bound, as the timed calls run them."""
    lines: list[str] = []
    with engine.connect() as connection:
        for label, query in queries.items():
            compiled = query().compile(connection, compile_kwargs={"render_postcompile": True})
            params = compiled.construct_params()
            values = tuple(params[name] for name in compiled.positiontup or ())
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), values).all()
            lines.append(f"{label}:")
            lines.extend(f"    {row[-1]}" for row in rows)
    return lines


def plans(engine: Engine, readers: dict[str, Principal], today: date) -> list[str]:
    """The plans of every timed query, unfiltered and for each principal."""
    queries: dict[str, Callable[[], Select[int, str]]] = {}
    for workload in WORKLOADS:
        queries[f"plan of {workload.label}, no policy filter"] = partial(_unfiltered_for, workload)
        for name, principal in readers.items():
            queries[f"plan of {workload.label}, {name}"] = partial(
                filtered_query, principal, workload, today
            )
    if engine.dialect.name == "sqlite":
        return _plans_sqlite(engine, queries)
    return _plans_as_run(engine, queries)


def measure(
    engine: Engine,
    factory: sessionmaker[Session],
    *,
    warmup: int,
    runs: int,
    budget_s: float,
    show_plans: bool,
    log: Callable[[str], None],
) -> PolicyResult:
    result = PolicyResult()
    readers = principals(factory)
    today = utcnow().date()
    for workload in WORKLOADS:
        group = Group(workload)
        check(factory, group, readers, today)
        log(f"timing {workload.label} with and without the policy filter ...")
        group.timings = time_interleaved(
            cases(factory, group, readers), warmup=warmup, runs=runs, budget_s=budget_s
        )
        result.groups.append(group)
    if show_plans:
        result.plans = plans(engine, readers, today)
    return result


def _over(timing: Timing, base: Timing) -> tuple[float, float]:
    """How far ``timing`` is above ``base``, in percent, at p50 and at p99."""
    return (timing.p50 / base.p50 - 1) * 100, (timing.p99 / base.p99 - 1) * 100


def _verdict(group: Group, kind: str) -> str:
    t = group.timings
    overs = {name: _over(t[f"{kind} {name}"], t["unfiltered"]) for name in PRINCIPALS}
    met = all(max(over) <= AIM_PERCENT for over in overs.values())
    shown = ", ".join(f"{name} {p50:+.0f}%/{p99:+.0f}%" for name, (p50, p99) in overs.items())
    return f"{'met' if met else 'NOT met'} ({shown})"


def report(result: PolicyResult) -> list[str]:
    """The policy cases as a table: latency, and the filtered cases' overhead over unfiltered."""
    width = 56
    head = f"{'case':<{width}}{'p50':>10}{'p99':>10}{'n':>6}{'+p50':>8}{'+p99':>8}{'reach':>8}"
    rule = "-" * len(head)
    lines = [
        "",
        f"Access policy filter: first page of {PAGE} at the domain/SQL level, a session per call "
        "and no HTTP;",
        "each group's cases timed interleaved. +p50, +p99: above the group's unfiltered figure.",
        f"reach: the page's last fetched row (the {PAGE + 1}st) is the reach-th matching row, "
        f"newest first, visible or not ({PAGE + 1} without the filter).",
        "",
        head,
    ]
    for group in result.groups:
        t = group.timings
        base = t["unfiltered"]
        visible = ", ".join(f"{name} {group.visible[name]:,}" for name in PRINCIPALS)
        lines += [
            rule,
            f"{group.workload.label} (published): {group.matching:,} match; visible to {visible}",
        ]

        def row(label: str, timing: Timing, reach: int | None, base: Timing = base) -> str:
            p50, p99 = _over(timing, base)
            over = f"{'':>16}" if timing is base else f"{p50:>+7.0f}%{p99:>+7.0f}%"
            return (
                f"{label:<{width}}{timing.p50:>7.2f} ms{timing.p99:>7.2f} ms"
                f"{len(timing.samples):>6}{over}{'' if reach is None else f'{reach:>8,}'}"
            )

        lines.append(row("  no policy filter: list_query's select, no clause", base, PAGE + 1))
        for name in PRINCIPALS:
            lines.append(row(f"  {name}: list_advisories()", t[f"api {name}"], group.reach[name]))
        for name in PRINCIPALS:
            lines.append(row(f"  {name}: list_query() alone, no audit", t[f"sql {name}"], None))
    lines.append(rule)
    lines.append(
        f"aim, at most {AIM_PERCENT:.0f}% above unfiltered at p50 and p99 for every principal "
        "(+p50/+p99 for each):"
    )
    for group in result.groups:
        lines += [
            f"  {group.workload.name}, list_advisories(): {_verdict(group, 'api')}",
            f"  {group.workload.name}, list_query() alone: {_verdict(group, 'sql')}",
        ]
    lines.append(
        f"{'p50 above unfiltered, in ms':<{width}}" + "".join(f"{name:>17}" for name in PRINCIPALS)
    )
    for group in result.groups:
        t = group.timings
        unfiltered = t["unfiltered"].p50
        name = group.workload.name
        lines += [
            f"{'  ' + name + ': the filter (building it, running it)':<{width}}"
            + "".join(f"{t[f'sql {p}'].p50 - unfiltered:>+17.2f}" for p in PRINCIPALS),
            f"{'  ' + name + ': then list_advisories() (audit, 3 columns)':<{width}}"
            + "".join(f"{t[f'api {p}'].p50 - t[f'sql {p}'].p50:>+17.2f}" for p in PRINCIPALS),
        ]
    lines.extend(result.plans)
    return lines
