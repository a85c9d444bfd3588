"""When to send a request again, and how long to wait first.

The decisions live here; each client only sleeps (``time.sleep`` or ``asyncio.sleep``) for
the delay they return.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from trex_client._errors import parse_retry_after

__all__ = ["Retry", "RetryState"]

RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Retry:
    """How a client retries.

    ``total`` retries at most (so ``total + 1`` attempts). A ``Retry-After`` from the node is
    waited for as asked (seconds or an HTTP date), unless it is longer than
    ``max_retry_after``: then the error is raised at once rather than waited out for less than
    asked. Without one, the wait doubles from ``backoff`` up to ``max_backoff``, with jitter.
    """

    total: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def start(self, method: str) -> RetryState:
        """Fresh retry bookkeeping for one call."""
        return RetryState(self, method.upper())


class RetryState:
    """The retries of one call: each ``after_…`` says how long to wait, or ``None`` to stop."""

    def __init__(self, policy: Retry, method: str) -> None:
        self.policy = policy
        self.method = method
        self.retries = 0

    def after_response(self, response: httpx.Response) -> float | None:
        """The wait before sending again after ``response``, or ``None`` to keep it.

        Only 429 and 503 are retried, and for every method, POST and PATCH included: both say
        the node refused to handle the request (RFC 6585 section 4; RFC 9110 section 15.6.4),
        so nothing was written and sending it again cannot write twice. Any other error (a 500,
        a 502 from a proxy, a timeout waiting for the answer) may come after the node acted, so
        a write is never sent again on it.
        """
        if response.status_code not in RETRY_STATUSES or self.retries >= self.policy.total:
            return None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            if retry_after > self.policy.max_retry_after:
                return None
            # Never earlier than asked; a little later, so that clients refused together do not
            # all come back in the same instant.
            delay = retry_after + random.uniform(0, 0.1 * retry_after)  # noqa: S311 - jitter
        else:
            delay = self._backoff()
        self.retries += 1
        return delay

    def after_error(self, error: httpx.RequestError) -> float | None:
        """The wait before sending again after a failed exchange, or ``None`` to raise.

        Only reads are retried: a connection reset or a read timeout can happen after a write
        reached the node, and writing twice is worse than failing once.
        """
        if self.method not in IDEMPOTENT_METHODS or self.retries >= self.policy.total:
            return None
        if not isinstance(error, httpx.TransportError):
            return None
        delay = self._backoff()
        self.retries += 1
        return delay

    def _backoff(self) -> float:
        """Exponential back-off with "equal jitter": between half and all of the step."""
        step = min(self.policy.max_backoff, self.policy.backoff * 2**self.retries)
        return random.uniform(step / 2, step)  # noqa: S311 - jitter, not a secret
