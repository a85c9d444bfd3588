"""The advisory form: its fields to the domain's input models and back, field errors, history.

A form is a flat mapping of field name to the text typed in it, the names being the domain's
field paths (``subject.country``, ``sources.0.url``) so that an error the domain or pydantic
reports lands next to its field. Lists are typed as text: one item a line, or separated by
commas. Nothing here decides who may write what: the domain does, with the page's principal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import ValidationError

from service.advisories.schemas import (
    AdvisoryCreate,
    AdvisoryUpdate,
    Confidence,
    NameType,
    RecommendedAction,
    Risk,
    SubjectKind,
    Tier,
    Tlp,
    WritableStatus,
)
from service.errors import FieldError

__all__ = [
    "CHOICES",
    "FORM_LEVEL",
    "FieldChange",
    "FormInvalid",
    "FormValues",
    "RevisionView",
    "blank_form",
    "domain_errors",
    "form_from_document",
    "history",
    "label",
    "model_errors",
    "parse_create",
    "parse_update",
    "read_form",
    "safe_href",
    "source_rows",
]

FormValues = dict[str, str]
"""Field name to the text in it, as typed (line breaks normalised)."""

FORM_LEVEL = "advisory-form"
"""The key of an error that belongs to no one field; also the form element's id."""

CHOICES: dict[str, tuple[str, ...]] = {
    "tier": get_args(Tier),
    "tlp": get_args(Tlp),
    "risk": get_args(Risk),
    "confidence": get_args(Confidence),
    "recommended_action": get_args(RecommendedAction),
    "subject.kind": get_args(SubjectKind),
    "status": get_args(WritableStatus),
}
_NAME_TYPES: tuple[str, ...] = get_args(NameType)

TEXT_FIELDS = (
    "subject.name",
    "subject.names",
    "subject.country",
    "subject.kind",
    "subject.identifiers.ror",
    "subject.identifiers",
    "subject.parent",
    "risk",
    "confidence",
    "categories",
    "technologies",
    "recommended_action",
    "summary",
    "detail",
    "tier",
    "tlp",
    "audience",
    "scope",
    "valid_from",
    "review_by",
    "status",
)
SOURCE_PARTS = ("title", "url", "publisher", "published")
_MAX_SOURCE_ROWS = 60  # the schema allows 50 sources; a few blank rows besides
_LIST_FIELDS = ("categories", "technologies", "audience", "scope")
_SEPARATORS = re.compile(r"[,\s]+")

_LABELS = {
    "very_high": "Very high",
    "academia": "Academia-led",
    "government": "Government",
}


def label(value: object) -> str:
    """A stored value as a person reads it: ``very_high`` is "Very high"."""
    if value is None or value == "":
        return "none"
    text = str(value)
    if text in get_args(Tlp):
        return f"TLP:{text.upper()}"
    if text in _LABELS:
        return _LABELS[text]
    if re.fullmatch(r"[a-z][a-z0-9_]*", text):
        return text.replace("_", " ").capitalize()
    return text


def safe_href(url: object) -> str | None:
    """``url`` when it is an http(s) link, else None: nothing else becomes a link on a page."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


# --- reading the form ------------------------------------------------------------------------


def read_form(form: Mapping[str, Any]) -> FormValues:
    """The advisory fields of a posted form (anything else, files included, is ignored)."""
    names = [*TEXT_FIELDS]
    names.extend(
        f"sources.{row}.{part}" for row in range(_MAX_SOURCE_ROWS) for part in SOURCE_PARTS
    )
    values: FormValues = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str):
            # Browsers send CRLF line breaks; stored text keeps plain newlines.
            values[name] = value.replace("\r\n", "\n").replace("\r", "\n")
    return values


def source_rows(values: Mapping[str, str]) -> int:
    """How many source rows to show: every row in use, and a blank one to add another."""
    used = [
        row
        for row in range(_MAX_SOURCE_ROWS)
        if any(values.get(f"sources.{row}.{part}", "").strip() for part in SOURCE_PARTS)
    ]
    return max((used[-1] + 2) if used else 0, 2)


def blank_form(tier: str) -> FormValues:
    """The new-advisory form: the writer's tier, TLP:AMBER as a cautious start, a draft."""
    return {
        "tier": tier,
        "tlp": "amber",
        "subject.kind": "university",
        "confidence": "moderate",
        "status": "draft",
    }


