"""Retries, back-off and ``Retry-After``, against a simulated third party.

A node answers 429 or 503 only when something in front of it (a rate-limiting proxy, a load
balancer during a deploy) refuses the request, so these tests play that part with a small
``httpx.MockTransport`` that answers as such a proxy would and records when each request came.
Nothing of the node is mocked: its own answers are tested in ``test_sdk.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from trex_client import (
    AsyncTrexClient,
    InvalidResponse,
    RateLimited,
    Retry,
    ServerError,
    TransportError,
    TrexClient,
)
from trex_client._errors import parse_retry_after

ME = {
    "user_id": "u1",
    "email": "reader@example.edu",
    "role": "reader",
    "org": {"id": "o1", "name": "University of Example", "kind": "university", "vetted": True},
    "vetted": True,
}
UNAVAILABLE = {
    "type": "about:blank",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "The node is restarting.",
}
FAST = Retry(total=3, backoff=0.01)

Answer = httpx.Response | Exception


class Proxy:
    """Answers each request with the next scripted answer (the last one repeats), and notes
    when each request arrived."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.times, self.times[1:], strict=False)]


def _ok() -> httpx.Response:
    return httpx.Response(200, json=ME)


def _refused(status: int = 503, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {**UNAVAILABLE, "status": status}
    return httpx.Response(
        status, json=body, headers={**headers, "Content-Type": "application/problem+json"}
    )


@pytest.fixture
def client() -> Iterator[Callable[..., TrexClient]]:
    made: list[TrexClient] = []

    def make(proxy: Proxy, retries: int | Retry = FAST) -> TrexClient:
        made.append(
            TrexClient(
                "http://node.test", "trex_t", retries=retries, transport=httpx.MockTransport(proxy)
            )
        )
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_503_is_retried_after_the_seconds_retry_after_asks(
    client: Callable[..., TrexClient],
) -> None:
    proxy = Proxy(_refused(503, "1"), _ok())
    assert client(proxy).me().email == "reader@example.edu"
    assert len(proxy.requests) == 2
    # Never earlier than asked; a little later at most (jitter of up to a tenth).
    assert 1.0 <= proxy.gaps()[0] < 1.5


def test_the_client_gives_up_after_the_retries_it_was_given(
    client: Callable[..., TrexClient],
) -> None:
    proxy = Proxy(_refused(503, "0"))
    with pytest.raises(ServerError) as caught:
        client(proxy, Retry(total=2)).me()
    assert len(proxy.requests) == 3
    assert caught.value.status == 503
    assert str(caught.value) == "The node is restarting."


def test_rate_limited_gives_up_with_retry_after(client: Callable[..., TrexClient]) -> None:
    proxy = Proxy(_refused(429, "0"))
    with pytest.raises(RateLimited) as caught:
        client(proxy, 1).me()
    assert len(proxy.requests) == 2
    assert caught.value.retry_after == 0.0


def test_a_retry_after_beyond_the_cap_is_not_waited_for(client: Callable[..., TrexClient]) -> None:
    proxy = Proxy(_refused(429, "3600"), _ok())
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client(proxy).me()
    assert time.monotonic() - started < 1
    assert len(proxy.requests) == 1
    assert caught.value.retry_after == 3600.0


def test_without_retry_after_the_back_off_grows(client: Callable[..., TrexClient]) -> None:
    proxy = Proxy(_refused(), _refused(), _refused(), _ok())
    client(proxy, Retry(total=3, backoff=0.05)).me()
    gaps = proxy.gaps()
    assert len(gaps) == 3
    # Equal jitter: each wait is between half and all of 0.05, 0.1, 0.2 seconds.
    for gap, step in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert step / 2 <= gap < step + 0.2


def test_a_post_refused_with_503_is_sent_again(client: Callable[..., TrexClient]) -> None:
    review = {"partners": ["x"], "research_area": "y", "applications": "z"}
    proxy = Proxy(_refused(503, "0"), httpx.Response(500, json={"detail": "boom", "status": 500}))
    with pytest.raises(ServerError):
        client(proxy).review({**review, "non_public_resources": {"kinds": ["none"]}})
    # Refused, so sent again (same body); then a 500, which may follow a write: not again.
    assert [r.method for r in proxy.requests] == ["POST", "POST"]
    assert proxy.requests[0].content == proxy.requests[1].content


def test_network_failures_are_retried_for_reads_only(client: Callable[..., TrexClient]) -> None:
    reset = httpx.ReadError("connection reset by peer")
    reads = Proxy(reset, httpx.ConnectTimeout("too slow"), _ok())
    assert client(reads).me().role == "reader"
    assert len(reads.requests) == 3

    writes = Proxy(reset)
    with pytest.raises(TransportError) as caught:
        client(writes).publish({"summary": "x"})
    assert len(writes.requests) == 1
    assert "connection reset by peer" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ReadError)


def test_a_proxy_error_page_still_gives_a_typed_error(client: Callable[..., TrexClient]) -> None:
    html = httpx.Response(
        502, text="<html>Bad gateway</html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(ServerError) as caught:
        client(Proxy(html)).me()
    assert caught.value.status == 502
    assert str(caught.value) == "Bad Gateway (502)"
    page = httpx.Response(200, text="<html>Sign in</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(InvalidResponse):
        client(Proxy(page)).me()


def test_the_async_client_honours_retry_after_too() -> None:
    proxy = Proxy(_refused(429, "1"), _ok())

    async def run() -> str:
        transport = httpx.MockTransport(proxy)
        async with AsyncTrexClient("http://node.test", "trex_t", transport=transport) as trex:
            return (await trex.me()).email

    assert asyncio.run(run()) == "reader@example.edu"
    assert 1.0 <= proxy.gaps()[0] < 1.5


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None
