"""``create_app(settings)``: the node's ASGI application."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from service.api import (
    admin,
    admin_federation,
    advisories,
    federation,
    health,
    me,
    reviews,
    screening,
    taxii,
)
from service.api.auth import install_web_sign_in
from service.api.hardening import document_refusals, install_hardening
from service.api.limits import BodySizeLimit
from service.api.metrics import install_metrics
from service.api.problems import install_problem_handlers
from service.db import make_engine, make_session_factory, utcnow
from service.peering.runner import SyncRunner
from service.peering.service import NodeKeys
from service.screening.index import ScreeningIndex
from service.settings import Settings
from service.web.install import install_web
from service.web.screening import BATCH_UPLOAD_PATH


def create_app(settings: Settings) -> FastAPI:
    """The node's application for ``settings``; it owns one engine, disposed on shutdown."""
    engine = make_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)

    node_keys = NodeKeys(settings.data_dir, settings.node_id, now=utcnow())
    factory = make_session_factory(engine)
    # Each worker process keeps its own index, brought up to date from the database on use.
    screening_index = ScreeningIndex()

    def build_index() -> None:
        screening_index.build(factory)
        # The index is most of the worker's objects and lives as long as it: left to the
        # collector, each full collection walked them all (300 ms at 10,000 advisories, with
        # every request of the worker waiting). Frozen, collections see only newer objects;
        # what is already garbage goes first, or it would be kept for good.
        gc.collect()
        gc.freeze()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        # Requests run on this many threads at once; the rest wait their turn (see Settings).
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        # Build the screening index now rather than on the first screen (seconds at 100,000
        # advisories); a screen that arrives meanwhile waits for it.
        threading.Thread(target=build_index, name="trex-index", daemon=True).start()
        if settings.sync_interval_seconds > 0:
            runner = SyncRunner(
                engine=engine,
                factory=factory,
                data_dir=settings.data_dir,
                node_id=settings.node_id,
                node_keys=node_keys,
                interval=settings.sync_interval_seconds,
                timeout=settings.peer_timeout_seconds,
                page_size=settings.sync_page_size,
            )
            # Every worker runs one; the runner's lock lets one pass run at a time per node.
            worker = threading.Thread(
                target=runner.run_forever, args=(stop,), name="trex-sync", daemon=True
            )
            worker.start()
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=10)
        engine.dispose()
        _app.state.metrics.process_exiting()

    app = FastAPI(
        title="Trusted Research Exchange node",
        version="1",
        summary="Partner-risk advisories for research security, shared between allied nodes.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.node_keys = node_keys
    app.state.screening_index = screening_index
    install_problem_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        larger={
            ("POST", screening.BATCH_PATH): settings.max_batch_body_bytes,
            ("POST", BATCH_UPLOAD_PATH): settings.max_batch_body_bytes,
        },
    )
    app.include_router(health.router)
    app.include_router(me.router)
    app.include_router(advisories.router)
    app.include_router(admin.router)
    app.include_router(admin_federation.router)
    app.include_router(federation.router)
    app.include_router(reviews.router)
    app.include_router(screening.router)
    app.include_router(taxii.router)
    install_web(app)
    install_web_sign_in(app, settings)
    # Outside the others: its headers go on every response, and its limits come first.
    install_hardening(app, settings)
    document_refusals(app)
    # Outermost: every request, a refused one too, gets an id, a log line and its latency.
    install_metrics(app)
    return app