def _name_line(name: Mapping[str, Any]) -> str:
    parts = [str(name["value"]), str(name.get("type") or "alias")]
    if name.get("lang"):
        parts.append(str(name["lang"]))
    return " | ".join(parts)


def form_from_document(document: Mapping[str, Any]) -> FormValues:
    """The form filled with a stored revision, to edit it."""
    subject = document["subject"]
    identifiers = dict(subject.get("identifiers") or {})
    ror = identifiers.pop("ror", "")
    values: FormValues = {
        "subject.name": subject["name"],
        "subject.names": "\n".join(_name_line(n) for n in subject.get("names") or []),
        "subject.country": subject["country"],
        "subject.kind": subject["kind"],
        "subject.identifiers.ror": str(ror),
        "subject.identifiers": "\n".join(f"{k}: {v}" for k, v in identifiers.items()),
        "subject.parent": subject.get("parent") or "",
        "risk": document["risk"],
        "confidence": document["confidence"],
        "categories": ", ".join(document.get("categories") or []),
        "technologies": ", ".join(document.get("technologies") or []),
        "recommended_action": document["recommended_action"],
        "summary": document["summary"],
        "detail": document.get("detail") or "",
        "tier": document["tier"],
        "tlp": document["tlp"],
        "audience": "\n".join(document.get("audience") or []),
        "scope": ", ".join(document.get("scope") or []),
        "valid_from": document.get("valid_from") or "",
        "review_by": document.get("review_by") or "",
        "status": document["status"],
    }
    for row, source in enumerate(document.get("sources") or []):
        for part in SOURCE_PARTS:
            values[f"sources.{row}.{part}"] = str(source.get(part) or "")
    return values


