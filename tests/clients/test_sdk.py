"""The SDK against a real served node: ``TrexClient`` and ``AsyncTrexClient`` list, read,
publish, screen and review, and the node's refusals arrive as typed errors with their detail."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from trex_client import (
    Advisory,
    AdvisoryInput,
    AsyncTrexClient,
    BadRequest,
    BatchReport,
    Conflict,
    Forbidden,
    InvalidInput,
    NonPublicResources,
    NotFound,
    PayloadTooLarge,
    Retry,
    ReviewInput,
    Subject,
    TransportError,
    TrexAPIError,
    TrexClient,
    TrexError,
    Unauthorized,
)
from trex_client._batch import CsvReport, JsonReport

from tests.clients.conftest import (
    ANALYST,
    POLY_READER,
    READER,
    Node,
    new_advisory,
    published_demo_names,
)
from tests.node_process import free_port

PAGE = 5
HIT = "Harbin Institute of Technology"
BATCH_ROWS: list[str | dict[str, str]] = [
    {"name": "Harbin Inst Technol", "country": "CN", "grant": "EP/X01234"},
    "北京航空航天大学",
    "University of Oxford",
]
BATCH_CSV = (
    "name,country,department\n"
    '"School of Computer Science, Harbin Institute of Technology, Shenzhen 518055, China",CN,'
    "Computing\n"
    "Tsinghua University,,Physics\n"
    "NUDT,,Maths\n"
)


class CountingTransport(httpx.BaseTransport):
    """The real network, with a record of each request sent (to see the pages fetched)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _client(
    node: Node, email: str | None = READER, transport: httpx.BaseTransport | None = None
) -> TrexClient:
    return TrexClient(node.base_url, node.token(email) if email else None, transport=transport)


