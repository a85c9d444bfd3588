"""Driving the pages without a browser: a TestClient (or httpx client) signed in through the
sign-in form, and the CSRF token read off a page, as a browser would send them."""

from __future__ import annotations

import re
from typing import Protocol

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _Response(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...


class _Client(Protocol):
    def get(self, url: str) -> _Response: ...
    def post(self, url: str, *, data: dict[str, str]) -> _Response: ...


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def web_sign_in(client: _Client, token: str) -> None:
    """Sign in through /sign-in with a bearer token; the client keeps the session cookie."""
    page = client.get("/sign-in")
    assert page.status_code == 200
    response = client.post(
        "/sign-in", data={"token": token, "next": "/", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code in (200, 303), response.text
