"""The domain's one error hierarchy, and the table that turns each error into a problem.

Domain code raises these without knowing about HTTP; ``service/api/problems.py`` renders the
``Problem`` that ``to_problem`` builds as an RFC 9457 document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One rejected field: a dotted path such as ``subject.country``, and why."""

    field: str
    detail: str


class TrexError(Exception):
    """Root of every error the domain raises on purpose."""

    def __init__(self, detail: str, *, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InvalidInput(TrexError):
    """The request is well-formed but a field's value is unacceptable."""

    @classmethod
    def for_field(cls, field_name: str, detail: str) -> InvalidInput:
        return cls(f"{field_name}: {detail}", errors=(FieldError(field_name, detail),))


class MalformedInput(TrexError):
    """The request body or a parameter could not be parsed at all."""


class NotAuthenticated(TrexError):
    """No credentials, or credentials that are not valid (unknown, expired, revoked)."""


class NotPermitted(TrexError):
    """The caller is known but may not do this to something it can already see."""


class NotFound(TrexError):
    """Absent, or invisible to the caller: the two are deliberately indistinguishable."""


class Conflict(TrexError):
    """The change was based on a stale state, or the state does not allow it."""


class UnsupportedMediaType(TrexError):
    """The body is in a format (or character set) the endpoint does not read."""


class PayloadTooLarge(TrexError):
    """The request body exceeds the node's limit."""


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem document, before it is serialised."""

    status: int
    title: str
    detail: str
    type: str = "about:blank"
    errors: tuple[FieldError, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "detail": e.detail} for e in self.errors]
        return body


_PROBLEM_TABLE: dict[type[TrexError], tuple[int, str, str]] = {
    InvalidInput: (422, "Invalid input", "urn:trex:problem:invalid-input"),
    MalformedInput: (400, "Malformed request", "urn:trex:problem:malformed-request"),
    NotAuthenticated: (401, "Not authenticated", "urn:trex:problem:not-authenticated"),
    NotPermitted: (403, "Not permitted", "urn:trex:problem:not-permitted"),
    NotFound: (404, "Not found", "urn:trex:problem:not-found"),
    Conflict: (409, "Conflict", "urn:trex:problem:conflict"),
    PayloadTooLarge: (413, "Payload too large", "urn:trex:problem:payload-too-large"),
    UnsupportedMediaType: (
        415,
        "Unsupported media type",
        "urn:trex:problem:unsupported-media-type",
    ),
}


def to_problem(error: TrexError) -> Problem:
    """The problem document for a domain error (the most specific table entry wins)."""
    for cls in type(error).__mro__:
        if cls in _PROBLEM_TABLE:
            status, title, type_uri = _PROBLEM_TABLE[cls]
            return Problem(status, title, error.detail, type_uri, error.errors)
    return Problem(500, "Internal error", "The node could not complete the request.")
