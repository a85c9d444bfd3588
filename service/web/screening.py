"""Pages: ``/screen`` (one name, for anyone) and ``/screen/batch`` (a CSV file, for members).

Both go through the same domain calls as ``/v1/screen`` and ``/v1/screen/batch``, with the
page's viewer as the principal, so a page shows exactly what that viewer could fetch from the
API, and the same screens are audited. The batch upload is read and reported by the API's own
parser and CSV writer: a file the API refuses, the page refuses in the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from service.api.deps import NowDep, ScreeningIndexDep, SessionFactoryDep
from service.db import transaction
from service.errors import FieldError, InvalidInput, MalformedInput, to_problem
from service.screening import service
from service.screening.batch import (
    CSV_MEDIA_TYPE,
    csv_report,
    parse_csv_upload,
    screen_batch_results,
)
from service.screening.schemas import ScreenMatch, ScreenResult
from service.screening.service import (
    MAX_BATCH_ROWS,
    MAX_NAME_CHARS,
    check_country,
    check_name,
    highest_risk,
)
from service.web.render import WebRoute, country_name, render
from service.web.security import MemberDep, ViewerDep, check_csrf

__all__ = [
    "BATCH_UPLOAD_PATH",
    "REPORT_FILENAME",
    "SCREEN_PATH",
    "describe_match",
    "router",
]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SCREEN_PATH = "/screen"
BATCH_UPLOAD_PATH = "/screen/batch"
"""The page's upload: ``BodySizeLimit`` allows it the API batch's larger body."""
REPORT_FILENAME = "trex-screening-report.csv"
# The multipart envelope around the file (boundaries, part headers, the CSRF field) counts
# against the body limit too; the page announces (and its script checks) a file limit this
# much under it, so a file said to fit does fit.
_MULTIPART_ALLOWANCE = 16 * 1024
_FILE_FIELD = "file"
_FIELD_LABELS = {"q": "The name", "country": "The country code"}

# --- what matched, in words -------------------------------------------------------------------

# ``matched_on`` is "<rule>: <indexed name>", then "(<note>; <note>)" for how the query was
# read (service.screening.index). The rules and notes are the index's fixed vocabulary.
_RULES = {
    "name": "its name",
    "official name": "its official name",
    "alias": "another name it is known by",
    "former name": "a former name",
    "translation": "a translation of its name",
    "acronym": "its acronym",
    "acronym derived from": "the initials of its name",
    "transliteration of": "a transliteration of its name",
    "name without its city": "its name without the city",
    "pinyin of": "the pinyin (Latin letters) of its Chinese name",
    "chinese short form of": "a common Chinese short form of its name",
    "chinese name": "its Chinese name",
    "chinese official name": "its official Chinese name",
    "chinese alias": "another Chinese name it is known by",
    "chinese former name": "a former Chinese name",
    "chinese translation": "a Chinese translation of its name",
}
_NOTES = {
    "in an affiliation line": "found in an affiliation line",
    "location ignored": "the place name after it set aside",
    "with its acronym": "followed by its acronym",
    "a unit of it": "naming a school, institute or other unit of it",
    "a company of that name": "a company with that distinctive name",
    "spelling corrected": "allowing for a spelling slip",
    "in a longer name": "inside a longer name",
}
_IDENTIFIER = re.compile(r"identifier \((?P<scheme>[^)]+)\)")
_TRAILING_NOTE = re.compile(r" \((?P<notes>[^()]*)\)$")


def _rule_words(rule: str) -> str | None:
    if rule in _RULES:
        return _RULES[rule]
    if rule.endswith(" (shortened)") and rule.removesuffix(" (shortened)") in _RULES:
        return "a shortened form of " + _RULES[rule.removesuffix(" (shortened)")]
    identifier = _IDENTIFIER.fullmatch(rule)
    if identifier:
        return f"its {_identifier_label(identifier['scheme'])} identifier"
    return None


def describe_match(matched_on: str, matched_text: str) -> str:
    """What matched, as a sentence a research security officer reads without the index's terms.

    A rule this page does not know is shown as the index wrote it rather than guessed at.
    """
    rule, _, label = matched_on.partition(": ")
    notes: list[str] = []
    trailing = _TRAILING_NOTE.search(label)
    # Only a parenthesis made of known notes is a note: "Global Unichip (Taiwan)" is a name.
    if trailing and all(n in _NOTES for n in trailing["notes"].split("; ")):
        notes = [_NOTES[n] for n in trailing["notes"].split("; ")]
        label = label[: trailing.start()]
    words = _rule_words(rule)
    if words is None or not label:
        return f"“{matched_text}” matched: {matched_on}."
    sentence = f"“{matched_text}” matched {words}, {label}"
    if notes:
        sentence += f" ({'; '.join(notes)})"
    return sentence + "."


# --- one name ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identifier:
    label: str
    value: str
    url: str | None


@dataclass(frozen=True)
class _MatchView:
    match: ScreenMatch
    what_matched: str
    highest_risk: str | None
    country_name: str
    identifiers: list[_Identifier]


_ROR_ID = re.compile(r"(?:https://ror\.org/)?(?P<id>0[a-z0-9]{6}[0-9]{2})")
_WIKIDATA_ID = re.compile(r"(?:https?://www\.wikidata\.org/(?:wiki|entity)/)?(?P<id>Q[0-9]+)")


def _identifier_label(scheme: str) -> str:
    return {"ror": "ROR", "wikidata": "Wikidata"}.get(scheme.lower(), scheme.upper())


def _identifier(scheme: str, value: str) -> _Identifier:
    # Links are built from the identifier itself, never from a URL an advisory supplies.
    url = None
    if scheme.lower() == "ror" and (ror := _ROR_ID.fullmatch(value)):
        url = f"https://ror.org/{ror['id']}"
    elif scheme.lower() == "wikidata" and (item := _WIKIDATA_ID.fullmatch(value)):
        url = f"https://www.wikidata.org/wiki/{item['id']}"
    return _Identifier(_identifier_label(scheme), value, url)


def _match_view(match: ScreenMatch) -> _MatchView:
    return _MatchView(
        match=match,
        what_matched=describe_match(match.matched_on, match.matched_text),
        highest_risk=highest_risk(match.advisories),
        country_name=country_name(match.subject.country),
        identifiers=[_identifier(k, v) for k, v in sorted(match.subject.identifiers.items())],
    )


def _query_errors(q: str, country: str | None) -> dict[str, str]:
    """Every bad field at once (the domain's own checks), in words for the form."""
    errors: dict[str, str] = {}
    try:
        check_name(q, "q")
    except InvalidInput as exc:
        errors.update(_form_errors(exc, "q"))
    try:
        check_country(country, "country")
    except InvalidInput as exc:
        errors.update(_form_errors(exc, "country"))
    return errors


def _form_errors(exc: InvalidInput, default: str) -> dict[str, str]:
    found = exc.errors or (FieldError(default, exc.detail),)
    return {e.field: f"{_FIELD_LABELS.get(e.field, e.field)} {e.detail}." for e in found}


@router.get(SCREEN_PATH)
def screen_page(
    request: Request,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    index: ScreeningIndexDep,
    now: NowDep,
    q: str | None = None,
    country: str | None = None,
) -> Response:
    """Screen one name: anyone, anonymous included, sees what ``GET /v1/screen`` gives them."""
    errors: dict[str, str] = {}
    result: ScreenResult | None = None
    if q is not None:
        errors = _query_errors(q, country)
        if not errors:
            try:
                # A transaction, as on the API: showing restricted advisories is audited.
                with transaction(factory) as session:
                    result = service.screen(
                        session,
                        principal=viewer,
                        index=index,
                        query=q,
                        country=country,
                        now=now,
                    )
            except InvalidInput as exc:
                errors = _form_errors(exc, "q")
    matches = [_match_view(m) for m in result.matches] if result else []
    context = {
        "q": q or "",
        "country": country or "",
        "errors": errors,
        "result": result,
        "matches": matches,
        "overall_risk": highest_risk([a for m in result.matches for a in m.advisories])
        if result
        else None,
        "vetted": viewer.is_vetted(now.date()),
        "max_name_chars": MAX_NAME_CHARS,
    }
    status = 400 if errors else 200
    return render(request, "screen.html", context, status=status, principal=viewer)


# --- a batch ----------------------------------------------------------------------------------


def _where(field: str) -> str:
    """``rows[3].name`` -> "Row 3, name"; the file-level fields in plain words."""
    row = re.fullmatch(r"rows\[(\d+)\](?:\.(.+))?", field)
    if row:
        return f"Row {row[1]}" + (f", {row[2]}" if row[2] else "")
    return {"body": "The file", "name": "The file", "rows": "The file", "header": "The header"}.get(
        field, field
    )


def _upload_problem(exc: InvalidInput | MalformedInput) -> tuple[str, list[str]]:
    """The message next to the file field, and the bad rows listed under it."""
    rows = [e for e in exc.errors if e.field.startswith("rows[")]
    if rows:
        listed = [f"{_where(e.field)}: {e.detail}" for e in rows]
        more = re.search(r"\(and (\d+) more\)", exc.detail)
        if more:
            listed.append(f"… and {more[1]} more.")
        return (
            "Some rows cannot be screened, so nothing was screened. Correct them and upload "
            "the file again.",
            listed,
        )
    first = exc.errors[0] if exc.errors else FieldError("body", exc.detail)
    detail = first.detail
    # "is empty", "is not UTF-8 text": a verb follows "The file"; "the CSV header has no …"
    # is a sentence of its own.
    if first.field == "body" and detail.startswith(("is ", "contains ")):
        return f"The file {detail}.", []
    if detail.startswith("the "):
        return f"{detail[:1].upper()}{detail[1:]}.", []
    if first.field == "rows":
        return f"The file has too many rows: {detail}.", []
    return f"{_where(first.field)}: {detail}.", []


def _batch_page(
    request: Request,
    *,
    error: str | None = None,
    row_errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    settings = request.app.state.settings
    max_file_bytes = settings.max_batch_body_bytes - _MULTIPART_ALLOWANCE
    context = {
        "errors": {_FILE_FIELD: error} if error else {},
        "row_errors": row_errors or [],
        "max_rows": MAX_BATCH_ROWS,
        "max_file_bytes": max_file_bytes,
        "max_file_mib": round(max_file_bytes / (1024 * 1024), 1),
        "report_filename": REPORT_FILENAME,
    }
    return render(request, "screen_batch.html", context, status=status)


@router.get(BATCH_UPLOAD_PATH)
def screen_batch_page(request: Request, viewer: MemberDep) -> Response:
    """The upload form: signed-in members only (anonymous visitors are sent to sign in)."""
    return _batch_page(request)


@router.post(BATCH_UPLOAD_PATH)
def screen_batch_upload(
    request: Request,
    viewer: MemberDep,
    factory: SessionFactoryDep,
    index: ScreeningIndexDep,
    now: NowDep,
    csrf_token: Annotated[str | None, Form()] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Screen an uploaded CSV file as ``POST /v1/screen/batch`` does; the CSV report back.

    The page's script posts the file alone, with the CSRF token in its header.
    """
    check_csrf(request, csrf_token)
    if file is None or (not file.filename and not file.size):
        return _batch_page(request, error="Choose a CSV file to screen.", status=400)
    try:
        batch = parse_csv_upload(file.file.read())
        # Every row is valid and the first chunk is screened before the first byte is sent:
        # a refusal is still the form with its message, never half a report.
        results = screen_batch_results(factory, principal=viewer, index=index, batch=batch, now=now)
    except (InvalidInput, MalformedInput) as exc:
        error, row_errors = _upload_problem(exc)
        return _batch_page(
            request, error=error, row_errors=row_errors, status=to_problem(exc).status
        )
    return StreamingResponse(
        csv_report(batch.columns, results),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{REPORT_FILENAME}"',
            # What this viewer may see, like any page: kept by no cache.
            "Cache-Control": "no-store",
        },
    )
