"""Advisory pages in the browser: an analyst writes, edits and withdraws advisories through the
forms; readers find them; what an author typed is shown as text, never run."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Locator, Page, expect

from tests.web.conftest import ANALYST, READER, PageFor, screenshot

ADVISORY_URL = re.compile(r"/advisories/[0-9a-f-]{36}$")
XSS_SUMMARY = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8].upper()}"


def _fill_advisory(
    main: Locator, name: str, *, country: str = "DE", risk: str = "high", summary: str
) -> None:
    """The fields a published green academia advisory needs, and one source."""
    main.get_by_label("Organisation name", exact=True).fill(name)
    main.get_by_label("Country", exact=True).fill(country)
    main.get_by_label("Kind of organisation", exact=True).select_option("research_institute")
    main.get_by_label("Other names", exact=False).fill(f"{name} Lab | acronym")
    main.get_by_label("Risk", exact=True).select_option(risk)
    main.get_by_label("Recommended action", exact=True).select_option("due_diligence")
    main.get_by_label("Categories", exact=False).fill("defence_lab, talent_programme")
    main.get_by_label("Summary", exact=True).fill(summary)
    main.locator("#sources-0-title").fill("Public reporting on the institute")
    main.locator("#sources-0-url").fill("https://example.org/report")
    main.get_by_label("TLP marking", exact=True).select_option("green")
    main.get_by_label("Sharing groups", exact=False).fill("five-eyes")
    main.get_by_label("Published: shown to everyone its marking allows").check()


def _publish(page: Page, name: str, **fields: str) -> Locator:
    page.goto("/advisories/new")
    main = page.get_by_role("main")
    _fill_advisory(main, name, summary=fields.pop("summary", f"{name}: invented."), **fields)
    main.get_by_role("button", name="Save advisory").click()
    expect(page).to_have_url(ADVISORY_URL)
    return main


def test_analyst_publishes_after_a_correction_and_a_reader_finds_it(page_for: PageFor) -> None:
    name = _unique("Institute of Invented Optics")
    analyst = page_for(ANALYST)
    analyst.goto("/")
    analyst.get_by_role("banner").get_by_role("link", name="New advisory").click()
    main = analyst.get_by_role("main")
    expect(main.get_by_role("heading", name="New advisory", level=1)).to_be_visible()
    _fill_advisory(main, name, country="ZZ", summary="Works on optics for missile seekers.")
    main.get_by_role("button", name="Save advisory").click()

    country = main.get_by_label("Country", exact=True)
    expect(main.locator("#subject-country-error")).to_have_text(
        "'ZZ' is not an ISO 3166-1 alpha-2 country code"
    )
    expect(country).to_have_attribute("aria-invalid", "true")
    expect(main.locator(".error-summary")).to_contain_text("is not an ISO 3166-1")
    expect(main.get_by_label("Organisation name", exact=True)).to_have_value(name)
    expect(main.get_by_label("Summary", exact=True)).to_have_value(
        "Works on optics for missile seekers."
    )
    expect(main.get_by_label("Risk", exact=True)).to_have_value("high")
    expect(main.locator("#sources-0-url")).to_have_value("https://example.org/report")
    screenshot(analyst, "advisory-form-error")

    country.fill("DE")
    main.get_by_role("button", name="Save advisory").click()
    expect(analyst).to_have_url(ADVISORY_URL)
    expect(main.locator(".tlp-banner")).to_contain_text("TLP:GREEN")
    expect(main.get_by_role("status")).to_have_text("Advisory published.")
    expect(main.get_by_role("heading", level=1)).to_have_text(name)
    expect(main).to_contain_text("Germany (DE)")
    expect(main).to_contain_text("Academia-led")
    source = main.get_by_role("link", name="Public reporting on the institute")
    expect(source).to_have_attribute("href", "https://example.org/report")
    expect(source).to_have_attribute("rel", "noopener noreferrer")
    expect(main.locator(".adv-revision")).to_have_count(1)
    screenshot(analyst, "advisory-detail")

    reader = page_for(READER)
    reader.goto(f"/screen?q={name}")
    expect(reader.get_by_role("main")).to_contain_text(name)
    reader.goto("/advisories")
    reader_main = reader.get_by_role("main")
    reader_main.get_by_label("Name or identifier", exact=True).fill(name)
    reader_main.get_by_role("button", name="Filter").click()
    row = reader_main.get_by_role("row").filter(has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("TLP:GREEN")
    expect(row).to_contain_text("High risk")
    screenshot(reader, "advisories-list")
    row.get_by_role("link", name=name).click()
    expect(reader.get_by_role("main").get_by_role("heading", level=1)).to_have_text(name)
    # Only the contributing analyst is offered the forms.
    expect(reader.get_by_role("link", name="Edit advisory")).to_have_count(0)


def test_edits_show_in_the_history_and_a_withdrawal_is_marked(page_for: PageFor) -> None:
    name = _unique("Invented Propulsion Centre")
    analyst = page_for(ANALYST)
    main = _publish(analyst, name, risk="high")
    advisory_url = analyst.url

    main.get_by_role("link", name="Edit advisory").click()
    expect(main.get_by_label("Organisation name", exact=True)).to_have_value(name)
    # Someone else saves a change while this form is open: saving it then is a conflict.
    other = analyst.context.new_page()
    other.goto(advisory_url + "/edit")
    other.get_by_role("main").get_by_label("Confidence", exact=True).select_option("high")
    other.get_by_role("main").get_by_role("button", name="Save changes").click()
    expect(other.get_by_role("main").get_by_role("status")).to_contain_text("Advisory updated")
    other.close()

    main.get_by_label("Risk", exact=True).select_option("very_high")
    main.get_by_role("button", name="Save changes").click()
    expect(main.get_by_role("alert")).to_contain_text("the advisory changed while you were editing")
    expect(main.get_by_role("alert")).to_contain_text("The advisory is at revision 2")
    expect(main.get_by_label("Risk", exact=True)).to_have_value("very_high")
    main.get_by_role("link", name="start again from it").click()

    expect(main.get_by_label("Confidence", exact=True)).to_have_value("high")
    main.get_by_label("Risk", exact=True).select_option("very_high")
    main.get_by_label("Categories", exact=False).fill("defence_lab, hypersonics")
    main.get_by_role("button", name="Save changes").click()
    expect(analyst).to_have_url(advisory_url)
    expect(main.get_by_role("status")).to_contain_text("Advisory updated")
    expect(main.locator(".adv-badges")).to_contain_text("Very high risk")
    newest = main.locator(".adv-revision").first
    expect(newest.get_by_role("heading")).to_contain_text("Revision 3")
    expect(newest).to_contain_text("Changes since revision 2")
    risk = newest.get_by_role("listitem").filter(has_text="Risk")
    expect(risk).to_contain_text("High")
    expect(risk.locator("del")).to_have_text("High")
    expect(risk.locator("ins")).to_have_text("Very high")
    categories = newest.get_by_role("listitem").filter(has_text="Categories")
    expect(categories.locator("ins")).to_have_text("hypersonics")
    expect(categories.locator("del")).to_have_text("talent_programme")
    expect(main.locator(".adv-revision").nth(1)).to_contain_text("Confidence")

    main.get_by_role("link", name="Withdraw advisory").click()
    main.get_by_role("button", name="Withdraw advisory").click()
    expect(main.locator("#reason-error")).to_have_text(
        "Give the reason for withdrawing the advisory."
    )
    main.get_by_label("Reason for withdrawing", exact=True).fill(
        "Mistaken identification: the centre was confused with another."
    )
    main.get_by_role("button", name="Withdraw advisory").click()
    expect(analyst).to_have_url(advisory_url)
    expect(main.get_by_role("status")).to_have_text("Advisory withdrawn.")
    withdrawn = main.locator(".adv-withdrawn")
    expect(withdrawn).to_contain_text("Withdrawn")
    expect(withdrawn).to_contain_text("Reason: Mistaken identification")
    expect(main.get_by_role("link", name="Edit advisory")).to_have_count(0)
    status = main.locator(".adv-revision").first.get_by_role("listitem").filter(has_text="Status")
    expect(status.locator("del")).to_have_text("Published")
    expect(status.locator("ins")).to_have_text("Withdrawn")
    screenshot(analyst, "advisory-withdrawn")

    # Readers see it marked too, and only among withdrawn advisories in the list.
    reader = page_for(READER)
    reader.goto(advisory_url)
    expect(reader.get_by_role("main").locator(".adv-withdrawn")).to_contain_text(
        "Mistaken identification"
    )
    reader.goto(f"/advisories?q={name}")
    expect(reader.get_by_role("main").get_by_role("row").filter(has_text=name)).to_have_count(0)
    reader.goto(f"/advisories?q={name}&status=withdrawn")
    expect(reader.get_by_role("main").get_by_role("row").filter(has_text=name)).to_have_count(1)


def test_what_an_author_typed_is_shown_as_text_and_never_run(page_for: PageFor) -> None:
    name = _unique('Invented "Markup" <b>Institute</b>')
    analyst = page_for(ANALYST, mobile=True)
    main = _publish(analyst, name, summary=XSS_SUMMARY)
    expect(main).to_contain_text(XSS_SUMMARY)
    expect(main.get_by_role("heading", level=1)).to_have_text(name)
    expect(main.locator("img")).to_have_count(0)
    expect(main.locator("b")).to_have_count(0)
    assert analyst.evaluate("window.__xss") is None

    main.get_by_role("link", name="Edit advisory").click()
    expect(main.get_by_label("Summary", exact=True)).to_have_value(XSS_SUMMARY)
    main.get_by_label("Summary", exact=True).fill(XSS_SUMMARY + " Revised.")
    main.get_by_role("button", name="Save changes").click()
    expect(main.locator(".adv-revision").first.locator("del")).to_have_text(XSS_SUMMARY)
    assert analyst.evaluate("window.__xss") is None

    analyst.goto("/advisories?q=" + name.split(" ")[-1])
    expect(analyst.get_by_role("main").get_by_role("link", name=name)).to_be_visible()
    assert analyst.evaluate("window.__xss") is None
    screenshot(analyst, "advisories-list-mobile")
