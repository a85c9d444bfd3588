"""``create_app(settings)``: the node's ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api import admin, advisories, health, me
from service.api.auth import install_web_sign_in
from service.api.limits import BodySizeLimit
from service.api.problems import install_problem_handlers
from service.db import make_engine, make_session_factory
from service.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The node's application for ``settings``; it owns one engine, disposed on shutdown."""
    engine = make_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Trusted Research Exchange node",
        version="1",
        summary="Partner-risk advisories for research security, shared between allied nodes.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(me.router)
    app.include_router(advisories.router)
    app.include_router(admin.router)
    install_web_sign_in(app, settings)
    return app
