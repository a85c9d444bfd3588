"""Acceptance: an unvetted member's reader finds no government-tier amber advisory anywhere in
the interface — lists, search, screening, history, direct addresses — while a vetted member's
reader sees them in the same places (so the test would notice a missing filter).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.web.conftest import POLY_READER, PUBLISHER, READER, Node, PageFor, screenshot

_RAISED: dict[str, Any] = {
    "status": "published",
    "tier": "government",
    "tlp": "clear",
    "scope": ["five-eyes"],
    "subject": {
        "name": "Example Institute of Hypersonic Test Ranges",
        "names": [],
        "country": "NZ",
        "kind": "research_institute",
        "identifiers": {},
    },
    "risk": "high",
    "confidence": "moderate",
    "categories": ["defence_lab"],
    "technologies": ["hypersonics"],
    "recommended_action": "enhanced_due_diligence",
    "summary": "Raised-to-amber notice: the first revision was TLP:CLEAR.",
    "sources": [{"title": "Test", "url": "https://example.org/"}],
}


def _api(node: Node, email: str) -> httpx.Client:
    return httpx.Client(
        base_url=node.base_url,
        headers={"Authorization": f"Bearer {node.tokens[email]}"},
        timeout=20,
    )


def _government_restricted(node: Node) -> list[dict[str, Any]]:
    """Government-tier advisories above TLP:CLEAR that the vetted reader may see."""
    with _api(node, READER) as api:
        items = api.get("/v1/advisories", params={"tier": "government", "limit": 200}).json()
    return [a for a in items["items"] if a["tlp"] != "clear"]


def _assert_absent(page: Page, hidden: list[dict[str, Any]], where: str) -> None:
    main = page.get_by_role("main")
    text = main.inner_text()
    for advisory in hidden:
        assert page.locator(f'main a[href="/advisories/{advisory["id"]}"]').count() == 0, where
        assert advisory["summary"][:60] not in text, (where, advisory["subject"]["name"])
    # No amber marking anywhere: neither a banner nor a label in a table.
    restricted_markings = page.locator("main .tlp-amber, main .tlp-amber-strict, main .tlp-red")
    assert restricted_markings.count() == 0, where


def test_no_government_amber_advisory_reaches_an_unvetted_reader(
    node: Node, page_for: PageFor
) -> None:
    # A government notice published at TLP:CLEAR, then raised to TLP:AMBER: its whole history
    # must go with it.
    with _api(node, PUBLISHER) as api:
        raised = api.post("/v1/advisories", json=copy.deepcopy(_RAISED))
        assert raised.status_code == 201, raised.text
        advisory_id = raised.json()["id"]
        patched = api.patch(
            f"/v1/advisories/{advisory_id}",
            json={"base_revision": 1, "tlp": "amber", "summary": "Now TLP:AMBER: vetted only."},
        )
        assert patched.status_code == 200, patched.text
    hidden = _government_restricted(node)
    names = {a["subject"]["name"] for a in hidden}
    assert {"National University of Defense Technology", _RAISED["subject"]["name"]} <= names
    assert any(a["tlp"] == "amber" for a in hidden)

    vetted = page_for(READER)
    vetted.goto("/advisories?tier=government&status=all")
    for advisory in hidden:
        expect(vetted.locator(f'main a[href="/advisories/{advisory["id"]}"]')).not_to_have_count(0)
    vetted.goto(f"/advisories/{advisory_id}")
    expect(vetted.get_by_role("main")).to_contain_text("TLP:AMBER")

    unvetted = page_for(POLY_READER)
    unvetted.goto("/advisories?status=all")
    _assert_absent(unvetted, hidden, "the list")
    unvetted.goto("/advisories?tier=government&status=all")
    _assert_absent(unvetted, hidden, "the government list")
    screenshot(unvetted, "unvetted-government-list")
    amber = [a for a in hidden if a["tlp"] == "amber"]
    for advisory in amber:
        name = advisory["subject"]["name"]
        unvetted.goto("/advisories")
        unvetted.get_by_label("Name or identifier", exact=True).fill(name)
        unvetted.get_by_role("main").get_by_role("button", name="Filter").click()
        _assert_absent(unvetted, hidden, f"a search for {name}")
        unvetted.goto("/screen")
        unvetted.get_by_label("Organisation name", exact=True).fill(name)
        unvetted.get_by_role("main").get_by_role("button", name="Screen").click()
        expect(unvetted.get_by_role("heading", name=f"Results for “{name}”")).to_be_visible()
        _assert_absent(unvetted, hidden, f"screening {name}")
    # The direct addresses of every one, and of its forms: the page for an address that never
    # existed, nothing of the advisory.
    for advisory in hidden:
        for suffix in ("", "/edit", "/withdraw"):
            response = unvetted.goto(f"/advisories/{advisory['id']}{suffix}")
            assert response is not None
            assert response.status in (403, 404), suffix
            _assert_absent(unvetted, hidden, f"the address {suffix or 'of the advisory'}")
    screenshot(unvetted, "unvetted-direct-url")
    # The raised notice's first revision was TLP:CLEAR: its history is gone with it.
    response = unvetted.goto(f"/advisories/{advisory_id}")
    assert response is not None
    assert response.status == 404
    expect(unvetted.get_by_role("main")).not_to_contain_text("the first revision was TLP:CLEAR")
