"""``TrexClient`` and ``AsyncTrexClient``: the same API, one blocking, one ``async``.

Both build their requests and read the answers through ``_core`` and decide retries through
``_retry``; what differs is only how they send, read a stream and sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, Unpack, overload

import httpx

from trex_client import _core
from trex_client._batch import BatchInput, Progress, ReportFormat, Writable
from trex_client._core import DEFAULT_TIMEOUT, AdvisoryFilters, Call, Page, StreamCall
from trex_client._errors import error_from_response
from trex_client._models import (
    Advisory,
    AdvisoryInput,
    BatchReport,
    Me,
    Review,
    ReviewInput,
    ReviewSummary,
    ScreenResult,
)
from trex_client._retry import Retry

__all__ = ["AsyncTrexClient", "TrexClient"]

T = TypeVar("T")


def _retry_policy(retries: int | Retry) -> Retry:
    return retries if isinstance(retries, Retry) else Retry(total=retries)


class TrexClient:
    """A blocking client for one trex node.

    ``token`` is a member's bearer token (``trex_…``); without one the client is anonymous and
    sees only TLP:CLEAR advisories. ``retries`` is how often a request refused with 429 or 503
    (or, for reads only, one that failed on the network) is sent again; pass a ``Retry`` to
    tune the back-off. ``transport`` replaces the network (``httpx.MockTransport``, a proxy).
    Use it as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retries: int | Retry = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._retry = _retry_policy(retries)
        self._http = httpx.Client(
            transport=transport, **_core.http_options(base_url, token, timeout)
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # --- sending --------------------------------------------------------------------------

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """The answer to ``call`` after any retries; an error status is raised as its
        ``TrexAPIError``. Unless ``stream``, the body has been read."""
        state = self._retry.start(call.method)
        while True:
            request = call.request(self._http)
            try:
                response = self._http.send(request, stream=True)
                if not stream or response.is_error:
                    response.read()
            except httpx.RequestError as exc:
                delay = state.after_error(exc)
                if delay is None:
                    raise _core.transport_error(request, exc) from exc
                time.sleep(delay)
                continue
            delay = state.after_response(response)
            if delay is None:
                break
            response.close()
            time.sleep(delay)
        if response.is_error:
            response.close()
            raise error_from_response(response)
        return response

    def _call(self, call: Call[T]) -> T:
        response = self._send(call, stream=False)
        return call.read(response)

    def _stream(self, call: StreamCall[T]) -> T:
        response = self._send(call, stream=True)
        try:
            for chunk in response.iter_bytes():
                call.feed(chunk)
        except httpx.RequestError as exc:
            raise _core.transport_error(response.request, exc) from exc
        finally:
            response.close()
        call.done()
        return call.read(response)

    def _paged(self, page: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            current = self._call(page(cursor))
            yield from current.items
            cursor = _core.next_cursor(current, cursor)
            if cursor is None:
                return

    # --- the API --------------------------------------------------------------------------

    def me(self) -> Me:
        """The caller: user, org, role and whether the org is vetted today."""
        return self._call(_core.me())

    def advisories(
        self, *, page_size: int = _core.ADVISORY_PAGE, **filters: Unpack[AdvisoryFilters]
    ) -> Iterator[Advisory]:
        """Every advisory the caller may see that matches ``filters``, fetched a page of
        ``page_size`` at a time as the iteration goes (``next_cursor`` followed to the end)."""
        query = _core.advisory_query(filters)
        return self._paged(lambda cursor: _core.advisory_page(query, page_size, cursor))

    def advisory(self, advisory_id: str) -> Advisory:
        """The latest revision the caller may see; ``NotFound`` if absent or invisible."""
        return self._call(_core.advisory(advisory_id))

    def revisions(self, advisory_id: str) -> list[Advisory]:
        """Every revision of the advisory, oldest first."""
        return self._call(_core.revisions(advisory_id))

    def publish(self, document: Mapping[str, Any] | AdvisoryInput) -> Advisory:
        """Create an advisory (``POST /v1/advisories``); the answer is the stored revision.

        ``status`` is ``draft`` unless the document says ``published``, as in the API.
        """
        return self._call(_core.publish(document))

    def update(self, advisory_id: str, base_revision: int, **changes: Any) -> Advisory:
        """A new revision with ``changes``; ``Conflict`` if ``base_revision`` is not the
        latest (reload, apply the change again)."""
        return self._call(_core.update(advisory_id, base_revision, changes))

    def withdraw(self, advisory_id: str, base_revision: int, reason: str) -> Advisory:
        """Withdraw the advisory: a new revision with status ``withdrawn`` and ``reason``."""
        return self._call(_core.withdraw(advisory_id, base_revision, reason))

    def screen(self, name: str, country: str | None = None, limit: int = 10) -> ScreenResult:
        """Organisations ``name`` designates (best first), each with the caller's visible
        advisories; ``country`` (ISO 3166-1 alpha-2) keeps only those in that country."""
        return self._call(_core.screen(name, country, limit))

    @overload
    def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: Literal["json"] = ...,
        output: None = ...,
        progress: Progress | None = ...,
    ) -> BatchReport: ...

    @overload
    def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: Literal["csv"],
        output: None = ...,
        progress: Progress | None = ...,
    ) -> str: ...

    @overload
    def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: ReportFormat = ...,
        output: Writable,
        progress: Progress | None = ...,
    ) -> int: ...

    def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: ReportFormat = "json",
        output: Writable | None = None,
        progress: Progress | None = None,
    ) -> BatchReport | str | int:
        """Screen many names at once (up to 10,000): rows, CSV text, or a ``.csv``/``.json``
        file path.

        Returns the ``BatchReport`` (``format="json"``) or the CSV report as text; with
        ``output`` (a binary file), the report is written there as it streams in and the
        number of rows reported is returned. ``progress(received, sent)`` is called as rows
        arrive.
        """
        return self._stream(_core.screen_batch(rows, format, output, progress))

    def review(self, review: ReviewInput | Mapping[str, Any]) -> Review:
        """Review a proposed collaboration: the three questions answered from the advisories
        the caller may see, a concern level and guidance. It informs; it never decides."""
        return self._call(_core.review(review))

    def reviews(self, *, page_size: int = _core.REVIEW_PAGE) -> Iterator[ReviewSummary]:
        """The caller's organisation's stored reviews, newest first."""
        return self._paged(lambda cursor: _core.review_page(page_size, cursor))


