"""Advisory pages without a browser: who may use each route, the CSRF refusal, and the form's
translation between fields and the domain's models (errors next to their field, history diffs).

The HTTP tests talk to the package's served demo node with httpx and a cookie jar, signing in
through the sign-in form as a browser does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.advisories.schemas import AdvisoryCreate
from service.demo import demo_advisories
from service.web import advisory_forms as forms
from service.web.advisories import PAGE_SIZE
from tests.web.conftest import ANALYST, OPERATOR, POLY_READER, PUBLISHER, READER, Node
from tests.web.pages import csrf_of, web_sign_in

_MAIN = re.compile(r"<main[^>]*>(.*)</main>", re.S)
NOT_FOUND_TEXT = "There is nothing here that you may see"


def _csrf(response: httpx.Response) -> str:
    return csrf_of(response.text)


def _main(response: httpx.Response) -> str:
    match = _MAIN.search(response.text)
    assert match
    return match.group(1)


@pytest.fixture
def browser_like(node: Node) -> Iterator[Any]:
    """``browser_like(email=None)``: an httpx client with a cookie jar, signed in as that user."""
    clients: list[httpx.Client] = []

    def make(email: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=node.base_url, timeout=15)
        clients.append(client)
        if email is not None:
            web_sign_in(client, node.tokens[email])
        return client

    yield make
    for client in clients:
        client.close()


def _api_ids(node: Node, email: str | None, **params: str) -> list[str]:
    headers = {"Authorization": f"Bearer {node.tokens[email]}"} if email else {}
    response = httpx.get(
        f"{node.base_url}/v1/advisories", params=params, headers=headers, timeout=15
    )
    response.raise_for_status()
    return [item["id"] for item in response.json()["items"]]


def _page_ids(response: httpx.Response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/advisories/([0-9a-f-]+)"', response.text)


def _form_fields(name: str, **extra: str) -> dict[str, str]:
    fields = {
        "subject.name": name,
        "subject.country": "DE",
        "subject.kind": "university",
        "risk": "medium",
        "confidence": "moderate",
        "recommended_action": "due_diligence",
        "summary": "Invented for a test.",
        "tier": "academia",
        "tlp": "green",
        "status": "published",
    }
    fields.update(extra)
    return fields


def test_only_writers_get_the_forms_and_a_reader_posting_is_refused(
    node: Node, browser_like: Any
) -> None:
    anonymous = browser_like()
    response = anonymous.get("/advisories/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fadvisories%2Fnew"

    for email in (READER, OPERATOR):
        page = browser_like(email).get("/advisories/new")
        assert page.status_code == 403, email
        assert "cannot write advisories" in _main(page)

    reader = browser_like(READER)
    name = f"Refused Institute {uuid.uuid4().hex[:8]}"
    token = _csrf(reader.get("/advisories"))
    refused = reader.post("/advisories/new", data={**_form_fields(name), "csrf_token": token})
    assert refused.status_code == 403
    assert "cannot write advisories" in _main(refused)
    assert _api_ids(node, ANALYST, q=name, status="all") == []

    analyst = browser_like(ANALYST)
    assert analyst.get("/advisories/new").status_code == 200


def test_a_post_without_the_sessions_csrf_token_is_refused(node: Node, browser_like: Any) -> None:
    analyst = browser_like(ANALYST)
    name = f"Forged Institute {uuid.uuid4().hex[:8]}"
    for token in (None, "not-the-token"):
        data = _form_fields(name)
        if token is not None:
            data["csrf_token"] = token
        response = analyst.post("/advisories/new", data=data)
        assert response.status_code == 403
        assert "did not come from this node" in _main(response)
    # Another site's page posting with the member's cookie and a stolen token still fails.
    forged = analyst.post(
        "/advisories/new",
        data={**_form_fields(name), "csrf_token": _csrf(analyst.get("/advisories/new"))},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    assert _api_ids(node, ANALYST, q=name, status="all") == []


def test_an_advisory_the_viewer_may_not_see_is_the_same_404_as_one_that_does_not_exist(
    node: Node, browser_like: Any
) -> None:
    (nudt,) = _api_ids(node, PUBLISHER, q="National University of Defense Technology")
    poly = browser_like(POLY_READER)
    hidden = poly.get(f"/advisories/{nudt}")
    absent = poly.get(f"/advisories/{uuid.uuid4()}")
    assert hidden.status_code == absent.status_code == 404
    assert _main(hidden) == _main(absent)
    assert NOT_FOUND_TEXT in _main(hidden)
    assert "Defense Technology" not in hidden.text
    for path in (f"/advisories/{nudt}/edit", f"/advisories/{nudt}/withdraw"):
        assert poly.get(path).status_code == 404
    assert browser_like().get(f"/advisories/{nudt}").status_code == 404
    # The vetted university's reader sees it, without the links to change it.
    shown = browser_like(READER).get(f"/advisories/{nudt}")
    assert shown.status_code == 200
    assert "National University of Defense Technology" in _main(shown)
    assert "TLP:AMBER" in _main(shown)
    assert "/edit" not in _main(shown)
    # An analyst may read it but not change a government advisory.
    assert browser_like(ANALYST).get(f"/advisories/{nudt}/edit").status_code == 403


@pytest.mark.parametrize("email", [None, POLY_READER, READER])
def test_the_list_shows_what_the_api_gives_the_same_viewer(
    node: Node, browser_like: Any, email: str | None
) -> None:
    page = browser_like(email).get("/advisories", params={"country": "cn"})
    assert page.status_code == 200
    expected = _api_ids(node, email, country="CN", limit="25")
    assert _page_ids(page) == expected
    assert expected  # the demo has visible advisories for everyone


def test_the_list_pages_with_a_cursor_keeping_the_filters(node: Node, browser_like: Any) -> None:
    # Enough advisories for more than one page of this viewer's list, whatever else ran.
    headers = {"Authorization": f"Bearer {node.tokens[ANALYST]}"}
    for _ in range(PAGE_SIZE + 1 - len(_api_ids(node, READER, status="all", limit="500"))):
        payload = forms.parse_create(_form_fields(f"Paging Institute {uuid.uuid4().hex[:8]}"))
        created = httpx.post(
            f"{node.base_url}/v1/advisories",
            json=payload.model_dump(mode="json"),
            headers=headers,
            timeout=15,
        )
        assert created.status_code == 201, created.text
    reader = browser_like(READER)
    seen: list[str] = []
    url: str | None = "/advisories?status=all"
    while url is not None:
        page = reader.get(url)
        assert page.status_code == 200
        ids = _page_ids(page)
        assert 0 < len(ids) <= PAGE_SIZE
        seen.extend(ids)
        match = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', page.text)
        url = match.group(1).replace("&amp;", "&") if match else None
        if url is not None:
            assert "status=all" in url
            assert "cursor=" in url
    assert seen == _api_ids(node, READER, status="all", limit="500")
    assert len(seen) > PAGE_SIZE


def test_a_bad_filter_is_named_next_to_its_field(browser_like: Any) -> None:
    page = browser_like().get("/advisories", params={"country": "ZZ", "risk": "extreme"})
    assert page.status_code == 400
    main = _main(page)
    assert re.search(r'id="country-error">[^<]*ZZ', main)
    assert 'id="risk-error"' in main
    assert 'value="ZZ"' in main


# --- the form and the domain's models ---------------------------------------------------------


def test_each_error_is_put_next_to_the_field_it_belongs_to() -> None:
    values = {
        **_form_fields("X"),
        "subject.country": "zz",
        "subject.names": "X Uni | alias\n\nX U | nickname",
        "categories": "defence_lab, Bad Slug",
        "sources.0.title": "Fine",
        "sources.2.title": "Bad link",
        "sources.2.url": "javascript:alert(1)",
        "subject.identifiers": "wikidata: Q1\nnot an identifier",
        "summary": "   ",
    }
    with pytest.raises(forms.FormInvalid) as raised:
        forms.parse_create(values)
    errors = raised.value.errors
    assert "'ZZ' is not an ISO 3166-1 alpha-2 country code" in errors["subject.country"]
    assert errors["subject.names"].startswith("Line 3: the kind is one of official")
    assert errors["categories"].startswith("“Bad”")
    assert errors["sources.2.url"] == "Enter a link starting with https:// or http://."
    assert errors["subject.identifiers"] == "Line 2: write scheme: value."
    assert errors["summary"] == "Write a summary."
    assert "sources.0.title" not in errors


def test_a_stored_advisory_fills_the_form_and_comes_back_unchanged() -> None:
    for raw in demo_advisories():
        entry = {k: v for k, v in raw.items() if k != "contributor_org"}
        stored = AdvisoryCreate.model_validate(
            {**entry, "audience": ["org-1", "org-2"]}
        ).model_dump(mode="json")
        again = forms.parse_create(forms.form_from_document(stored)).model_dump(mode="json")
        assert {**again, "listings": stored["listings"]} == stored
        current = {**stored, "revision": 1}
        with pytest.raises(forms.FormInvalid, match="Nothing was changed"):
            forms.parse_update(forms.form_from_document(current), current, "1")
        changed = forms.form_from_document(current) | {"risk": "low", "categories": "x_y"}
        update = forms.parse_update(changed, current, "1")
        assert update.changes() == {"risk": "low", "categories": ["x_y"]}
        assert update.base_revision == 1


def test_the_history_names_each_changed_field() -> None:
    first = {**demo_advisories()[0], "revision": 1, "status": "published"}
    second = {
        **first,
        "revision": 2,
        "risk": "low",
        "categories": ["seven_sons", "new_one"],
        "summary": "<b>changed</b>",
    }
    third = {**second, "revision": 3, "status": "withdrawn", "withdrawal_reason": "Mistaken."}
    newest, middle, oldest = forms.history([first, second, third])
    assert oldest.previous is None
    assert oldest.changes == ()
    assert middle.previous == 1
    by_label = {change.label: change for change in middle.changes}
    assert (by_label["Risk"].before, by_label["Risk"].after) == ("Very high", "Low")
    assert by_label["Categories"].added == ("new_one",)
    assert set(by_label["Categories"].removed) == {"defence_industry", "defence_lab"}
    assert by_label["Summary"].after == "<b>changed</b>"
    assert [c.label for c in newest.changes] == ["Status", "Withdrawal reason"]
    assert newest.changes[1].after == "Mistaken."
