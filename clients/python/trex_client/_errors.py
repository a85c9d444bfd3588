"""One exception hierarchy, built from the node's RFC 9457 problem documents.

```
TrexError
├── TransportError            the node could not be reached, or did not answer in time
├── InvalidResponse           the node answered something this client cannot read
└── TrexAPIError              the node answered with a problem document (or a bare error status)
    ├── BadRequest            400
    ├── Unauthorized          401
    ├── Forbidden             403
    ├── NotFound              404
    ├── Conflict              409
    ├── PayloadTooLarge       413
    ├── UnsupportedMediaType  415
    ├── InvalidInput          422 (``errors`` names each field)
    ├── RateLimited           429 (``retry_after``)
    └── ServerError           5xx
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "InvalidResponse",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "TransportError",
    "TrexAPIError",
    "TrexError",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_from_response",
    "parse_retry_after",
]


@dataclass(frozen=True)
class FieldError:
    """One field the node refused: a dotted path such as ``subject.country``, and why."""

    field: str
    detail: str


class TrexError(Exception):
    """Root of every error this client raises."""


class TransportError(TrexError):
    """The request did not get an answer: connection refused or reset, DNS, TLS, a timeout.

    The underlying ``httpx`` exception is the ``__cause__``.
    """


class InvalidResponse(TrexError):
    """The node answered with a success status but a body this client cannot read (a proxy's
    HTML page, or a node far newer or older than this client)."""


class TrexAPIError(TrexError):
    """The node refused the request; ``str(error)`` is the problem's ``detail``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type: str = "about:blank",  # the problem document's own member name
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors: list[FieldError] = list(errors or [])

    @property
    def fields(self) -> list[str]:
        """The fields named by ``errors``, in order."""
        return [error.field for error in self.errors]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, detail={self.detail!r})"


class BadRequest(TrexAPIError):
    """400: the body could not be parsed at all (not JSON, not decodable)."""


class Unauthorized(TrexAPIError):
    """401: no token where one is needed, or a token that is unknown, expired or revoked."""


class Forbidden(TrexAPIError):
    """403: the caller's role or org may not do this."""


class NotFound(TrexAPIError):
    """404: absent, or not visible to the caller (the node does not say which)."""


class Conflict(TrexAPIError):
    """409: a stale ``base_revision``, or a change the advisory's state does not allow."""


class PayloadTooLarge(TrexAPIError):
    """413: the body is over the node's limit."""


class UnsupportedMediaType(TrexAPIError):
    """415: the body is in a format or character set the endpoint does not read."""


class InvalidInput(TrexAPIError):
    """422: a value was refused; ``errors`` names each field (``rows[17].name``, ``risk`` …)."""


class RateLimited(TrexAPIError):
    """429: too many requests; ``retry_after`` is the seconds the node asked to wait, if any."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(TrexAPIError):
    """5xx: the node (or a proxy in front of it) failed or is unavailable."""


_BY_STATUS: dict[int, type[TrexAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidInput,
    429: RateLimited,
}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110
    section 10.2.3); ``None`` when absent or unreadable, never negative."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # An HTTP date is always GMT; parsedate leaves a "-0000" zone naive.
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _field_errors(raw: Any) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    return [
        FieldError(str(item.get("field", "")), str(item.get("detail", "")))
        for item in raw
        if isinstance(item, dict)
    ]


def error_from_response(response: httpx.Response) -> TrexAPIError:
    """The typed error for a response with an error status (its body must have been read).

    A problem document gives the title, detail, type and field errors; anything else (a proxy's
    HTML page) still gives the right class, with the status's reason phrase as the detail.
    """
    status = response.status_code
    body: Any = None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    reason = response.reason_phrase or f"HTTP {status}"
    detail = body.get("detail")
    if not isinstance(detail, str) or not detail:
        detail = f"{reason} ({status})"
    title = body.get("title") if isinstance(body.get("title"), str) else reason
    type_ = body.get("type") if isinstance(body.get("type"), str) else "about:blank"
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else TrexAPIError)
    errors = _field_errors(body.get("errors"))
    if cls is RateLimited:
        return RateLimited(
            status,
            title,
            detail,
            type_,
            errors,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return cls(status, title, detail, type_, errors)