def _raw_ids(node: Node, email: str) -> list[str]:
    """What the node lists, read with plain HTTP in one page: what the SDK must agree with."""
    response = httpx.get(
        f"{node.base_url}/v1/advisories",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {node.token(email)}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [item["id"] for item in response.json()["items"]]


# --- reading ----------------------------------------------------------------------------------


def test_me_names_the_caller(node: Node) -> None:
    with _client(node) as trex:
        me = trex.me()
    assert me.email == READER
    assert me.role == "reader"
    assert me.org.name == "University of Example"
    assert me.vetted is True


def test_advisories_pages_through_every_visible_advisory_once(node: Node) -> None:
    transport = CountingTransport()
    with _client(node, transport=transport) as trex:
        items = list(trex.advisories(page_size=PAGE))
    ids = [item.id for item in items]
    assert len(set(ids)) == len(ids), "an advisory came twice"
    assert ids == _raw_ids(node, READER)
    assert published_demo_names() <= {item.subject.name for item in items}
    assert {item.status for item in items} == {"published"}
    pages = [r for r in transport.requests if r.url.path == "/v1/advisories"]
    assert len(pages) >= -(-len(items) // PAGE) >= 5
    assert all(r.url.params["limit"] == str(PAGE) for r in pages)
    assert "cursor" not in pages[0].url.params
    assert all("cursor" in r.url.params for r in pages[1:])


def test_advisories_filters_and_is_lazy(node: Node) -> None:
    transport = CountingTransport()
    with _client(node, transport=transport) as trex:
        iterator = trex.advisories(
            page_size=PAGE, country="CN", risk="very_high", tier="government"
        )
        assert transport.requests == [], "nothing is fetched before the iteration starts"
        government = list(iterator)
        harbin = {a.subject.name for a in trex.advisories(q="哈尔滨")}
        with pytest.raises(TypeError, match="colour"):
            trex.advisories(colour="red")  # type: ignore[call-arg]
    assert government
    assert {(a.subject.country, a.risk, a.tier) for a in government} == {
        ("CN", "very_high", "government")
    }
    assert harbin == {HIT, "Harbin Engineering University"}


def test_advisory_and_revisions(node: Node) -> None:
    with _client(node) as trex:
        listed = next(a for a in trex.advisories(q="哈尔滨工业大学") if a.subject.name == HIT)
        advisory = trex.advisory(listed.id)
        history = trex.revisions(listed.id)
    assert isinstance(advisory, Advisory)
    assert advisory == listed
    assert advisory.subject.names[0].value == "哈尔滨工业大学"
    assert advisory.tlp == "clear"
    assert [r.revision for r in history] == [1]


def test_anonymous_sees_only_tlp_clear(node: Node) -> None:
    with _client(node, None) as trex:
        tlps = {a.tlp for a in trex.advisories(page_size=PAGE)}
    assert tlps == {"clear"}


# --- writing ----------------------------------------------------------------------------------


def test_publish_update_and_withdraw_from_a_dict(node: Node) -> None:
    with _client(node, ANALYST) as analyst, _client(node) as reader:
        published = analyst.publish(new_advisory("Example Sonar Laboratory"))
        assert published.revision == 1
        assert published.status == "published"
        assert published.origin == "demo"
        assert reader.advisory(published.id).subject.name == "Example Sonar Laboratory"

        updated = analyst.update(published.id, 1, tlp="amber", technologies=["acoustics", "uav"])
        assert (updated.revision, updated.tlp, updated.technologies) == (
            2,
            "amber",
            ["acoustics", "uav"],
        )
        with pytest.raises(Conflict) as stale:
            analyst.update(published.id, 1, risk="high")
        assert str(stale.value) == stale.value.detail != ""

        withdrawn = analyst.withdraw(published.id, 2, "Merged into another advisory.")
        assert withdrawn.status == "withdrawn"
        assert withdrawn.withdrawal_reason == "Merged into another advisory."
        assert [r.revision for r in reader.revisions(published.id)] == [1, 2, 3]
        assert published.id not in {a.id for a in reader.advisories(q="Example Sonar")}


def test_publish_from_a_model_sends_only_what_was_set(node: Node) -> None:
    draft = AdvisoryInput(
        tier="academia",
        tlp="green",
        subject=Subject(name="Example Hydrophone Works", country="NZ", kind="company"),
        risk="low",
        confidence="low",
        recommended_action="awareness",
        summary="Set fields only; the node's defaults do the rest.",
    )
    with _client(node, ANALYST) as analyst:
        stored = analyst.publish(draft)
    assert stored.status == "draft"
    assert stored.subject.names == []
    assert stored.scope == []


# --- screening --------------------------------------------------------------------------------


def test_screen_a_chinese_short_form(node: Node) -> None:
    with _client(node) as trex:
        result = trex.screen("哈工大")
        nothing = trex.screen("University of Oxford")
        acronym = trex.screen("HIT", country="CN", limit=1)
    best = result.matches[0]
    assert best.subject.name == HIT
    assert best.matched_text == "哈工大"
    assert 0.9 <= best.score <= 1.0
    assert best.advisories[0].risk == "very_high"
    assert nothing.matches == []
    assert [m.subject.name for m in acronym.matches] == [HIT]


def test_screen_shows_only_what_the_caller_may_see(node: Node) -> None:
    with _client(node, POLY_READER) as unvetted, _client(node) as vetted:
        assert unvetted.screen("NUDT").matches == []
        assert vetted.screen("NUDT").matches[0].subject.name == (
            "National University of Defense Technology"
        )


def test_screen_batch_of_rows_reports_each_in_order(node: Node) -> None:
    seen: list[tuple[int, int | None]] = []
    with _client(node) as trex:
        report = trex.screen_batch(BATCH_ROWS, progress=lambda *args: seen.append(args))
    assert isinstance(report, BatchReport)
    assert report.count == 3
    assert [r.row for r in report.results] == [1, 2, 3]
    assert report.results[0].fields == {"grant": "EP/X01234"}
    assert report.results[0].matches[0].subject.name == HIT
    assert report.results[1].matches[0].subject.name == "Beihang University"
    assert report.results[2].matches == []
    assert seen[-1] == (3, 3)


def test_screen_batch_of_csv_text_gives_the_csv_report(node: Node, tmp_path: Path) -> None:
    with _client(node) as trex:
        text = trex.screen_batch(BATCH_CSV, format="csv")
        sink = io.BytesIO()
        rows = trex.screen_batch(BATCH_CSV.encode(), format="csv", output=sink)
        path = tmp_path / "names.csv"
        path.write_text(BATCH_CSV, encoding="utf-8")
        from_file = trex.screen_batch(path)
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [line["row"] for line in lines] == ["1", "2", "3"]
    assert [line["matched_name"] for line in lines] == [
        HIT,
        "",
        "National University of Defense Technology",
    ]
    assert [line["department"] for line in lines] == ["Computing", "Physics", "Maths"]
    assert rows == 3
    # Streamed to the file as it came: the node's bytes, byte order mark included.
    assert sink.getvalue().decode("utf-8-sig") == text
    assert [r.query for r in from_file.results][1] == "Tsinghua University"


def test_batch_progress_counts_rows_as_they_stream(node: Node) -> None:
    """600 rows stream in three chunks of the node's; every report reader ends at 600, and a
    report cut into single bytes is counted the same (cells with commas, quotes, newlines)."""
    rows = [
        {"name": name, "note": 'a "quoted",\nmulti-line note'}
        for name in ["哈工大", "Tsinghua University", "NUDT"] * 200
    ]
    seen: list[tuple[int, int | None]] = []
    with _client(node) as trex:
        json_report = io.BytesIO()
        csv_report = io.BytesIO()
        trex.screen_batch(rows, output=json_report, progress=lambda *args: seen.append(args))
        assert trex.screen_batch(rows, format="csv", output=csv_report) == 600
    received = [r for r, _ in seen]
    assert received == sorted(received)
    assert seen[-1] == (600, 600)
    assert json.loads(json_report.getvalue())["count"] == 600
    for reader_class, report in ((JsonReport, json_report), (CsvReport, csv_report)):
        reader = reader_class(None, None, None)
        body = report.getvalue()
        for i in range(len(body)):
            reader.feed(body[i : i + 1])
        reader.done()
        assert reader.received == 600, reader_class.__name__


# --- reviews ----------------------------------------------------------------------------------


def test_review_answers_the_three_questions(node: Node) -> None:
    review_in = ReviewInput(
        title="Turbine blade coatings",
        partners=["School of Materials Science, Harbin Institute of Technology, Harbin, China"],
        research_area="Thermal barrier coatings for aircraft engines",
        technologies=["aerospace", "materials"],
        non_public_resources=NonPublicResources(kinds=["compute", "data"]),
        applications="Civil and military jet engines",
    )
    with _client(node) as trex:
        review = trex.review(review_in)
        listed = list(trex.reviews(page_size=1))
    assert review.concern_level == "severe"
    assert [q.key for q in review.questions] == ["resources", "partner", "applications"]
    assert all(q.answer and q.concern for q in review.questions)
    assert review.organisations[0].matches[0].subject["name"] == HIT
    assert review.guidance
    assert review.input.title == "Turbine blade coatings"
    assert review.id in {r.id for r in listed}


# --- errors -----------------------------------------------------------------------------------


def test_unknown_advisory_is_not_found(node: Node) -> None:
    with _client(node) as trex, pytest.raises(NotFound) as caught:
        trex.advisory("00000000-0000-0000-0000-000000000000")
    error = caught.value
    assert isinstance(error, TrexAPIError)
    assert error.status == 404
    assert error.detail
    assert str(error) == error.detail


def test_invalid_advisory_names_each_field(node: Node) -> None:
    document = new_advisory("Example Refused Institute")
    document["subject"]["country"] = "ZZ"
    document["risk"] = "extreme"
    with _client(node, ANALYST) as analyst, pytest.raises(InvalidInput) as caught:
        analyst.publish(document)
    error = caught.value
    assert error.status == 422
    assert error.fields == ["subject.country", "risk"]
    assert str(error) == "Invalid value for: subject.country, risk."
    assert "ISO 3166-1" in error.errors[0].detail


def test_bad_token_is_unauthorized(node: Node) -> None:
    forged = node.token(READER)[:-4] + "AAAA"
    with TrexClient(node.base_url, forged) as trex, pytest.raises(Unauthorized) as caught:
        trex.me()
    assert caught.value.status == 401
    assert str(caught.value) == "The bearer token is not valid."


def test_reader_publishing_is_forbidden(node: Node) -> None:
    with _client(node) as reader, pytest.raises(Forbidden) as caught:
        reader.publish(new_advisory("Example Forbidden Institute"))
    assert str(caught.value) == "The reader role cannot write advisories."


def test_oversized_and_unparsable_bodies(node: Node, tmp_path: Path) -> None:
    huge = new_advisory("Example Huge Institute")
    huge["detail"] = "x" * 300_000
    broken = tmp_path / "rows.json"
    broken.write_text("[not json", encoding="utf-8")
    with _client(node, ANALYST) as analyst:
        with pytest.raises(PayloadTooLarge):
            analyst.publish(huge)
        with pytest.raises(BadRequest) as caught:
            analyst.screen_batch(broken)
    assert "JSON" in str(caught.value)


def test_unreachable_node_is_a_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    trex = TrexClient(url, retries=Retry(total=1, backoff=0.01))
    with trex, pytest.raises(TransportError) as caught:
        trex.me()
    assert isinstance(caught.value, TrexError)
    assert url in str(caught.value)


# --- the async client -------------------------------------------------------------------------


def test_async_client_does_the_same(node: Node) -> None:
    async def run() -> None:
        reader = AsyncTrexClient(node.base_url, node.token(READER))
        async with reader, AsyncTrexClient(node.base_url, node.token(ANALYST)) as analyst:
            assert (await reader.me()).email == READER
            ids = [a.id async for a in reader.advisories(page_size=PAGE)]
            assert ids == _raw_ids(node, READER)
            first = await reader.advisory(ids[0])
            assert first.id == ids[0]
            history = await reader.revisions(ids[0])
            assert {r.id for r in history} == {ids[0]}
            assert history[-1].revision == first.revision

            published = await analyst.publish(new_advisory("Example Async Laboratory"))
            assert published.revision == 1
            updated = await analyst.update(published.id, 1, risk="high")
            assert updated.risk == "high"
            assert (await analyst.withdraw(published.id, 2, "Test over.")).status == "withdrawn"

            result = await reader.screen("哈工大")
            assert result.matches[0].subject.name == HIT
            report = await reader.screen_batch(BATCH_ROWS)
            assert [r.row for r in report.results] == [1, 2, 3]
            text = await reader.screen_batch(BATCH_CSV, format="csv")
            assert "National University of Defense Technology" in text

            review = await reader.review(
                {
                    "partners": ["Harbin Institute of Technology"],
                    "research_area": "Marine robotics",
                    "non_public_resources": {"kinds": ["none"]},
                    "applications": "Ocean monitoring",
                }
            )
            assert review.concern_level in {"elevated", "high", "severe"}
            assert review.id in [r.id async for r in reader.reviews()]

            with pytest.raises(NotFound):
                await reader.advisory("00000000-0000-0000-0000-000000000000")
            with pytest.raises(Forbidden) as caught:
                await reader.publish(new_advisory("Example Forbidden Async Institute"))
            assert str(caught.value) == "The reader role cannot write advisories."

    asyncio.run(run())