class AsyncTrexClient:
    """The ``async`` twin of ``TrexClient``: the same methods, awaited; ``advisories()`` and
    ``reviews()`` are async iterators. Use it with ``async with``, or ``await aclose()``."""

    def __init__(
        self,
        base_url: str | httpx.URL,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retries: int | Retry = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._retry = _retry_policy(retries)
        self._http = httpx.AsyncClient(
            transport=transport, **_core.http_options(base_url, token, timeout)
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # --- sending --------------------------------------------------------------------------

    async def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        state = self._retry.start(call.method)
        while True:
            request = call.request(self._http)
            try:
                response = await self._http.send(request, stream=True)
                if not stream or response.is_error:
                    await response.aread()
            except httpx.RequestError as exc:
                delay = state.after_error(exc)
                if delay is None:
                    raise _core.transport_error(request, exc) from exc
                await asyncio.sleep(delay)
                continue
            delay = state.after_response(response)
            if delay is None:
                break
            await response.aclose()
            await asyncio.sleep(delay)
        if response.is_error:
            await response.aclose()
            raise error_from_response(response)
        return response

    async def _call(self, call: Call[T]) -> T:
        response = await self._send(call, stream=False)
        return call.read(response)

    async def _stream(self, call: StreamCall[T]) -> T:
        response = await self._send(call, stream=True)
        try:
            async for chunk in response.aiter_bytes():
                call.feed(chunk)
        except httpx.RequestError as exc:
            raise _core.transport_error(response.request, exc) from exc
        finally:
            await response.aclose()
        call.done()
        return call.read(response)

    async def _paged(self, page: Callable[[str | None], Call[Page[T]]]) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            current = await self._call(page(cursor))
            for item in current.items:
                yield item
            cursor = _core.next_cursor(current, cursor)
            if cursor is None:
                return

    # --- the API (documented on TrexClient) -----------------------------------------------

    async def me(self) -> Me:
        """The caller: user, org, role and whether the org is vetted today."""
        return await self._call(_core.me())

    def advisories(
        self, *, page_size: int = _core.ADVISORY_PAGE, **filters: Unpack[AdvisoryFilters]
    ) -> AsyncIterator[Advisory]:
        """Every visible advisory matching ``filters``, as an async iterator over pages."""
        query = _core.advisory_query(filters)
        return self._paged(lambda cursor: _core.advisory_page(query, page_size, cursor))

    async def advisory(self, advisory_id: str) -> Advisory:
        """The latest revision the caller may see; ``NotFound`` if absent or invisible."""
        return await self._call(_core.advisory(advisory_id))

    async def revisions(self, advisory_id: str) -> list[Advisory]:
        """Every revision of the advisory, oldest first."""
        return await self._call(_core.revisions(advisory_id))

    async def publish(self, document: Mapping[str, Any] | AdvisoryInput) -> Advisory:
        """Create an advisory; the answer is the stored revision."""
        return await self._call(_core.publish(document))

    async def update(self, advisory_id: str, base_revision: int, **changes: Any) -> Advisory:
        """A new revision with ``changes``; ``Conflict`` on a stale ``base_revision``."""
        return await self._call(_core.update(advisory_id, base_revision, changes))

    async def withdraw(self, advisory_id: str, base_revision: int, reason: str) -> Advisory:
        """Withdraw the advisory, with a reason."""
        return await self._call(_core.withdraw(advisory_id, base_revision, reason))

    async def screen(self, name: str, country: str | None = None, limit: int = 10) -> ScreenResult:
        """Organisations ``name`` designates, best first, with the visible advisories."""
        return await self._call(_core.screen(name, country, limit))

    @overload
    async def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: Literal["json"] = ...,
        output: None = ...,
        progress: Progress | None = ...,
    ) -> BatchReport: ...

    @overload
    async def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: Literal["csv"],
        output: None = ...,
        progress: Progress | None = ...,
    ) -> str: ...

    @overload
    async def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: ReportFormat = ...,
        output: Writable,
        progress: Progress | None = ...,
    ) -> int: ...

    async def screen_batch(
        self,
        rows: BatchInput,
        *,
        format: ReportFormat = "json",
        output: Writable | None = None,
        progress: Progress | None = None,
    ) -> BatchReport | str | int:
        """Screen many names at once; see ``TrexClient.screen_batch``."""
        return await self._stream(_core.screen_batch(rows, format, output, progress))

    async def review(self, review: ReviewInput | Mapping[str, Any]) -> Review:
        """Review a proposed collaboration. It informs; it never decides."""
        return await self._call(_core.review(review))

    def reviews(self, *, page_size: int = _core.REVIEW_PAGE) -> AsyncIterator[ReviewSummary]:
        """The caller's organisation's stored reviews, newest first."""
        return self._paged(lambda cursor: _core.review_page(page_size, cursor))