class FormInvalid(Exception):
    """The form cannot be accepted: a message for each field that is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class _Layout:
    """Where each item of a built list came from in the form, to put its error back there."""

    name_lines: list[int] = field(default_factory=list)
    source_rows: list[int] = field(default_factory=list)
    items: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        if name in self.errors:
            if message not in self.errors[name]:
                self.errors[name] += f"; {message}"
        else:
            self.errors[name] = message


def _text(values: Mapping[str, str], name: str) -> str | None:
    text = values.get(name, "").strip()
    return text or None


def _items(values: Mapping[str, str], name: str, layout: _Layout) -> list[str]:
    items = [item for item in _SEPARATORS.split(values.get(name, "")) if item]
    layout.items[name] = items
    return items


def _names(values: Mapping[str, str], layout: _Layout) -> list[dict[str, Any]]:
    names = []
    for number, line in enumerate(values.get("subject.names", "").split("\n"), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) > 3:
            layout.add("subject.names", f"Line {number}: write name | kind | language at most.")
            continue
        name: dict[str, Any] = {"value": parts[0]}
        if len(parts) > 1 and parts[1]:
            name["type"] = parts[1].lower()
        if len(parts) > 2 and parts[2]:
            name["lang"] = parts[2]
        names.append(name)
        layout.name_lines.append(number)
    return names


def _identifiers(values: Mapping[str, str], layout: _Layout) -> dict[str, str]:
    identifiers: dict[str, str] = {}
    ror = _text(values, "subject.identifiers.ror")
    if ror:
        identifiers["ror"] = ror
    for number, line in enumerate(values.get("subject.identifiers", "").split("\n"), start=1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or not key or not value.strip():
            layout.add("subject.identifiers", f"Line {number}: write scheme: value.")
        elif key in identifiers:
            layout.add("subject.identifiers", f"Line {number}: {key} is given twice.")
        else:
            identifiers[key] = value.strip()
    return identifiers


def _sources(values: Mapping[str, str], layout: _Layout) -> list[dict[str, Any]]:
    sources = []
    for row in range(_MAX_SOURCE_ROWS):
        source = {part: _text(values, f"sources.{row}.{part}") for part in SOURCE_PARTS}
        if not any(source.values()):
            continue
        sources.append({k: v for k, v in source.items() if v is not None})
        layout.source_rows.append(row)
    return sources


def _content(values: Mapping[str, str], layout: _Layout) -> dict[str, Any]:
    """The advisory as the domain's models take it; blank fields are left out (or empty)."""
    country = _text(values, "subject.country")
    subject: dict[str, Any] = {
        "name": _text(values, "subject.name"),
        "names": _names(values, layout),
        "country": country.upper() if country else None,
        "kind": _text(values, "subject.kind"),
        "identifiers": _identifiers(values, layout),
        "parent": _text(values, "subject.parent"),
    }
    data: dict[str, Any] = {
        "tier": _text(values, "tier"),
        "tlp": _text(values, "tlp"),
        "audience": _items(values, "audience", layout),
        "scope": _items(values, "scope", layout),
        "subject": {k: v for k, v in subject.items() if v is not None or k == "parent"},
        "risk": _text(values, "risk"),
        "confidence": _text(values, "confidence"),
        "categories": _items(values, "categories", layout),
        "technologies": _items(values, "technologies", layout),
        "recommended_action": _text(values, "recommended_action"),
        "summary": _text(values, "summary"),
        "detail": values.get("detail", "").strip(),
        "sources": _sources(values, layout),
        "valid_from": _text(values, "valid_from"),
        "review_by": _text(values, "review_by"),
        "status": _text(values, "status"),
    }
    optional = ("valid_from", "review_by")
    return {k: v for k, v in data.items() if v is not None or k in optional}


# --- errors ----------------------------------------------------------------------------------

_REQUIRED = {
    "subject.name": "Enter the organisation's name.",
    "subject.country": "Enter the country, as a two-letter code such as CN.",
    "subject.kind": "Choose the kind of organisation.",
    "risk": "Choose a risk level.",
    "confidence": "Choose a confidence level.",
    "recommended_action": "Choose a recommended action.",
    "summary": "Write a summary.",
    "tier": "Choose a tier.",
    "tlp": "Choose a TLP marking.",
    "status": "Choose draft or published.",
    "reason": "Give the reason for withdrawing the advisory.",
}
_PATTERN = {
    "subject.country": "Enter a two-letter ISO 3166-1 country code, such as CN.",
    "categories": "use lower-case letters, digits and underscores (defence_lab).",
    "technologies": "use lower-case letters, digits and underscores (quantum_computing).",
    "scope": "use lower-case letters, digits and hyphens (five-eyes).",
    "url": "Enter a link starting with https:// or http://.",
    "subject.names": "the language is a tag such as zh or zh-Hant.",
    "subject.identifiers": "the scheme is lower-case letters, digits and underscores.",
}


def _place(path: Sequence[str | int], layout: _Layout) -> tuple[str, str]:
    """The form field a domain field path belongs to, and how to start its message."""
    parts = [str(p) for p in path]
    head = parts[0] if parts else FORM_LEVEL
    rest = parts[1:]
    if head == "subject" and rest:
        if rest[0] == "names":
            line = _pick(layout.name_lines, rest[1:])
            return "subject.names", f"Line {line}: " if line is not None else ""
        if rest[0] == "identifiers":
            key = rest[1] if len(rest) > 1 else None
            if key == "ror" and len(rest) == 2:
                return "subject.identifiers.ror", ""
            return "subject.identifiers", f"{key}: " if key else ""
        return f"subject.{rest[0]}", ""
    if head == "sources" and rest:
        row = _pick(layout.source_rows, rest)
        if row is not None:
            return f"sources.{row}.{rest[1] if len(rest) > 1 else 'title'}", ""
    if head in _LIST_FIELDS and rest:
        index = _index(rest[0])
        items = layout.items.get(head, [])
        if index is not None and index < len(items):
            return head, f"“{items[index]}”: "
    if head in TEXT_FIELDS:
        return head, ""
    return FORM_LEVEL, f"{'.'.join(parts)}: " if parts else ""


