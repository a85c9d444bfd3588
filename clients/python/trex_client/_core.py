"""The one place requests are built and answers read, for both clients.

Each API operation is a ``Call``: the request to send and how to read a successful answer. The
clients in ``_client.py`` only send calls (with retries) and sleep, one synchronously, one
asynchronously; nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from trex_client._batch import (
    BatchInput,
    CsvReport,
    JsonReport,
    Progress,
    ReportFormat,
    Writable,
    prepare_upload,
)
from trex_client._errors import InvalidResponse, TransportError
from trex_client._models import (
    Advisory,
    AdvisoryInput,
    AdvisoryPage,
    BatchReport,
    Me,
    Review,
    ReviewInput,
    ReviewPage,
    ReviewSummary,
    RevisionPage,
    ScreenResult,
)
from trex_client._version import __version__

__all__ = [
    "DEFAULT_TIMEOUT",
    "AdvisoryFilters",
    "BearerToken",
    "Call",
    "StreamCall",
    "http_options",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT = httpx.Timeout(10, connect=5)
"""Ten seconds for each read or write, five to connect: a node that hangs is reported, not
waited for forever."""
ADVISORY_PAGE = 100
REVIEW_PAGE = 50
# Any value as JSON-compatible Python (models, dates, tuples): pydantic's own serialiser.
_JSON: TypeAdapter[Any] = TypeAdapter(Any)
_FILTERS = ("country", "risk", "tier", "category", "origin", "status", "q", "updated_after")


class AdvisoryFilters(TypedDict, total=False):
    """The filters of ``GET /v1/advisories``, combined with AND (see docs/api.md)."""

    country: str
    risk: str
    tier: str
    category: str
    origin: str
    status: str
    """published (the default), draft, withdrawn or all."""
    q: str
    updated_after: datetime | str


class Page(Protocol[T_co]):
    """A page of a cursor-paged list."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def next_cursor(self) -> str | None: ...


