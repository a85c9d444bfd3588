"""The screening pages: one name on /screen (anyone), a CSV file on /screen/batch (members).

In the browser against the served demo node, as a person uses them; without a browser, what a
viewer may see (the page against ``/v1/screen`` for the same viewer), the CSRF check and who
may open the batch page.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import Members, load_demo_advisories
from tests.web.conftest import POLY_READER, READER, PageFor, screenshot
from tests.web.pages import csrf_of, web_sign_in

HIT = "Harbin Institute of Technology"
HIT_RISK = re.compile(r"very.high risk", re.IGNORECASE)
# A university in the ROR data (/work/shared/data/ror-subset.jsonl) with no advisory about it.
HARMLESS = "University of Helsinki"
# FIRST's TLP 2.0 colours, on black.
TLP_CLEAR_RGB = "rgb(255, 255, 255)"
TLP_AMBER_RGB = "rgb(255, 192, 0)"
BLACK = "rgb(0, 0, 0)"
NO_MATCH = "No match among the advisories visible to you"


def _screen(page: Page, name: str, country: str = "") -> None:
    page.goto("/screen")
    main = page.get_by_role("main")
    main.get_by_label("Organisation name", exact=True).fill(name)
    main.get_by_label("Country (optional)", exact=True).fill(country)
    main.get_by_role("button", name="Screen").click()


def test_screening_a_chinese_short_name_finds_the_institute_with_its_risk_and_marking(
    page_for: PageFor,
) -> None:
    for viewer in (READER, None):
        page = page_for(viewer)
        _screen(page, "哈工大")
        main = page.get_by_role("main")
        expect(main.get_by_role("heading", name="Results for “哈工大”")).to_be_visible()
        card = main.get_by_role("article", name=HIT)
        expect(card.get_by_role("heading", name=HIT)).to_be_visible()
        expect(card).to_contain_text("China (CN)")
        expect(card.get_by_role("link", name="https://ror.org/01yqg2h08")).to_be_visible()
        expect(card).to_contain_text("“哈工大” matched a common Chinese short form of its name")
        # The highest risk, above the results and on the match.
        expect(main.locator(".screen-verdict .risk")).to_have_text(HIT_RISK)
        expect(card.locator(".screen-match-head .risk")).to_have_text(HIT_RISK)
        advisory = card.locator(".screen-advisory").first
        banner = advisory.locator(".tlp-banner")
        expect(banner.locator(".tlp-label")).to_have_text("TLP:CLEAR")
        expect(banner.locator(".tlp-label")).to_have_css("color", TLP_CLEAR_RGB)
        expect(banner).to_have_css("background-color", BLACK)
        expect(advisory.locator(".tier")).to_have_text("Academia-led")
        expect(advisory).to_contain_text("Seven Sons")
        link = advisory.get_by_role("link", name=re.compile(r"^Read the advisory about " + HIT))
        expect(link).to_have_attribute("href", re.compile(r"^/advisories/[0-9a-f-]{36}$"))
        if viewer is None:
            expect(main).to_contain_text("only TLP:CLEAR advisories are searched")
        else:
            screenshot(page, "screen-hit")

    # A vetted member sees a government amber notice, in amber.
    page = page_for(READER)
    _screen(page, "NUDT")
    card = page.get_by_role("main").get_by_role(
        "article", name="National University of Defense Technology"
    )
    label = card.locator(".tlp-banner .tlp-label").first
    expect(label).to_have_text("TLP:AMBER")
    expect(label).to_have_css("color", TLP_AMBER_RGB)
    expect(card.locator(".tier").first).to_have_text("Government")

    # On a phone the results fit the screen's width.
    phone = page_for(READER, mobile=True)
    _screen(phone, "哈工大")
    expect(phone.get_by_role("main").get_by_role("article", name=HIT)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "screen-hit-mobile")


def test_no_match_is_said_plainly_and_bad_input_next_to_its_field(page_for: PageFor) -> None:
    page = page_for(READER)
    _screen(page, HARMLESS, "FI")
    main = page.get_by_role("main")
    expect(main).to_contain_text(NO_MATCH)
    expect(main).to_contain_text("not a clearance")
    expect(main.get_by_role("article")).to_have_count(0)
    screenshot(page, "screen-no-match")

    _screen(page, "x" * 1001)
    name = main.get_by_label("Organisation name", exact=True)
    expect(main.locator("#q-error")).to_have_text("The name must be at most 1000 characters.")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", re.compile(r"\bq-error\b"))
    expect(main).not_to_contain_text(NO_MATCH)

    _screen(page, "   ", "ZZ")
    expect(main.locator("#q-error")).to_have_text("The name must not be empty.")
    expect(main.locator("#country-error")).to_contain_text("'ZZ' is not an ISO 3166-1")
    expect(main.get_by_label("Country (optional)", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    screenshot(page, "screen-errors")


def _batch_file(tmp_path: Path) -> Path:
    path = tmp_path / "co-authors.csv"
    path.write_text(
        "name,country,project\n"
        "哈工大,,GA-1\n"
        f"{HARMLESS},FI,GA-2\n"
        '"School of Astronautics, Harbin Inst Technol, Harbin 150001, China",,GA-3\n',
        encoding="utf-8",
    )
    return path


def _check_report(path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [(r["row"], r["project"]) for r in rows] == [("1", "GA-1"), ("2", "GA-2"), ("3", "GA-3")]
    hit, harmless, line = rows
    assert (hit["name"], hit["match_rank"], hit["matched_name"]) == ("哈工大", "1", HIT)
    assert (hit["highest_risk"], hit["tlps"]) == ("very_high", "clear")
    assert (harmless["name"], harmless["country"]) == (HARMLESS, "FI")
    assert harmless["match_rank"] == harmless["matched_name"] == harmless["advisory_ids"] == ""
    assert line["matched_name"] == HIT
    assert "affiliation line" in line["matched_on"]


def test_a_csv_file_is_screened_with_progress_and_the_report_downloads(
    page_for: PageFor, tmp_path: Path
) -> None:
    page = page_for(READER)
    page.goto("/screen")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Batch screening").click()
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="Batch screening", level=1)).to_be_visible()
    main.get_by_label("CSV file", exact=True).set_input_files(_batch_file(tmp_path))
    main.get_by_role("button", name="Screen the file").click()
    # Screened in the page: the progress bar is filled and the status says so.
    progress = main.get_by_role("progressbar", name="Screening progress")
    expect(main.get_by_role("status")).to_have_text("Done: screened 3 rows.")
    expect(progress).to_have_attribute("value", "3")
    expect(progress).to_have_attribute("max", "3")
    expect(main.locator("#batch-summary")).to_have_text(
        "3 rows screened: 2 rows match an advisory you may see, 1 without a match."
    )
    expect(page).to_have_url(re.compile(r"/screen/batch$"))
    screenshot(page, "screen-batch-done")
    with page.expect_download() as download:
        main.get_by_role("link", name="Download the report").click()
    assert download.value.suggested_filename == "trex-screening-report.csv"
    _check_report(Path(download.value.path()))


def test_without_javascript_the_form_itself_downloads_the_report(
    page_for: PageFor, tmp_path: Path
) -> None:
    page = page_for(READER, javascript=False)
    page.goto("/screen/batch")
    main = page.get_by_role("main")
    main.get_by_label("CSV file", exact=True).set_input_files(_batch_file(tmp_path))
    with page.expect_download() as download:
        main.get_by_role("button", name="Screen the file").click()
    assert download.value.suggested_filename == "trex-screening-report.csv"
    _check_report(Path(download.value.path()))


def test_a_bad_csv_file_is_refused_next_to_the_file_field(
    page_for: PageFor, tmp_path: Path
) -> None:
    no_name = tmp_path / "no-name.csv"
    no_name.write_text("organisation,country\n哈工大,CN\n", encoding="utf-8")
    bad_row = tmp_path / "bad-row.csv"
    bad_row.write_text("name,country\n哈工大,CN\nBeihang University,XX\n", encoding="utf-8")
    for javascript in (True, False):
        page = page_for(READER, javascript=javascript)
        page.goto("/screen/batch")
        main = page.get_by_role("main")
        field = main.get_by_label("CSV file", exact=True)
        field.set_input_files(no_name)
        main.get_by_role("button", name="Screen the file").click()
        expect(main.locator("#file-error")).to_have_text("The CSV header has no 'name' column.")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_attribute("aria-describedby", re.compile(r"\bfile-error\b"))
        expect(main.get_by_role("progressbar")).to_be_hidden()
        field.set_input_files(bad_row)
        main.get_by_role("button", name="Screen the file").click()
        expect(main.locator("#file-error")).to_contain_text("nothing was screened")
        expect(main.locator("#file-error li")).to_have_text(
            ["Row 2, country: 'XX' is not an ISO 3166-1 alpha-2 code"]
        )
        if javascript:
            screenshot(page, "screen-batch-error")


# --- without a browser ----------------------------------------------------------------------


def _advisory_ids(html: str) -> set[str]:
    return set(re.findall(r'href="/advisories/([0-9a-f-]{36})"', html))


def test_a_page_shows_only_what_v1_screen_gives_the_same_viewer(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    documents = load_demo_advisories(session_factory, members)
    nudt = documents["National University of Defense Technology"]
    assert (nudt["tier"], nudt["tlp"]) == ("government", "amber")
    for email, sees_nudt in ((READER, True), (POLY_READER, False)):
        with TestClient(client.app) as browser:
            web_sign_in(browser, members.tokens[email])
            for query in ("NUDT", "哈工大", "中国人民解放军国防科技大学", "Beihang University"):
                page = browser.get("/screen", params={"q": query})
                api = client.get("/v1/screen", params={"q": query}, headers=members.auth(email))
                assert page.status_code == api.status_code == 200
                shown = {a["id"] for m in api.json()["matches"] for a in m["advisories"]}
                assert _advisory_ids(page.text) == shown, (email, query)
            nudt_page = browser.get("/screen", params={"q": "NUDT"}).text
            assert (nudt["id"] in _advisory_ids(nudt_page)) is sees_nudt
            assert ("tlp-banner tlp-amber" in nudt_page) is sees_nudt
            assert (NO_MATCH in nudt_page) is not sees_nudt


def test_the_batch_page_is_for_members_and_its_post_needs_the_csrf_token(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    load_demo_advisories(session_factory, members)
    anonymous = client.get("/screen/batch", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/sign-in?next=%2Fscreen%2Fbatch"
    file = {"file": ("names.csv", "name,ref\n哈工大,=1+1\nUniversity of Helsinki,b\n", "text/csv")}
    with TestClient(client.app) as browser:
        web_sign_in(browser, members.tokens[READER])
        token = csrf_of(browser.get("/screen/batch").text)
        for refused in (
            browser.post("/screen/batch", files=file),
            browser.post("/screen/batch", files=file, data={"csrf_token": "x" * len(token)}),
            browser.post("/screen/batch", files=file, headers={"X-CSRF-Token": "wrong"}),
        ):
            assert refused.status_code == 403
            assert "did not come from this node" in refused.text
        # The form's field, or the script's header: the same report as the API's, as a file.
        for sent in ({"data": {"csrf_token": token}}, {"headers": {"X-CSRF-Token": token}}):
            report = browser.post("/screen/batch", files=file, **sent)
            assert report.status_code == 200
            assert report.headers["content-disposition"] == (
                'attachment; filename="trex-screening-report.csv"'
            )
            assert report.headers["cache-control"] == "no-store"
            api = client.post(
                "/v1/screen/batch?format=csv",
                content=file["file"][1].encode(),
                headers={**members.auth(READER), "Content-Type": "text/csv"},
            )
            assert report.text == api.text
            assert "'=1+1" in report.text
            assert HIT in report.text


def test_a_large_file_is_accepted_up_to_the_batch_limit_and_refusals_keep_the_form(
    client: TestClient, members: Members
) -> None:
    # Over the node's ordinary body limit (256 KiB), well under the batch limit.
    padding = "p" * 600
    large = "name,note\n" + "".join(f"Example Org {i},{padding}\n" for i in range(600))
    assert len(large.encode()) > client.app.state.settings.max_body_bytes
    with TestClient(client.app) as browser:
        web_sign_in(browser, members.tokens[READER])
        token = csrf_of(browser.get("/screen/batch").text)

        def upload(body: bytes) -> tuple[int, str]:
            response = browser.post(
                "/screen/batch",
                data={"csrf_token": token},
                files={"file": ("names.csv", body, "text/csv")},
            )
            return response.status_code, response.text

        status, text = upload(large.encode())
        assert status == 200
        assert text.count("\n") == 601
        assert "Example Org 599" in text
        too_many = ("name\n" + "x\n" * 10_001).encode()
        for body, status, message in (
            (b"", 422, "The file is empty."),
            ("name\nÅbo Akademi\n".encode("latin-1"), 422, "The file is not UTF-8 text"),
            (too_many, 422, "The file has too many rows: at most 10000 rows per batch."),
            (b"organisation\nx\n", 422, "The CSV header has no &#39;name&#39; column."),
        ):
            got, text = upload(body)
            assert got == status
            assert 'id="file-error-message"' in text
            assert message in text
            assert text.startswith("<!doctype html>")
        missing = browser.post("/screen/batch", data={"csrf_token": token})
        assert missing.status_code == 400
        assert "Choose a CSV file to screen." in missing.text


def test_web_visitors_screen_unhurt_by_bad_input(client: TestClient) -> None:
    for params, field, message in (
        ({"q": ""}, "q", "The name must not be empty."),
        ({"q": "x" * 1001}, "q", "The name must be at most 1000 characters."),
        ({"q": "HIT", "country": "XX"}, "country", "is not an ISO 3166-1 alpha-2 code"),
        ({"q": "a\x00b"}, "q", "The name must not contain control characters."),
    ):
        page = client.get("/screen", params=params)
        assert page.status_code == 400
        assert f'id="{field}-error"' in page.text
        assert message in page.text
    # Just the form, nothing screened, when no name is asked about.
    blank = client.get("/screen")
    assert blank.status_code == 200
    assert "Results for" not in blank.text
