"""Signing in and out through the pages, in the browser."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import READER, Node, PageFor, screenshot


def test_token_sign_in_shows_who_is_signed_in_and_sign_out_ends_it(
    node: Node, page_for: PageFor
) -> None:
    page = page_for()
    page.goto("/")
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name="Sign in")).to_be_visible()
    screenshot(page, "home-anonymous")
    header.get_by_role("link", name="Sign in").click()
    page.get_by_label("Access token", exact=True).fill(node.tokens[READER])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".site-viewer")).to_contain_text(READER)
    expect(page.locator(".site-viewer")).to_contain_text("University of Example")
    screenshot(page, "home-reader")
    page.get_by_role("button", name="Sign out").click()
    expect(header.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.locator(".site-viewer")).not_to_contain_text(READER)


def test_a_wrong_token_is_refused_next_to_the_field(page_for: PageFor) -> None:
    page = page_for()
    page.goto("/sign-in")
    page.get_by_label("Access token", exact=True).fill("trex_0000000000000000_not-a-real-secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("not valid")
    expect(page.get_by_label("Access token", exact=True)).to_have_attribute("aria-invalid", "true")
    screenshot(page, "sign-in-error")