def _index(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _pick(positions: list[int], rest: Sequence[str]) -> int | None:
    index = _index(rest[0]) if rest else None
    return positions[index] if index is not None and index < len(positions) else None


def _message(error_type: str, message: str, name: str) -> str:
    if error_type in ("missing", "string_too_short") and name in _REQUIRED:
        return _REQUIRED[name]
    if error_type == "string_pattern_mismatch":
        key = "url" if name.endswith(".url") else name
        if key in _PATTERN:
            return _PATTERN[key]
    if error_type.startswith("date"):
        return "Enter a date as YYYY-MM-DD."
    if error_type == "literal_error" and name == "subject.names":
        return f"the kind is one of {', '.join(_NAME_TYPES)}."
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] if message else "Not accepted."


def _pydantic_errors(exc: ValidationError, layout: _Layout) -> None:
    for error in exc.errors():
        name, prefix = _place(error["loc"], layout)
        text = _message(str(error["type"]), str(error["msg"]), name)
        layout.add(name, prefix + (text if not prefix else text[:1].lower() + text[1:]))


def domain_errors(errors: Iterable[FieldError], values: Mapping[str, str]) -> dict[str, str]:
    """The domain's field errors (``InvalidInput``), each put next to its form field."""
    layout = _Layout()
    _content(values, layout)
    for error in errors:
        name, prefix = _place(error.field.split("."), layout)
        layout.add(name, prefix + error.detail[:1].upper() + error.detail[1:])
    return layout.errors


def parse_create(values: Mapping[str, str]) -> AdvisoryCreate:
    """A new advisory from the form, or ``FormInvalid`` with every field that is wrong."""
    layout = _Layout()
    data = _content(values, layout)
    try:
        advisory = AdvisoryCreate.model_validate(data)
    except ValidationError as exc:
        _pydantic_errors(exc, layout)
        raise FormInvalid(layout.errors) from None
    if layout.errors:
        raise FormInvalid(layout.errors)
    return advisory


# The fields the form edits; listings are not on it and stay as they are.
_EDITED = tuple(name for name in AdvisoryCreate.model_fields if name != "listings")


def parse_update(
    values: Mapping[str, str], current: Mapping[str, Any], base_revision: str
) -> AdvisoryUpdate:
    """The change the edited form makes to ``current``: only the fields that differ.

    ``FormInvalid`` for a wrong field, and when nothing was changed (a revision that changes
    nothing would still be a new revision in everyone's history).
    """
    edited = parse_create(values).model_dump(mode="json")
    changes = {name: edited[name] for name in _EDITED if edited[name] != current.get(name)}
    if not changes:
        raise FormInvalid({FORM_LEVEL: "Nothing was changed, so no new revision was made."})
    base = _index(base_revision.strip())
    if base is None or base < 1:
        raise FormInvalid({FORM_LEVEL: "The form lost its revision number: reload the page."})
    return AdvisoryUpdate.model_validate({"base_revision": base, **changes})


# --- history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One field's change between two revisions: a value replaced, or list items in and out."""

    label: str
    before: str | None = None
    after: str | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def is_list(self) -> bool:
        return self.before is None and self.after is None


@dataclass(frozen=True)
class RevisionView:
    """A revision as the history shows it, with what changed since the one shown before it."""

    document: dict[str, Any]
    previous: int | None
    changes: tuple[FieldChange, ...]


