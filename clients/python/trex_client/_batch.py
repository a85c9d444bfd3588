"""Batch screening: the upload, and reading the streamed report as it arrives.

The node streams the report a chunk of rows at a time, in input order. The readers here count
the rows received so far (for a progress display) without waiting for the whole report, and
either keep the report or pass it on to a file as it comes.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import TypeAdapter, ValidationError

from trex_client._errors import InvalidResponse
from trex_client._models import BatchReport

__all__ = [
    "BatchInput",
    "BatchUpload",
    "CsvReport",
    "JsonReport",
    "Progress",
    "ReportFormat",
    "Writable",
    "prepare_upload",
]

ReportFormat = Literal["json", "csv"]
BatchInput = str | bytes | os.PathLike[str] | Iterable[str | Mapping[str, Any]]
"""CSV text (``str`` or ``bytes``) with a ``name`` column; a path to a ``.csv`` or ``.json``
file; or rows, each a name or a mapping with ``name``, optionally ``country``, and any other
fields (echoed back in the report)."""
Progress = Callable[[int, int | None], None]
"""Called as ``progress(rows_received, rows_sent)`` while the report arrives (``rows_sent`` is
``None`` when it cannot be known before the report says)."""

# Rows as JSON-compatible Python (a date in an echoed field, a tuple): pydantic's serialiser.
_JSON: TypeAdapter[Any] = TypeAdapter(Any)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"


class Writable(Protocol):
    """Where a streamed report goes: a file opened in binary mode, ``sys.stdout.buffer`` …"""

    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class BatchUpload:
    """The request body of a batch, and how many rows it holds (``None`` if unknown)."""

    content: bytes
    content_type: str
    rows: int | None


def count_csv_rows(text: str) -> int | None:
    """The rows of a CSV upload as the node counts them: non-blank records under the header."""
    try:
        records = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    except csv.Error:
        return None
    return max(0, len(records) - 1)


def _json_upload(rows: Any) -> BatchUpload:
    listed = rows.get("rows") if isinstance(rows, dict) else rows
    count = len(listed) if isinstance(listed, list) else None
    content = json.dumps(_JSON.dump_python(rows, mode="json"), ensure_ascii=False).encode()
    return BatchUpload(content, JSON_MEDIA_TYPE, count)


def _csv_upload(content: bytes) -> BatchUpload:
    text = content.decode("utf-8-sig", errors="replace")
    return BatchUpload(content, CSV_MEDIA_TYPE, count_csv_rows(text))


def prepare_upload(rows: BatchInput) -> BatchUpload:
    """The body for ``rows``: CSV as given, a path read (JSON when it ends in ``.json``), and
    rows as a JSON list."""
    if isinstance(rows, str):
        return _csv_upload(rows.encode())
    if isinstance(rows, bytes):
        return _csv_upload(rows)
    if isinstance(rows, os.PathLike):
        path = Path(rows)
        content = path.read_bytes()
        if path.suffix.lower() == ".json":
            try:
                parsed = json.loads(content)
            except ValueError:
                # Sent as it is: the node's 400 names the problem better than we could.
                return BatchUpload(content, JSON_MEDIA_TYPE, None)
            return _json_upload(parsed)
        return _csv_upload(content)
    return _json_upload(list(rows))


class _Report:
    """Collects (or passes on) the report's bytes and reports progress."""

    def __init__(self, output: Writable | None, progress: Progress | None, sent: int | None):
        self.output = output
        self.progress = progress
        self.total = sent
        self.received = 0
        self._chunks: list[bytes] = []
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")

    def feed(self, chunk: bytes) -> None:
        if self.output is not None:
            self.output.write(chunk)
        else:
            self._chunks.append(chunk)
        before = self.received
        self._count(self._decoder.decode(chunk))
        if self.progress is not None and self.received != before:
            self.progress(self.received, self.total)

    def _count(self, text: str) -> None:
        raise NotImplementedError

    def body(self) -> bytes:
        return b"".join(self._chunks)

    def done(self) -> None:
        self._count(self._decoder.decode(b"", final=True))
        if self.progress is not None:
            self.progress(self.received, self.total if self.total is not None else self.received)


_COUNT = re.compile(r'\s*\{\s*"count"\s*:\s*(\d+)')
_IN_STRING = re.compile(r'["\\]')
_OUTSIDE_STRING = re.compile(r'["{}\[\]]')


class JsonReport(_Report):
    """The JSON report ``{"count": N, "results": [{…}, …]}``: each object closed at depth 2
    (inside ``results``) is one row received. ``count`` comes first, so the total is exact."""

    def __init__(self, output: Writable | None, progress: Progress | None, sent: int | None):
        super().__init__(output, progress, sent)
        self._head = ""
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def _count(self, text: str) -> None:
        if len(self._head) < 64:
            self._head += text[:64]
            found = _COUNT.match(self._head)
            if found:
                self.total = int(found.group(1))
        position = 0
        if self._escaped and text:
            self._escaped = False
            position = 1
        while position < len(text):
            if self._in_string:
                found = _IN_STRING.search(text, position)
                if found is None:
                    return
                position = found.end()
                if found.group() == "\\":
                    if position >= len(text):
                        self._escaped = True
                        return
                    position += 1
                else:
                    self._in_string = False
                continue
            found = _OUTSIDE_STRING.search(text, position)
            if found is None:
                return
            position = found.end()
            character = found.group()
            if character == '"':
                self._in_string = True
            elif character in "{[":
                self._depth += 1
            else:
                self._depth -= 1
                if character == "}" and self._depth == 2:
                    self.received += 1

    def report(self) -> BatchReport:
        try:
            return BatchReport.model_validate_json(self.body())
        except ValidationError as exc:
            raise InvalidResponse(f"The batch report could not be read: {exc}") from exc


class CsvReport(_Report):
    """The CSV report: one line per match, one per row without a match, each starting with
    the row's number. A record ends at a line break outside quotes."""

    def __init__(self, output: Writable | None, progress: Progress | None, sent: int | None):
        super().__init__(output, progress, sent)
        self._record = ""
        self._quoted = False
        self._header_seen = False

    def _count(self, text: str) -> None:
        *complete, rest = text.split("\n")
        for line in complete:
            self._line(line + "\n")
        self._record += rest
        self._quoted ^= rest.count('"') % 2 == 1

    def _line(self, line: str) -> None:
        self._record += line
        # An odd number of quotes on a line opens or closes a quoted cell ("" inside one
        # counts twice, so it changes nothing).
        self._quoted ^= line.count('"') % 2 == 1
        if self._quoted:
            return
        record, self._record = self._record, ""
        if not self._header_seen:
            self._header_seen = True
            return
        try:
            first = next(csv.reader([record]), [""])
        except csv.Error:
            return
        if first and first[0].isdigit():
            self.received = max(self.received, int(first[0]))

    def text(self) -> str:
        return self.body().decode("utf-8-sig")
