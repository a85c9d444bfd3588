"""Batch screening: reading a file of names (JSON or CSV) and writing its report.

Used by ``POST /v1/screen/batch`` and by the batch page alike, so both accept and refuse the
same files in the same words, and give the same report. Every row is validated before anything
is screened; screening then runs a chunk of rows per unit of work (``CHUNK_ROWS``), so a large
batch neither holds one transaction open nor waits to start streaming.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.access.principal import Principal
from service.advisories.schemas import CONTROL_CHARACTERS
from service.db import audited_read
from service.errors import FieldError, InvalidInput, MalformedInput, UnsupportedMediaType
from service.screening import service
from service.screening.index import ScreeningIndex
from service.screening.schemas import BatchResult, ScreenMatch
from service.screening.service import (
    MAX_BATCH_ROWS,
    ScreenRow,
    check_country,
    check_name,
    highest_risk,
)

__all__ = [
    "CSV_MEDIA_TYPE",
    "JSON_MEDIA_TYPE",
    "Batch",
    "check_media_type",
    "csv_report",
    "json_report",
    "parse_csv_upload",
    "parse_upload",
    "screen_batch_results",
]

CHUNK_ROWS = 250
"""Rows screened per unit of work (``audited_read``) while a batch report streams."""
MAX_COLUMNS = 100
"""Columns a batch row may carry besides ``name`` and ``country`` (echoed in the report)."""
MAX_REPORTED_ERRORS = 20
"""A file with thousands of bad rows is refused naming the first ones, not every one."""
CSV_REPORT_COLUMNS = (
    "match_rank",
    "matched_name",
    "matched_country",
    "score",
    "matched_on",
    "highest_risk",
    "advisory_ids",
    "tiers",
    "tlps",
)
CSV_MEDIA_TYPE = "text/csv"
JSON_MEDIA_TYPE = "application/json"
# A spreadsheet runs a cell that starts with one of these as a formula: report cells that would
# (a crafted name from a peer's advisory, or from the uploaded file) get a leading quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii"}


@dataclass
class Batch:
    """The validated rows, and the input columns echoed back (in first-seen order)."""

    rows: list[ScreenRow] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


class _Errors:
    """Collects row errors so one refusal names the first bad rows, not just one of them."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.more = 0

    def add(self, error: InvalidInput) -> None:
        for item in error.errors or (FieldError("rows", error.detail),):
            if len(self.errors) < MAX_REPORTED_ERRORS:
                self.errors.append(item)
            else:
                self.more += 1

    def raise_any(self) -> None:
        if not self.errors:
            return
        named = ", ".join(dict.fromkeys(e.field for e in self.errors))
        more = f" (and {self.more} more)" if self.more else ""
        raise InvalidInput(f"Invalid value for: {named}{more}.", errors=tuple(self.errors))


def _body_error(detail: str) -> InvalidInput:
    return InvalidInput.for_field("body", detail)


def _too_many_rows() -> InvalidInput:
    return InvalidInput.for_field("rows", f"at most {MAX_BATCH_ROWS} rows per batch")


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """The media type, lower case, and the charset parameter if any."""
    media, _, parameters = (content_type or "").partition(";")
    charset = None
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def check_media_type(content_type: str | None) -> None:
    """Refuse (415) a body that is not JSON or CSV in UTF-8."""
    media, charset = _media_type(content_type)
    if media in (JSON_MEDIA_TYPE, CSV_MEDIA_TYPE) and (
        charset is None or charset in _UTF8_CHARSETS
    ):
        return
    detail = f"Send {JSON_MEDIA_TYPE} or {CSV_MEDIA_TYPE} in UTF-8" + (
        f", not {content_type!r}." if content_type else "; the request has no Content-Type."
    )
    raise UnsupportedMediaType(detail, errors=(FieldError("content-type", detail),))


