"""The collaboration review pages: the stepped form, the printable summary and who may use them.

Browser tests drive the form as a member would (with JavaScript: one step at a time); the others
post the plain form with httpx against the same served node, as a browser without JavaScript.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import expect
from starlette.datastructures import FormData

from service.web.reviews import ReviewForm, check_form
from tests.web.conftest import OPERATOR, POLY_READER, READER, Node, PageFor, screenshot
from tests.web.pages import csrf_of, web_sign_in

_MAIN = re.compile(r"<main[^>]*>(.*)</main>", re.DOTALL)
_SUMMARY_URL = re.compile(r"/reviews/[0-9a-f-]{36}$")


@contextmanager
def browser_session(node: Node, email: str | None = None) -> Iterator[httpx.Client]:
    """A cookie-keeping client, signed in through the sign-in form when ``email`` is given."""
    with httpx.Client(base_url=node.base_url, timeout=30) as client:
        if email is not None:
            web_sign_in(client, node.tokens[email])
        yield client


def main_of(response: httpx.Response) -> str:
    match = _MAIN.search(response.text)
    assert match is not None
    return match[1]


def create_review_with_api(node: Node, email: str, title: str = "Via the API") -> str:
    created = httpx.post(
        f"{node.base_url}/v1/reviews",
        headers={"Authorization": f"Bearer {node.tokens[email]}"},
        json={
            "title": title,
            "partners": ["Sichuan University"],
            "research_area": "Materials for batteries.",
            "non_public_resources": {"kinds": ["none"]},
            "applications": "Energy storage.",
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    review_id: str = created.json()["id"]
    return review_id


FILLED = (
    ("partners.0.name", "哈工大"),
    ("partners.0.role", "partner"),
    ("research_area", "Flight control."),
    ("non_public_resources.kinds", "data"),
    ("applications", "Drones."),
)
"""A form that passes, as (field, value) pairs: a text field given again counts its last
value; checked choices add up."""


def review_form(title: str, **fields: str) -> dict[str, str | list[str]]:
    """A filled form as the page posts it: three partner rows, of which two are left blank."""
    form: dict[str, str | list[str]] = {
        "title": title,
        "partners.0.name": "",
        "partners.0.country": "",
        "partners.0.role": "partner",
        "partners.1.name": "Beihang University",
        "partners.1.country": "CN",
        "partners.1.role": "partner",
        "partners.2.name": "",
        "partners.2.country": "",
        "partners.2.role": "partner",
        "research_area": "Flight control for small aircraft.",
        "technologies": "Aerospace",
        "non_public_resources.kinds": ["data", "compute"],
        "non_public_resources.description": "Wind-tunnel data.",
        "applications": "Safer civil drones.",
    }
    form.update(fields)
    return form


def test_each_refused_field_gets_a_plain_message_of_its_own() -> None:
    def refused(*items: tuple[str, str]) -> dict[str, str]:
        form = ReviewForm.from_form(FormData([*FILLED, *items]))
        review_in, errors = check_form(form)
        assert review_in is None
        return errors

    assert refused(("partners.0.role", "funder")) == {
        "partners": "Name at least one partner as well: funders alone are not enough."
    }
    # A blank row is ignored; one with a country but no name is not.
    assert refused(("partners.1.country", "CN")) == {
        "partners.1.name": "Enter the organisation's name, or clear this row."
    }
    assert refused(
        ("partners.1.name", "Beihang University"),
        ("partners.1.country", "XX"),
        ("research_area", "   "),
        ("technologies", "ai, lasers!"),
        ("non_public_resources.kinds", "none"),
    ) == {
        "partners.1.country": "Choose a country from the list.",
        "research_area": "Describe the research area.",
        "technologies": "Write technologies as tags of letters, digits and underscores, "
        "separated by commas, for example: ai, computer_vision.",
        "non_public_resources.kinds": "“Nothing beyond what will be published” cannot be "
        "chosen together with resources that are shared.",
    }
    review_in, errors = check_form(
        ReviewForm.from_form(FormData([*FILLED, ("technologies", "Computer vision, UAV")]))
    )
    assert errors == {}
    assert review_in is not None
    assert review_in.technologies == ["computer_vision", "uav"]


# --- in the browser ----------------------------------------------------------------------------


def test_a_reader_walks_the_steps_runs_a_review_and_prints_its_summary(
    page_for: PageFor,
) -> None:
    title = f"Hypersonics with HIT {uuid.uuid4().hex[:8]}"
    page = page_for(READER)
    page.goto("/reviews")
    main = page.get_by_role("main")
    main.get_by_role("link", name="Start a new review").click()

    # With JavaScript, one step at a time; the step indicator says which.
    step_1 = main.get_by_role("heading", name="Step 1 of 4: The partners")
    step_2 = main.get_by_role("heading", name="Step 2 of 4: The research")
    expect(step_1).to_be_visible()
    expect(step_2).to_be_hidden()
    steps = main.get_by_role("navigation", name="Steps of the review")
    expect(steps.get_by_role("link", name="The partners")).to_have_attribute("aria-current", "step")
    expect(main.get_by_role("button", name="Run the review")).to_be_hidden()

    # Rows can be added and removed; three are there to start with.
    rows = main.get_by_role("group", name=re.compile(r"^Organisation \d+"))
    expect(rows).to_have_count(3)
    main.get_by_role("button", name="Add another organisation").click()
    expect(rows).to_have_count(4)
    expect(
        main.get_by_role("group", name="Organisation 4").get_by_label("Name or affiliation line")
    ).to_be_focused()
    main.get_by_role("button", name="Remove organisation 4").click()
    expect(rows).to_have_count(3)

    first = main.get_by_role("group", name="Organisation 1")
    first.get_by_label("Name or affiliation line").fill("哈工大")
    first.get_by_label("Country").select_option(label="China")
    main.get_by_role("button", name="Next").click()
    expect(step_2).to_be_focused()
    expect(step_1).to_be_hidden()
    expect(page.locator("[data-step-status]")).to_have_text("Step 2 of 4: The research")
    main.get_by_label("Project title (optional)").fill(title)
    main.get_by_label("Research area", exact=True).fill(
        "Hypersonic flight control for unmanned aerial vehicles, with deep reinforcement learning."
    )
    main.get_by_label("Technologies (optional)").fill("aerospace, AI")

    # Back keeps what was typed.
    main.get_by_role("button", name="Back").click()
    expect(step_1).to_be_focused()
    expect(first.get_by_label("Name or affiliation line")).to_have_value("哈工大")
    main.get_by_role("button", name="Next").click()
    main.get_by_role("button", name="Next").click()
    expect(main.get_by_role("heading", name="Step 3 of 4: Non-public resources")).to_be_focused()
    main.get_by_label("Non-public data: datasets, samples, unpublished results").check()
    main.get_by_label("Compute: clusters, GPUs, accounts on your systems").check()
    screenshot(page, "review-steps")
    main.get_by_role("button", name="Next").click()
    expect(main.get_by_role("heading", name="Step 4 of 4: Applications")).to_be_focused()
    main.get_by_label("Foreseeable applications").fill(
        "Guidance of drones and high-speed aircraft; the results could serve military programmes."
    )
    main.get_by_role("button", name="Run the review").click()

    # The summary: the concern level first, HIT matched with its advisory, guidance.
    expect(page).to_have_url(_SUMMARY_URL)
    expect(main.get_by_role("heading", level=1)).to_have_text(title)
    expect(main.locator(".concern-panel")).to_contain_text("Severe")
    partner_question = main.get_by_role("region", name="Question 2 The partners")
    expect(partner_question).to_contain_text("哈工大 (China)")
    expect(partner_question.locator(".node-answer .concern")).to_have_text("High")
    screened = main.get_by_role("region", name="Organisations screened")
    advisories = screened.get_by_role("table", name=re.compile("Harbin Institute of Technology"))
    expect(advisories).to_be_visible()
    expect(advisories.locator(".tlp-label")).to_have_text("TLP:CLEAR")
    expect(advisories.locator(".risk")).to_be_visible()
    expect(advisories.get_by_role("link", name=re.compile("Seven Sons"))).to_have_attribute(
        "href", re.compile(r"^/advisories/")
    )
    expect(main.get_by_role("region", name="Guidance")).to_contain_text("export-control office")
    expect(main).to_contain_text(f"{READER}, University of Example")
    screenshot(page, "review-summary")

    # Print calls the browser's print; the printed page has no navigation, markings kept.
    page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
    main.get_by_role("button", name="Print").click()
    expect(page.locator("body")).to_have_attribute("data-printed", "yes")
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(main.get_by_role("button", name="Print")).to_be_hidden()
    expect(main.locator(".tlp-banner")).to_be_visible()
    expect(main.locator(".concern-panel")).to_be_visible()
    screenshot(page, "review-print")
    page.emulate_media(media="screen")

    # The org's list, newest first, links to it.
    page.goto("/reviews")
    expect(main.get_by_role("link", name=title)).to_have_attribute("href", _SUMMARY_URL)
    screenshot(page, "review-list")


def test_a_refused_form_comes_back_with_the_message_next_to_its_field(page_for: PageFor) -> None:
    page = page_for(READER, mobile=True)
    page.goto("/reviews/new")
    main = page.get_by_role("main")
    main.get_by_role("group", name="Organisation 1").get_by_label("Name or affiliation line").fill(
        "Beihang University"
    )
    main.get_by_role("link", name="Non-public resources").click()
    main.get_by_label("Nothing beyond what will be published").check()
    main.get_by_role("link", name="Applications").click()
    main.get_by_label("Foreseeable applications").fill("Teaching material.")
    main.get_by_role("button", name="Run the review").click()

    # The research area was left empty: the form opens on its step, values kept.
    research_area = main.get_by_label("Research area", exact=True)
    expect(main.locator("#research_area-error")).to_have_text("Describe the research area.")
    expect(research_area).to_be_visible()
    expect(research_area).to_have_attribute("aria-invalid", "true")
    expect(research_area).to_have_attribute("aria-describedby", re.compile("research_area-error"))
    expect(main.locator("#partners-0-name")).to_have_value("Beihang University")
    expect(main.get_by_label("Nothing beyond what will be published")).to_be_checked()
    summary = main.get_by_role("alert")
    expect(summary).to_contain_text("Describe the research area.")
    screenshot(page, "review-form-error")
    main.get_by_role("link", name="Applications").click()
    summary.get_by_role("link", name="Describe the research area.").click()
    expect(research_area).to_be_focused()


def test_without_javascript_the_form_is_one_long_form_and_the_browser_prints(
    node: Node, page_for: PageFor
) -> None:
    review_id = create_review_with_api(node, READER)
    page = page_for(READER, javascript=False)
    page.goto("/reviews/new")
    main = page.get_by_role("main")
    for heading in (
        "Step 1 of 4: The partners",
        "Step 2 of 4: The research",
        "Step 3 of 4: Non-public resources",
        "Step 4 of 4: Applications",
    ):
        expect(main.get_by_role("heading", name=heading)).to_be_visible()
    expect(main.get_by_role("group", name=re.compile(r"^Organisation \d+"))).to_have_count(3)
    expect(main.get_by_role("button", name="Next")).to_have_count(0)
    expect(main.get_by_role("button", name="Run the review")).to_be_visible()

    page.goto(f"/reviews/{review_id}")
    expect(main.get_by_role("button", name="Print")).to_be_hidden()
    expect(main.get_by_text("use your browser's Print command")).to_be_visible()


# --- without a browser -------------------------------------------------------------------------


def test_the_plain_form_runs_a_review_ignoring_blank_rows_and_keeps_values_when_refused(
    node: Node,
) -> None:
    title = f"Plain form {uuid.uuid4().hex[:8]}"
    with browser_session(node, READER) as client:
        token = csrf_of(client.get("/reviews/new").text)
        refused = client.post(
            "/reviews/new",
            data={**review_form(title, research_area="   "), "csrf_token": token},
        )
        assert refused.status_code == 400
        main = main_of(refused)
        assert 'id="research_area-error">Describe the research area.</p>' in main
        assert 'value="Beihang University"' in main
        assert f'value="{title}"' in main

        response = client.post("/reviews/new", data={**review_form(title), "csrf_token": token})
        assert response.status_code == 303
        summary = client.get(response.headers["location"])
        assert summary.status_code == 200
        assert "Beihang University (China)" in main_of(summary)
        stored = httpx.get(
            f"{node.base_url}/v1{response.headers['location']}",
            headers={"Authorization": f"Bearer {node.tokens[READER]}"},
            timeout=30,
        ).json()
        assert stored["input"]["partners"] == [{"name": "Beihang University", "country": "CN"}]
        assert stored["input"]["technologies"] == ["aerospace"]

        listed = client.get("/reviews")
        assert f'href="{response.headers["location"]}">{title}</a>' in main_of(listed)


def test_review_pages_refuse_whoever_may_not_use_them(node: Node) -> None:
    title = f"Private {uuid.uuid4().hex[:8]}"
    review_path = f"/reviews/{create_review_with_api(node, READER, title)}"

    with browser_session(node) as anonymous:
        for path in ("/reviews", "/reviews/new", review_path):
            response = anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/sign-in?next=")

    with browser_session(node, OPERATOR) as operator:
        for path in ("/reviews/new", "/reviews", review_path):
            refused = operator.get(path)
            assert refused.status_code == 403
            assert "operator role does not run or read them" in main_of(refused)

    with browser_session(node, POLY_READER) as other_org:
        hidden = other_org.get(review_path)
        missing = other_org.get(f"/reviews/{uuid.uuid4()}")
        assert hidden.status_code == missing.status_code == 404
        assert main_of(hidden) == main_of(missing)
        assert title not in hidden.text

    with browser_session(node, READER) as reader:
        assert reader.get(review_path).status_code == 200
        before = main_of(reader.get("/reviews"))
        form = review_form("Without a token")
        assert reader.post("/reviews/new", data=form).status_code == 403
        forged = reader.post("/reviews/new", data={**form, "csrf_token": "forged"})
        assert forged.status_code == 403
        assert "did not come from this node" in main_of(forged)
        assert main_of(reader.get("/reviews")) == before
