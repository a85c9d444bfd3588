"""Browser tests: Debian's chromium, driven by Playwright, against one served demo node.

The node is the installed ``trex-node`` serving the demo (SQLite) on a loopback port, started
once for the package; tests that write (an advisory, a review, a token) add to it, so each
asserts what holds whatever else ran before. Pages are driven as a person would: through the
sign-in form, links, fields and buttons. Screenshots go to ``test-artifacts/screenshots/``.

Without ``/usr/bin/chromium`` these tests skip, saying how to install it; in CI they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from service.demo import DEMO_USERS
from tests.databases import in_ci
from tests.node_process import backend_environment, demo_tokens, run_node_command, served_node

CHROMIUM = Path("/usr/bin/chromium")
ENABLE_BROWSER_HINT = (
    "browser tests are off: install Debian's chromium and CJK fonts "
    "(apt-get install chromium fonts-wqy-zenhei) to run them"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
READER = "reader@example.edu"
ANALYST = "analyst@example.edu"
POLY_READER = "reader@poly.example"
PUBLISHER = "publisher@gov.example"
OPERATOR = "operator@node.example"
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Node:
    base_url: str
    tokens: dict[str, str]
    data_dir: Path


@pytest.fixture(scope="package")
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("web-node")
    with backend_environment("sqlite", data_dir, request) as env:
        tokens = demo_tokens(run_node_command(["demo"], env).stdout)
        assert set(tokens) == {user.email for user in DEMO_USERS}
        with served_node(env, data_dir / "serve.log") as served:
            yield Node(served.base_url, tokens, data_dir)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip(ENABLE_BROWSER_HINT)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


PageFor = Callable[..., Page]
"""``page_for(email=None, *, mobile=False, javascript=True)``"""


def sign_in(page: Page, node: Node, email: str) -> None:
    """Sign in through the sign-in form with the demo token of ``email``."""
    page.goto(f"{node.base_url}/sign-in")
    page.get_by_label("Access token", exact=True).fill(node.tokens[email])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{node.base_url}/")


@pytest.fixture
def page_for(node: Node, browser: Browser) -> Iterator[PageFor]:
    """``page_for(email)``: a fresh browser context signed in as that demo user (None: anonymous).

    ``mobile=True`` gives a phone-sized viewport; ``javascript=False`` a browser that runs no
    scripts (the pages must work without them).
    """
    contexts = []

    def make(email: str | None = None, *, mobile: bool = False, javascript: bool = True) -> Page:
        viewport: ViewportSize = (
            {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
        )
        context = browser.new_context(
            base_url=node.base_url, viewport=viewport, java_script_enabled=javascript
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if email is not None:
            sign_in(page, node, email)
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target