def _name_item(name: Mapping[str, Any]) -> str:
    extra = ", ".join(str(p) for p in (name.get("type"), name.get("lang")) if p)
    return f"{name['value']} ({extra})" if extra else str(name["value"])


def _joined(*parts: object) -> str:
    return " — ".join(str(p) for p in parts if p)


def _source_item(source: Mapping[str, Any]) -> str:
    return _joined(*(source.get(part) for part in SOURCE_PARTS))


def _listing_item(listing: Mapping[str, Any]) -> str:
    return _joined(*(listing.get(p) for p in ("list", "citation", "listed_on", "url")))


_Items = Callable[[Any], list[str]]

_LIST_DIFFS: dict[str, _Items] = {
    "audience": lambda v: [str(i) for i in v or []],
    "scope": lambda v: [str(i) for i in v or []],
    "subject.names": lambda v: [_name_item(n) for n in v or []],
    "subject.identifiers": lambda v: [f"{k}: {i}" for k, i in (v or {}).items()],
    "categories": lambda v: [str(i) for i in v or []],
    "technologies": lambda v: [str(i) for i in v or []],
    "sources": lambda v: [_source_item(s) for s in v or []],
    "listings": lambda v: [_listing_item(s) for s in v or []],
}
_DIFFED = (
    ("status", "Status"),
    ("withdrawal_reason", "Withdrawal reason"),
    ("subject.name", "Name"),
    ("subject.names", "Other names"),
    ("subject.country", "Country"),
    ("subject.kind", "Kind of organisation"),
    ("subject.identifiers", "Identifiers"),
    ("subject.parent", "Parent organisation"),
    ("risk", "Risk"),
    ("confidence", "Confidence"),
    ("categories", "Categories"),
    ("technologies", "Technologies"),
    ("recommended_action", "Recommended action"),
    ("summary", "Summary"),
    ("detail", "Detail"),
    ("sources", "Sources"),
    ("listings", "Listings"),
    ("tier", "Tier"),
    ("tlp", "TLP"),
    ("audience", "Audience"),
    ("scope", "Sharing groups"),
    ("valid_from", "Valid from"),
    ("review_by", "Review by"),
)


_ENUMS = frozenset(
    {"status", "tier", "tlp", "risk", "confidence", "recommended_action", "subject.kind"}
)


def _plain(value: object) -> str:
    return "none" if value is None or value == "" else str(value)


def _value(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    changes = []
    for path, title in _DIFFED:
        old, new = _value(before, path), _value(after, path)
        if old == new or (not old and not new):
            continue
        if path in _LIST_DIFFS:
            items = _LIST_DIFFS[path]
            old_items, new_items = items(old), items(new)
            added = tuple(i for i in new_items if i not in old_items)
            removed = tuple(i for i in old_items if i not in new_items)
            if added or removed:
                changes.append(FieldChange(title, added=added, removed=removed))
            else:  # the same items in another order
                changes.append(
                    FieldChange(title, before=", ".join(old_items), after=", ".join(new_items))
                )
        else:
            show = label if path in _ENUMS else _plain
            changes.append(FieldChange(title, before=show(old), after=show(new)))
    return tuple(changes)


def history(documents: Sequence[Mapping[str, Any]]) -> list[RevisionView]:
    """Revisions (oldest first, as the domain lists them) newest first, each with its changes."""
    views = []
    previous: Mapping[str, Any] | None = None
    for document in documents:
        views.append(
            RevisionView(
                dict(document),
                previous["revision"] if previous is not None else None,
                _changes(previous, document) if previous is not None else (),
            )
        )
        previous = document
    return views[::-1]


def model_errors(exc: ValidationError) -> dict[str, str]:
    """Errors of a flat model (list filters, a withdrawal): a message for each field named."""
    layout = _Layout()
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else FORM_LEVEL
        layout.add(name, _message(str(error["type"]), str(error["msg"]), name))
    return layout.errors
