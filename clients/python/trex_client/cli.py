"""The ``trex`` command: screen names, read and publish advisories, review a collaboration.

Configured by ``TREX_URL`` (default ``http://127.0.0.1:8000``) and ``TREX_TOKEN``; ``--url``
and ``--token`` override them. An error from the node prints its detail on stderr and exits 1;
a usage error exits 2. Only the standard library and ``trex_client`` are used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any

from trex_client._batch import ReportFormat
from trex_client._client import TrexClient
from trex_client._errors import TrexAPIError, TrexError
from trex_client._models import (
    Advisory,
    NonPublicResources,
    Organisation,
    Review,
    ReviewInput,
    ScreenResult,
)
from trex_client._version import __version__

__all__ = ["DEFAULT_URL", "build_parser", "main"]

DEFAULT_URL = "http://127.0.0.1:8000"
RISKS = ("very_high", "high", "medium", "low")
RISK_ORDER = {risk: rank for rank, risk in enumerate(reversed(RISKS))}
RESOURCES = ("data", "compute", "know_how", "equipment", "funding", "none")
_EXIT_ERROR = 1
_EXIT_USAGE = 2

Runner = Callable[[TrexClient, argparse.Namespace], int]


# --- text layout ------------------------------------------------------------------------------


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: CJK characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns (with an ellipsis when cut)."""
    if _width(text) <= width:
        return text
    kept = ""
    for character in text:
        if _width(kept + character) > width - 1:
            break
        kept += character
    return kept + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], limits: Sequence[int]) -> str:
    """A plain text table, columns padded by display width."""
    cells = [[_fit(cell, limit) for cell, limit in zip(row, limits, strict=True)] for row in rows]
    widths = [
        max([_width(header), *(_width(row[i]) for row in cells)])
        for i, header in enumerate(headers)
    ]
    lines = []
    for row in [list(headers), *cells]:
        padded = [
            cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _words(value: str) -> str:
    return value.replace("_", " ")


def _wrap(text: str, indent: str = "", hanging: int = 0) -> str:
    """``text`` filled to the terminal (at most 100 columns); ``hanging`` indents every line
    but the first a little more (under a bullet's text)."""
    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    return textwrap.fill(
        text, width=width, initial_indent=indent, subsequent_indent=indent + " " * hanging
    )


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


# --- screen -----------------------------------------------------------------------------------


def _highest_risk(risks: Iterable[str]) -> str:
    known = [risk for risk in risks if risk in RISK_ORDER]
    return max(known, key=RISK_ORDER.__getitem__) if known else ""


def _screen_table(results: Sequence[ScreenResult]) -> str:
    rows: list[list[str]] = []
    for result in results:
        if not result.matches:
            rows.append([result.query, "(no match)", "", "", "", "", ""])
        for rank, match in enumerate(result.matches):
            advisories = match.advisories
            rows.append(
                [
                    result.query if rank == 0 else "",
                    match.subject.name,
                    match.subject.country or "",
                    f"{match.score:.2f}",
                    _words(_highest_risk(a.risk for a in advisories)),
                    str(len(advisories)),
                    match.matched_on,
                ]
            )
    headers = ("NAME", "MATCH", "COUNTRY", "SCORE", "RISK", "ADVISORIES", "MATCHED ON")
    return _table(headers, rows, (40, 45, 7, 5, 9, 10, 50))


class _ProgressBar:
    """Rows received of rows sent, on stderr: a bar redrawn in place on a terminal; otherwise
    a line now and then (every tenth of the way, or every 1,000 rows when the total is not
    known), so a log stays readable."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = -1
        self.step = -1

    def __call__(self, received: int, total: int | None) -> None:
        if received == self.shown:
            return
        if self.tty:
            self._draw(received, total)
            return
        step = received * 10 // total if total else received // 1000
        finished = total is not None and received >= total
        if step != self.step or finished:
            self.step = step
            self.shown = received
            of = f"/{total}" if total is not None else ""
            print(f"screened {received}{of} rows", file=self.stream, flush=True)

    def _draw(self, received: int, total: int | None) -> None:
        self.shown = received
        if total:
            done = min(30, received * 30 // total)
            bar = "#" * done + "-" * (30 - done)
            text = f"\r[{bar}] {received}/{total} rows"
        else:
            text = f"\r{received} rows"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


class _LazyFile:
    """A binary file created only when the first byte of the report arrives, so a refused
    batch leaves no empty report behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[bytes] | None = None

    def write(self, data: bytes, /) -> int:
        if self.file is None:
            self.file = self.path.open("wb")
        return self.file.write(data)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _screen_file(client: TrexClient, args: argparse.Namespace) -> int:
    output: Path | None = args.output
    report_format: ReportFormat = args.format or (
        "json" if output is not None and output.suffix.lower() == ".json" else "csv"
    )
    progress = _ProgressBar(sys.stderr)
    sink = _LazyFile(output) if output is not None else None
    try:
        if sink is not None:
            rows = client.screen_batch(
                args.file, format=report_format, output=sink, progress=progress
            )
        else:
            sys.stdout.flush()
            client.screen_batch(
                args.file, format=report_format, output=sys.stdout.buffer, progress=progress
            )
            sys.stdout.buffer.flush()
    except BaseException:
        if sink is not None:
            sink.close()
            if sink.file is not None:
                # Half a report looks like a whole one in a spreadsheet: better none at all.
                sink.path.unlink(missing_ok=True)
        raise
    finally:
        progress.close()
    if sink is not None:
        sink.close()
        print(f"{rows} rows screened; report written to {output}", file=sys.stderr)
    return 0


def _screen(client: TrexClient, args: argparse.Namespace) -> int:
    if args.file is not None:
        return _screen_file(client, args)
    results = [client.screen(name, country=args.country, limit=args.limit) for name in args.names]
    if args.json:
        _print_json([result.model_dump(mode="json") for result in results])
    else:
        print(_screen_table(results))
    return 0


# --- advisories -------------------------------------------------------------------------------


def _advisory_rows(advisories: Iterable[Advisory]) -> list[list[str]]:
    return [
        [a.id, _words(a.risk), a.tier, a.tlp.upper(), a.subject.country, a.subject.name]
        for a in advisories
    ]


def _list_advisories(client: TrexClient, args: argparse.Namespace) -> int:
    filters = {
        name: getattr(args, name)
        for name in ("country", "risk", "tier", "category", "origin", "status", "q")
        if getattr(args, name) is not None
    }
    page_size = min(args.limit, 500) if args.limit else 100
    advisories: Iterable[Advisory] = client.advisories(page_size=page_size, **filters)
    if args.limit:
        advisories = islice(advisories, args.limit)
    if args.json:
        # Written as it is fetched: a node may hold tens of thousands.
        separator = "[\n"
        for advisory in advisories:
            text = json.dumps(advisory.model_dump(mode="json"), ensure_ascii=False)
            sys.stdout.write(separator + "  " + text)
            separator = ",\n"
        sys.stdout.write("[]\n" if separator == "[\n" else "\n]\n")
        return 0
    rows = _advisory_rows(advisories)
    if not rows:
        print("No advisories.")
        return 0
    headers = ("ID", "RISK", "TIER", "TLP", "COUNTRY", "SUBJECT")
    print(_table(headers, rows, (36, 9, 10, 12, 7, 60)))
    return 0


def _advisory_text(a: Advisory) -> str:
    subject = a.subject
    lines = [f"{subject.name} ({subject.country}, {_words(subject.kind)})"]
    if subject.names:
        names = "; ".join(
            f"{n.value} ({', '.join(filter(None, [n.type, n.lang]))})" for n in subject.names
        )
        lines.append(f"  also: {names}")
    facts = [
        ("id", a.id),
        ("revision", f"{a.revision} · {a.status} · origin {a.origin}"),
        ("tier / TLP", f"{a.tier} · TLP:{a.tlp.upper()}"),
        ("risk", f"{_words(a.risk)} (confidence {a.confidence})"),
        ("action", _words(a.recommended_action)),
        ("categories", ", ".join(a.categories)),
        ("technologies", ", ".join(a.technologies)),
        (
            "listings",
            "; ".join(
                " ".join(filter(None, [item.list, str(item.listed_on or ""), item.citation]))
                for item in a.listings
            ),
        ),
        ("valid from", str(a.valid_from or "")),
        ("review by", str(a.review_by or "")),
        ("updated", a.updated_at.isoformat()),
        ("withdrawn", a.withdrawal_reason or ""),
    ]
    lines.append("")
    lines.extend(f"{label:<13} {value}" for label, value in facts if value)
    lines += ["", "Summary", _wrap(a.summary, "  ")]
    if a.detail:
        lines += ["", "Detail", _wrap(a.detail, "  ")]
    if a.sources:
        lines += ["", "Sources"]
        for source in a.sources:
            described = ", ".join(filter(None, [source.title, source.publisher, source.url]))
            lines.append(f"  - {described}")
    return "\n".join(lines)


def _show_advisory(client: TrexClient, args: argparse.Namespace) -> int:
    advisory = client.advisory(args.id)
    if args.json:
        _print_json(advisory.model_dump(mode="json"))
    else:
        print(_advisory_text(advisory))
    return 0


class _BadFile(Exception):
    """A file named on the command line cannot be used."""


def _read_document(name: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _BadFile(f"cannot read {name}: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _BadFile(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise _BadFile(f"{name} must hold one advisory, a JSON object")
    return document


def _publish_advisory(client: TrexClient, args: argparse.Namespace) -> int:
    advisory = client.publish(_read_document(args.file))
    if args.json:
        _print_json(advisory.model_dump(mode="json"))
    else:
        print(
            f"{advisory.status.capitalize()} advisory {advisory.id} "
            f"(revision {advisory.revision}): {advisory.subject.name}"
        )
    return 0


# --- review -----------------------------------------------------------------------------------


def _review_text(review: Review) -> str:
    lines = [f"Concern level: {(review.concern_level or 'withheld').upper()}"]
    if review.withheld:
        lines.append(_wrap(review.withheld))
    for number, answer in enumerate(review.questions, start=1):
        lines += ["", _wrap(f"{number}. {answer.question}", hanging=3)]
        lines += [f"   concern: {answer.concern}", _wrap(answer.answer, "   ")]
        lines.extend(_wrap(f"- {finding.detail}", "   ", 2) for finding in answer.findings)
    matched = [o for o in review.organisations if o.matches]
    if matched:
        lines += ["", "Organisations"]
        for organisation in matched:
            names = ", ".join(match.subject.get("name", "?") for match in organisation.matches)
            highest = organisation.highest_risk
            risk = f" ({_words(highest)} risk)" if highest else ""
            lines.append(
                _wrap(f"- {organisation.role}: {organisation.name} → {names}{risk}", "  ", 2)
            )
    if review.guidance:
        lines += ["", "Guidance"]
        lines.extend(_wrap(f"- {step}", "  ", 2) for step in review.guidance)
    lines += ["", _wrap(review.notice), "", f"Review {review.id}"]
    return "\n".join(lines)


def _review(client: TrexClient, args: argparse.Namespace) -> int:
    review_in = ReviewInput(
        title=args.title,
        partners=[Organisation(name=name) for name in args.partner],
        research_area=args.research_area,
        technologies=args.technology or [],
        non_public_resources=NonPublicResources(
            kinds=args.resource or ["none"], description=args.resource_description or ""
        ),
        applications=args.applications,
        funding_sources=[Organisation(name=name) for name in args.funder or []],
    )
    review = client.review(review_in)
    if args.json:
        _print_json(review.model_dump(mode="json"))
    else:
        print(_review_text(review))
    return 0


# --- the parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``trex`` argument parser."""
    # --url and --token are accepted before or after the command; SUPPRESS keeps a subcommand
    # from overwriting a value given before it with its own default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help=f"the node (TREX_URL; default {DEFAULT_URL})"
    )
    common.add_argument(
        "--token", default=argparse.SUPPRESS, help="your bearer token, trex_… (TREX_TOKEN)"
    )
    parser = argparse.ArgumentParser(
        prog="trex",
        description="Screen partners, read and publish advisories, and review collaborations "
        "on a trex node.",
        parents=[common],
        epilog="Without a token you are anonymous and see only TLP:CLEAR advisories.",
    )
    parser.add_argument("--version", action="version", version=f"trex-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    screen = commands.add_parser(
        "screen",
        parents=[common],
        help="screen names, or a CSV file of them",
        description="Screen names (any script, acronyms, affiliation lines) against the "
        "advisories you may see. With --file, screen a CSV file with a 'name' column (and "
        "optionally 'country'; other columns are echoed) and write a CSV or JSON report.",
    )
    screen.add_argument("names", nargs="*", metavar="NAME", help="names to screen")
    screen.add_argument("--country", help="keep only organisations in this country (e.g. CN)")
    screen.add_argument("--limit", type=int, default=10, help="matches per name (default 10)")
    screen.add_argument("--json", action="store_true", help="print the results as JSON")
    screen.add_argument("--file", type=Path, help="a CSV (or .json) file of names")
    screen.add_argument("--output", "-o", type=Path, help="write the report here (with --file)")
    screen.add_argument(
        "--format",
        choices=("csv", "json"),
        help="report format (with --file; default from --output's suffix, else csv)",
    )
    screen.set_defaults(run=_screen)

    advisories = commands.add_parser("advisories", help="list, show or publish advisories")
    actions = advisories.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list visible advisories")
    listing.add_argument("--country", help="ISO 3166-1 alpha-2 code, e.g. CN")
    listing.add_argument("--risk", choices=RISKS)
    listing.add_argument("--tier", choices=("academia", "government"))
    listing.add_argument("--category", help="e.g. seven_sons")
    listing.add_argument("--origin", help="the node that owns the advisory")
    listing.add_argument("--status", choices=("published", "draft", "withdrawn", "all"))
    listing.add_argument("--q", help="text in the subject's names or identifiers")
    listing.add_argument("--limit", type=int, help="at most this many (default: all)")
    listing.add_argument("--json", action="store_true", help="print the advisories as JSON")
    listing.set_defaults(run=_list_advisories)
    show = actions.add_parser("show", parents=[common], help="show one advisory")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print the advisory as JSON")
    show.set_defaults(run=_show_advisory)
    publish = actions.add_parser(
        "publish", parents=[common], help="publish an advisory from a JSON file"
    )
    publish.add_argument("file", metavar="FILE.json", help="the advisory ('-' for stdin)")
    publish.add_argument("--json", action="store_true", help="print the stored advisory")
    publish.set_defaults(run=_publish_advisory)

    review = commands.add_parser(
        "review",
        parents=[common],
        help="review a proposed collaboration",
        description="Answer the three questions of a collaboration review from the advisories "
        "you may see, with a concern level and guidance. It informs; it never decides.",
    )
    review.add_argument(
        "--partner",
        action="extend",
        nargs="+",
        required=True,
        metavar="NAME",
        help="a partner organisation or affiliation line (repeatable)",
    )
    review.add_argument("--research-area", required=True, help="what the research is about")
    review.add_argument("--applications", required=True, help="its likely applications")
    review.add_argument(
        "--technology",
        action="extend",
        nargs="+",
        metavar="TAG",
        help="technology tags as advisories use them, e.g. ai, aerospace",
    )
    review.add_argument(
        "--resource",
        action="extend",
        nargs="+",
        choices=RESOURCES,
        metavar="KIND",
        help=f"non-public resources the partners get: {', '.join(RESOURCES)} (default: none)",
    )
    review.add_argument("--resource-description", help="what exactly is shared")
    review.add_argument(
        "--funder", action="extend", nargs="+", metavar="NAME", help="a funding organisation"
    )
    review.add_argument("--title", help="a title for the stored review")
    review.add_argument("--json", action="store_true", help="print the review as JSON")
    review.set_defaults(run=_review)
    return parser


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.command != "screen":
        return
    if args.file is None and not args.names:
        parser.error("screen: give names, or --file names.csv")
    if args.file is not None and args.names:
        parser.error("screen: give names or --file, not both")
    if args.file is None and (args.output is not None or args.format is not None):
        parser.error("screen: --output and --format go with --file")


def _report(error: TrexError) -> None:
    print(f"trex: {error}", file=sys.stderr)
    if isinstance(error, TrexAPIError):
        for field_error in error.errors:
            # Many problems name one field with the detail already printed: say it once.
            if field_error.detail not in error.detail:
                print(f"  {field_error.field}: {field_error.detail}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``trex`` with ``argv`` (default: the command line); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_usage(parser, args)
    url = getattr(args, "url", None) or os.environ.get("TREX_URL") or DEFAULT_URL
    token = getattr(args, "token", None) or os.environ.get("TREX_TOKEN") or None
    run: Runner = args.run
    try:
        with TrexClient(url, token) as client:
            return run(client, args)
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python from complaining
        # again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _EXIT_ERROR
    except TrexError as exc:
        _report(exc)
        return _EXIT_ERROR
    except (_BadFile, OSError) as exc:
        print(f"trex: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