def _decode(body: bytes) -> str:
    """The body as text: UTF-8 (an optional BOM dropped), no NUL, not blank."""
    if not body.strip():
        raise _body_error("is empty")
    if b"\x00" in body:
        # UTF-16 files (Excel's "Unicode text") are full of NUL bytes: say what to do instead.
        raise _body_error("contains NUL bytes: send UTF-8 text")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _body_error(f"is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise _body_error("is empty")
    return text


def _check_text(value: str, name: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise InvalidInput.for_field(name, "must not contain control characters")
    return value


def _row_country(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput.for_field(name, "must be a string")
    # An empty cell (or JSON "") means "country not known", as when the field is absent.
    return check_country(value.strip(), name) if value.strip() else None


def _json_row(item: Any, number: int) -> tuple[ScreenRow, dict[str, Any]]:
    where = f"rows[{number}]"
    if isinstance(item, str):
        return ScreenRow(check_name(item, f"{where}.name")), {}
    if not isinstance(item, dict):
        raise InvalidInput.for_field(where, "must be a name or an object with a name")
    if "name" not in item:
        raise InvalidInput.for_field(f"{where}.name", "is required")
    name = item["name"]
    if not isinstance(name, str):
        raise InvalidInput.for_field(f"{where}.name", "must be a string")
    extra = {key: value for key, value in item.items() if key not in ("name", "country")}
    if len(extra) > MAX_COLUMNS:
        raise InvalidInput.for_field(where, f"at most {MAX_COLUMNS} fields besides the name")
    for key, value in extra.items():
        _check_text(key, where)
        if isinstance(value, dict | list):
            raise InvalidInput.for_field(f"{where}.{key}", "must be a string, number or boolean")
        if isinstance(value, str):
            _check_text(value, f"{where}.{key}")
    row = ScreenRow(
        check_name(name, f"{where}.name"), _row_country(item.get("country"), f"{where}.country")
    )
    return row, extra


def _parse_json(text: str) -> Batch:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedInput(
            "The body is not valid JSON.", errors=(FieldError("body", "is not valid JSON"),)
        ) from None
    if isinstance(document, dict):
        unknown = sorted(set(document) - {"rows"})
        if unknown:
            raise InvalidInput.for_field(unknown[0], "unknown field; send {'rows': [...]}")
        if "rows" not in document:
            raise InvalidInput.for_field("rows", "is required")
        document = document["rows"]
    if not isinstance(document, list):
        raise InvalidInput.for_field("rows", "must be a list of names or objects")
    if not document:
        raise InvalidInput.for_field("rows", "must hold at least one row")
    if len(document) > MAX_BATCH_ROWS:
        raise _too_many_rows()
    batch = Batch()
    errors = _Errors()
    columns: dict[str, None] = {}  # first-seen order
    for number, item in enumerate(document, start=1):
        try:
            row, extra = _json_row(item, number)
        except InvalidInput as exc:
            errors.add(exc)
            continue
        batch.rows.append(row)
        batch.fields.append(extra)
        columns.update(dict.fromkeys(extra))
    errors.raise_any()
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput.for_field("rows", f"at most {MAX_COLUMNS} distinct fields in a batch")
    batch.columns = list(columns)
    return batch


@dataclass(frozen=True)
class _Header:
    name: int
    country: int | None
    columns: tuple[tuple[int, str], ...]


def _header(cells: list[str]) -> _Header | None:
    """The positions of ``name``, ``country`` and echoed columns; None without a name column."""
    folded = [cell.strip().casefold() for cell in cells]
    names = [i for i, cell in enumerate(folded) if cell == "name"]
    countries = [i for i, cell in enumerate(folded) if cell == "country"]
    if not names:
        return None
    for key, found in (("name", names), ("country", countries)):
        if len(found) > 1:
            raise InvalidInput.for_field(key, f"the header has {len(found)} {key} columns")
    # Spreadsheets add unnamed columns at the right: those are not the user's data.
    columns = tuple(
        (i, _check_text(cell.strip(), "header"))
        for i, cell in enumerate(cells)
        if i not in (names[0], *countries) and cell.strip()
    )
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput.for_field("header", f"at most {MAX_COLUMNS} columns besides name")
    labels = [label for _, label in columns]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InvalidInput.for_field("header", f"repeated column: {repeated[0]}")
    return _Header(names[0], countries[0] if countries else None, columns)


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records of ``text`` with the line each ends on; csv errors as 422s."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            record = next(reader, None)
        except csv.Error as exc:
            raise _body_error(f"line {reader.line_num}: {exc}") from None
        if record is None:
            return
        # Blank lines, and the empty rows spreadsheets leave at the end, are not rows.
        if any(cell.strip() for cell in record):
            yield reader.line_num, record


def _parse_csv(text: str) -> Batch:
    """Rows of a CSV file whose header has a ``name`` column.

    Comma-separated as RFC 4180 has it; a file whose header only has a ``name`` column when
    split on semicolons or tabs (what spreadsheets save in many locales) is read that way.
    """
    for delimiter in (",", ";", "\t"):
        records = _records(text, delimiter)
        first = next(records, None)
        if first is None:
            raise _body_error("is empty")
        header = _header(first[1])
        if header is not None:
            break
    else:
        raise InvalidInput.for_field("name", "the CSV header has no 'name' column")
    batch = Batch(columns=[label for _, label in header.columns])
    errors = _Errors()
    width = max([header.name, header.country or 0, *(i for i, _ in header.columns)]) + 1
    number = 0
    for line, record in records:
        number += 1
        if number > MAX_BATCH_ROWS:
            raise _too_many_rows()
        where = f"rows[{number}]"
        try:
            if any(cell.strip() for cell in record[width:]):
                raise InvalidInput.for_field(
                    where, f"line {line}: more cells than the header has columns"
                )
            cells = record + [""] * (width - len(record))
            extra = {
                label: _check_text(cells[i], f"{where}.{label}") for i, label in header.columns
            }
            country = cells[header.country] if header.country is not None else None
            row = ScreenRow(
                check_name(cells[header.name], f"{where}.name"),
                _row_country(country, f"{where}.country"),
            )
        except InvalidInput as exc:
            errors.add(exc)
            continue
        batch.rows.append(row)
        batch.fields.append(extra)
    errors.raise_any()
    if number == 0:
        raise InvalidInput.for_field("rows", "the CSV has a header but no rows")
    return batch


def parse_csv_upload(body: bytes) -> Batch:
    """The rows of a CSV file, every one validated before anything is screened; the batch
    page reads its uploads with this too, so both refuse the same files in the same words."""
    return _parse_csv(_decode(body))


def parse_upload(body: bytes, content_type: str | None) -> Batch:
    """The rows of a JSON or CSV body (by its ``Content-Type``), all validated."""
    check_media_type(content_type)
    if _media_type(content_type)[0] == CSV_MEDIA_TYPE:
        return parse_csv_upload(body)
    return _parse_json(_decode(body))


def _screened(
    factory: sessionmaker[Session],
    *,
    principal: Principal,
    index: ScreeningIndex,
    batch: Batch,
    now: datetime,
) -> Iterator[list[BatchResult]]:
    """The batch's results a chunk at a time, each chunk screened (and audited) in its own
    unit of work (``audited_read``), so a large batch neither holds one transaction open nor
    waits to start."""
    for start in range(0, len(batch.rows), CHUNK_ROWS):
        rows = batch.rows[start : start + CHUNK_ROWS]
        with audited_read(factory) as session:
            results = service.screen_rows(
                session, principal=principal, index=index, rows=rows, now=now
            )
        yield [
            BatchResult(
                query=result.query,
                country=result.country,
                matches=result.matches,
                row=start + offset + 1,
                fields=batch.fields[start + offset],
            )
            for offset, result in enumerate(results)
        ]


def json_report(count: int, chunks: Iterator[list[BatchResult]]) -> Iterator[str]:
    yield f'{{"count":{count},"results":['
    separator = ""
    for chunk in chunks:
        if chunk:
            yield separator + ",".join(result.model_dump_json() for result in chunk)
            separator = ","
    yield "]}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _match_cells(rank: int, match: ScreenMatch) -> list[str]:
    advisories = match.advisories
    return [
        str(rank),
        _cell(match.subject.name),
        _cell(match.subject.country),
        f"{match.score:.3f}",
        _cell(match.matched_on),
        highest_risk(advisories) or "",
        " ".join(a.id for a in advisories),
        " ".join(a.tier for a in advisories),
        " ".join(a.tlp for a in advisories),
    ]


def csv_report(columns: Sequence[str], chunks: Iterator[list[BatchResult]]) -> Iterator[str]:
    """The CSV report (see ``screen_batch``), a piece per chunk of results; ``columns`` are the
    input's echoed columns. The batch page sends the same report."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # The BOM makes spreadsheets read the file as UTF-8 (Chinese and Cyrillic names).
    buffer.write("\ufeff")
    writer.writerow(["row", "name", "country", *map(_cell, columns), *CSV_REPORT_COLUMNS])
    for chunk in chunks:
        for result in chunk:
            leading = [
                str(result.row),
                _cell(result.query),
                _cell(result.country),
                *(_cell(result.fields.get(column)) for column in columns),
            ]
            if not result.matches:
                writer.writerow(leading + [""] * len(CSV_REPORT_COLUMNS))
            for rank, match in enumerate(result.matches, start=1):
                writer.writerow(leading + _match_cells(rank, match))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _prepended(
    first: list[BatchResult], rest: Iterator[list[BatchResult]]
) -> Iterator[list[BatchResult]]:
    yield first
    yield from rest


def screen_batch_results(
    factory: sessionmaker[Session],
    *,
    principal: Principal,
    index: ScreeningIndex,
    batch: Batch,
    now: datetime,
) -> Iterator[list[BatchResult]]:
    """The batch's results a chunk at a time, the first chunk screened before this returns: a
    failure there is still a proper error response, and a batch that fits one chunk is
    answered before anything streams."""
    chunks = _screened(factory, principal=principal, index=index, batch=batch, now=now)
    return _prepended(next(chunks), chunks)
