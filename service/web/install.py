"""``install_web(app)``: the pages' routes and their static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.web import advisories, home, operator, reviews, screening, sign_in
from service.web.render import STATIC_DIR

__all__ = ["install_web"]


def install_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (home, sign_in, screening, advisories, reviews, operator):
        app.include_router(module.router)