class BearerToken(httpx.Auth):
    """Signs each request with the member's token (kept out of ``repr`` and logs)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerToken(…)"


def http_options(
    base_url: str | httpx.URL, token: str | None, timeout: httpx.Timeout | float | None
) -> dict[str, Any]:
    """The settings both clients give their ``httpx`` client."""
    return {
        "base_url": base_url,
        "auth": BearerToken(token) if token else None,
        "timeout": timeout,
        "headers": {"User-Agent": f"trex-client/{__version__}", "Accept": "application/json"},
        "follow_redirects": False,
    }


def transport_error(request: httpx.Request, error: httpx.RequestError) -> TransportError:
    """The client's error for a request that got no answer."""
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        reason = f"no answer in time ({type(error).__name__})"
    return TransportError(f"{request.method} {request.url}: {reason}")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation: the request, and how a successful answer is read."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] = field(default_factory=dict)
    payload: Any = None
    """A JSON body (already JSON-compatible), or ``None``."""
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        content = self.content
        headers = dict(self.headers)
        if self.payload is not None:
            content = json.dumps(self.payload, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        return http.build_request(
            self.method, self.path, params=dict(self.params), content=content, headers=headers
        )


@dataclass(frozen=True)
class StreamCall(Call[T]):
    """A call whose answer is read as it streams in: each chunk goes to ``feed``, and ``read``
    (given the finished response) makes the result."""

    feed: Callable[[bytes], None] = field(default=lambda chunk: None)
    done: Callable[[], None] = field(default=lambda: None)


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    def read(response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise InvalidResponse(
                f"{response.request.method} {response.request.url.path}: the answer is not "
                f"a {model.__name__} ({exc.error_count()} problems; is this a trex node?)"
            ) from exc

    return read


def _path(base: str, advisory_id: str, *rest: str) -> str:
    # The id is quoted: one holding "?" or "#" must not turn into a query or a fragment.
    return "/".join([base, quote(advisory_id, safe=""), *rest])


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        # Only what was set: the node's own defaults apply to the rest.
        return value.model_dump(mode="json", exclude_unset=True)
    return _JSON.dump_python(value, mode="json")


def advisory_query(filters: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters for ``filters`` (unknown names refused, as a misspelt keyword is)."""
    unknown = sorted(set(filters) - set(_FILTERS))
    if unknown:
        raise TypeError(f"unknown advisory filter: {', '.join(unknown)}")
    query = {}
    for name in _FILTERS:
        value = filters.get(name)
        if value is None:
            continue
        query[name] = value.isoformat() if isinstance(value, datetime) else str(value)
    return query


# --- the operations ---------------------------------------------------------------------------


def me() -> Call[Me]:
    return Call("GET", "/v1/me", _model(Me))


def advisory_page(query: Mapping[str, str], limit: int, cursor: str | None) -> Call[Page[Advisory]]:
    params: dict[str, str | int] = {**query, "limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", "/v1/advisories", _model(AdvisoryPage), params=params)


def advisory(advisory_id: str) -> Call[Advisory]:
    return Call("GET", _path("/v1/advisories", advisory_id), _model(Advisory))


def revisions(advisory_id: str) -> Call[list[Advisory]]:
    read_page = _model(RevisionPage)
    return Call(
        "GET",
        _path("/v1/advisories", advisory_id, "revisions"),
        lambda response: read_page(response).items,
    )


def publish(document: Mapping[str, Any] | AdvisoryInput) -> Call[Advisory]:
    return Call("POST", "/v1/advisories", _model(Advisory), payload=_json(document))


def update(advisory_id: str, base_revision: int, changes: Mapping[str, Any]) -> Call[Advisory]:
    payload = {"base_revision": base_revision, **{k: _json(v) for k, v in changes.items()}}
    return Call("PATCH", _path("/v1/advisories", advisory_id), _model(Advisory), payload=payload)


def withdraw(advisory_id: str, base_revision: int, reason: str) -> Call[Advisory]:
    return Call(
        "POST",
        _path("/v1/advisories", advisory_id, "withdraw"),
        _model(Advisory),
        payload={"base_revision": base_revision, "reason": reason},
    )


def screen(name: str, country: str | None, limit: int) -> Call[ScreenResult]:
    params: dict[str, str | int] = {"q": name, "limit": limit}
    if country is not None:
        params["country"] = country
    return Call("GET", "/v1/screen", _model(ScreenResult), params=params)


def screen_batch(
    rows: BatchInput,
    format_: ReportFormat,
    output: Writable | None,
    progress: Progress | None,
) -> StreamCall[BatchReport | str | int]:
    """The batch call: the JSON report read into a ``BatchReport``, the CSV report as text, or
    either written to ``output`` as it arrives (then the result is the number of rows)."""
    if format_ not in ("json", "csv"):
        raise ValueError(f"format must be 'json' or 'csv', not {format_!r}")
    upload = prepare_upload(rows)
    report = (JsonReport if format_ == "json" else CsvReport)(output, progress, upload.rows)

    def read(response: httpx.Response) -> BatchReport | str | int:
        if output is not None:
            return report.received
        if isinstance(report, JsonReport):
            return report.report()
        assert isinstance(report, CsvReport)
        return report.text()

    return StreamCall(
        "POST",
        "/v1/screen/batch",
        read,
        params={"format": format_},
        content=upload.content,
        headers={"Content-Type": upload.content_type},
        feed=report.feed,
        done=report.done,
    )


def review(review_in: ReviewInput | Mapping[str, Any]) -> Call[Review]:
    return Call("POST", "/v1/reviews", _model(Review), payload=_json(review_in))


def review_page(limit: int, cursor: str | None) -> Call[Page[ReviewSummary]]:
    params: dict[str, str | int] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", "/v1/reviews", _model(ReviewPage), params=params)


def next_cursor(page: Page[Any], cursor: str | None) -> str | None:
    """The cursor of the page after ``page``; a node handing back the same cursor would loop
    forever, so that is an error."""
    if page.next_cursor is not None and page.next_cursor == cursor:
        raise InvalidResponse("The node returned the same cursor again; paging stopped.")
    return page.next_cursor
