"""What each worker process sets up for throughput: its request threads, and a frozen heap."""

from __future__ import annotations

import gc
import time

from anyio import to_thread
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def test_a_worker_serves_requests_on_the_configured_number_of_threads(
    settings: Settings,
) -> None:
    tuned = settings.model_copy(update={"request_threads": 3})
    with TestClient(create_app(tuned)) as client:
        assert client.portal is not None
        limit = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        assert limit == 3
        assert client.get("/v1/advisories").status_code == 200


def test_the_default_is_a_few_threads_not_starlette_s_forty(settings: Settings) -> None:
    assert 2 <= Settings.model_fields["request_threads"].default <= 8
    with TestClient(create_app(settings)) as client:
        assert client.portal is not None
        limit = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        assert limit == settings.request_threads


def test_once_the_screening_index_is_built_the_heap_is_frozen(settings: Settings) -> None:
    """The collector then skips the index's objects: no full collection walks them again."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 30
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gc.get_freeze_count() > 0
