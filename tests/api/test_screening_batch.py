"""``POST /v1/screen/batch`` as its users see it, on both backends (SPEC section 6, issue 5).

A JSON list or a CSV file of names in; a JSON or CSV report out, one result per row in input
order with the row's own fields. Every kind of bad upload gets a 4xx problem naming what was
wrong, before any of the report is sent.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.settings import Settings
from tests.api.test_screening_api import (
    ANONYMOUS,
    BUAA,
    HIT,
    HUAWEI,
    IAPCM,
    NONSENSE,
    NUDT,
    POLY_READER,
    READER,
    SKOLTECH,
    assert_result_shape,
    auth,
    load_demo_advisories,
    match_names,
)
from tests.audit.chain import entries
from tests.factories import Members, assert_problem, post_advisory

AGENCY_PUBLISHER = "publisher@agency.example"
ANALYST = "analyst@example.edu"
GOV_PUBLISHER = "publisher@gov.example"
CSV = "text/csv"
JSON = "application/json"
REPORT_COLUMNS = [
    "match_rank",
    "matched_name",
    "matched_country",
    "score",
    "matched_on",
    "highest_risk",
    "advisory_ids",
    "tiers",
    "tlps",
]


@pytest.fixture
def demo(session_factory: sessionmaker[Session], members: Members) -> dict[str, dict[str, Any]]:
    return load_demo_advisories(session_factory, members)


def post_batch(
    client: TestClient,
    headers: dict[str, str],
    content: bytes | str | Iterator[bytes],
    content_type: str | None = JSON,
    **params: str,
) -> httpx.Response:
    if isinstance(content, str):
        content = content.encode("utf-8")
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    response: httpx.Response = client.post(
        "/v1/screen/batch", content=content, headers=sent, params=params
    )
    return response


def json_report(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(JSON)
    body = response.json()
    assert body["count"] == len(body["results"])
    for number, result in enumerate(body["results"], start=1):
        assert result["row"] == number
        assert isinstance(result["fields"], dict)
        assert_result_shape(result)
    results: list[dict[str, Any]] = body["results"]
    return results


def screened(client: TestClient, headers: dict[str, str], rows: list[Any]) -> list[dict[str, Any]]:
    return json_report(post_batch(client, headers, json.dumps(rows)))


def csv_report(response: httpx.Response) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the lines of a CSV report (which starts with a BOM for spreadsheets)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(CSV)
    assert response.headers["content-disposition"] == (
        'attachment; filename="screening-report.csv"'
    )
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    reader = csv.reader(io.StringIO(text[1:], newline=""))
    header = next(reader)
    lines = [dict(zip(header, record, strict=True)) for record in reader]
    return header, lines


def lines_of(lines: list[dict[str, str]], row: int) -> list[dict[str, str]]:
    return [line for line in lines if line["row"] == str(row)]


# --- JSON in ----------------------------------------------------------------------------------


def test_a_json_list_of_names_gives_one_result_per_row_in_input_order(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    names = [HIT, NONSENSE, "北航", NUDT, "哈工大"]

    results = screened(client, members.auth(READER), names)

    assert [r["query"] for r in results] == names
    assert [r["fields"] for r in results] == [{}] * 5
    assert match_names(results[0])[0] == HIT
    assert results[1]["matches"] == []
    assert match_names(results[2])[0] == BUAA
    assert match_names(results[3])[0] == NUDT
    assert match_names(results[4])[0] == HIT
    assert results[0]["matches"][0]["advisories"][0]["id"] == demo[HIT]["id"]
    # The same as screening each name alone.
    alone = client.get("/v1/screen", params={"q": NUDT}, headers=members.auth(READER)).json()
    assert results[3]["matches"] == alone["matches"]


def test_json_objects_keep_their_own_fields(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    rows = [
        {"name": HIT, "country": "CN", "ref": "P-1", "amount": 12, "active": True, "note": None},
        {"ref": "P-2", "name": BUAA, "country": None},
        "Sichuan University",
        {"name": NONSENSE, "country": "", "ref": "P-4"},
    ]

    for body in (rows, {"rows": rows}):
        results = json_report(post_batch(client, members.auth(READER), json.dumps(body)))

        assert [r["fields"] for r in results] == [
            {"ref": "P-1", "amount": 12, "active": True, "note": None},
            {"ref": "P-2"},
            {},
            {"ref": "P-4"},
        ]
        assert [r["country"] for r in results] == ["CN", None, None, None]
        assert [match_names(r)[:1] for r in results] == [[HIT], [BUAA], ["Sichuan University"], []]


# --- CSV in -----------------------------------------------------------------------------------

SPREADSHEET_CSV = (
    "\ufeffRef,NAME,Country,Notes\r\n"
    'A-1,Harbin Institute of Technology,CN,"joint lab, since 2024"\r\n'
    'A-2,"Huawei Technologies Co., Ltd.",,"says ""hello"""\r\n'
    "\r\n"
    f"A-3,{NONSENSE},,\r\n"
    ",,,\r\n"
)


def test_a_spreadsheet_csv_with_bom_extra_columns_and_quoted_commas(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    results = json_report(post_batch(client, members.auth(READER), SPREADSHEET_CSV, CSV))

    # Blank lines, and the empty row at the end, are not rows.
    assert [r["query"] for r in results] == [HIT, HUAWEI, NONSENSE]
    assert [r["country"] for r in results] == ["CN", None, None]
    assert [r["fields"] for r in results] == [
        {"Ref": "A-1", "Notes": "joint lab, since 2024"},
        {"Ref": "A-2", "Notes": 'says "hello"'},
        {"Ref": "A-3", "Notes": ""},
    ]
    assert match_names(results[0])[0] == HIT
    assert match_names(results[1])[0] == HUAWEI
    assert results[2]["matches"] == []


def test_a_semicolon_separated_csv_is_read_too(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    text = f"name;country;ref\n{HIT};CN;1\n{BUAA};;2\n"

    results = json_report(post_batch(client, members.auth(READER), text, "text/csv; charset=utf-8"))

    assert [(r["query"], r["country"], r["fields"]) for r in results] == [
        (HIT, "CN", {"ref": "1"}),
        (BUAA, None, {"ref": "2"}),
    ]


# --- CSV out ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "accept"),
    [
        pytest.param({"format": "csv"}, None, id="format-csv"),
        pytest.param({}, "text/csv", id="accept-csv"),
        pytest.param({}, "application/json;q=0.5, text/csv", id="accept-prefers-csv"),
    ],
)
def test_the_csv_report_has_a_line_per_match_and_one_per_row_without(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    params: dict[str, str],
    accept: str | None,
) -> None:
    headers = members.auth(READER) | ({"Accept": accept} if accept else {})

    response = post_batch(client, headers, SPREADSHEET_CSV, CSV, **params)

    header, lines = csv_report(response)
    assert header == ["row", "name", "country", "Ref", "Notes", *REPORT_COLUMNS]
    assert [line["row"] for line in lines] == sorted((line["row"] for line in lines), key=int)
    first = lines_of(lines, 1)
    assert [line["match_rank"] for line in first] == [str(n) for n in range(1, len(first) + 1)]
    best = first[0]
    expected = demo[HIT]
    assert (best["name"], best["country"], best["Ref"], best["Notes"]) == (
        HIT,
        "CN",
        "A-1",
        "joint lab, since 2024",
    )
    assert (best["matched_name"], best["matched_country"]) == (HIT, "CN")
    assert 0.0 < float(best["score"]) <= 1.0
    assert best["matched_on"]
    assert best["highest_risk"] == expected["risk"]
    assert (best["advisory_ids"], best["tiers"], best["tlps"]) == (
        expected["id"],
        expected["tier"],
        expected["tlp"],
    )
    huawei = lines_of(lines, 2)[0]
    assert (huawei["name"], huawei["matched_name"], huawei["Notes"]) == (
        HUAWEI,
        HUAWEI,
        'says "hello"',
    )
    assert huawei["advisory_ids"] == demo[HUAWEI]["id"]
    assert lines_of(lines, 3) == [
        {
            "row": "3",
            "name": NONSENSE,
            "country": "",
            "Ref": "A-3",
            "Notes": "",
            **dict.fromkeys(REPORT_COLUMNS, ""),
        }
    ]


def test_a_subject_with_several_advisories_lists_each_with_its_tier_and_tlp(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    name = "Qinling Photonics Laboratory"
    subject = {"name": name, "country": "CN", "kind": "lab", "identifiers": {}, "parent": None}
    academia = post_advisory(
        client, members.auth(ANALYST), subject=subject, tlp="green", risk="medium"
    )
    government = post_advisory(
        client,
        members.auth(GOV_PUBLISHER),
        subject=subject,
        tier="government",
        tlp="amber",
        risk="high",
    )

    response = post_batch(
        client, members.auth(READER), json.dumps([{"name": name, "id": "x"}]), format="csv"
    )

    header, lines = csv_report(response)
    assert header == ["row", "name", "country", "id", *REPORT_COLUMNS]
    best = lines[0]
    assert (best["id"], best["matched_name"]) == ("x", name)
    columns = (best["advisory_ids"], best["tiers"], best["tlps"])
    assert {*zip(*(column.split(" ") for column in columns), strict=True)} == {
        (academia["id"], "academia", "green"),
        (government["id"], "government", "amber"),
    }
    assert best["highest_risk"] == "high"
    # Unvetted: only the green one, so the highest risk it is told is that one's.
    _, unvetted = csv_report(
        post_batch(client, members.auth(POLY_READER), json.dumps([name]), format="csv")
    )
    assert (unvetted[0]["advisory_ids"], unvetted[0]["highest_risk"]) == (academia["id"], "medium")


def test_json_is_the_default_report(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    for headers, params in (
        ({}, {}),
        ({"Accept": "application/json"}, {}),
        ({"Accept": "*/*"}, {}),
        ({"Accept": "text/csv"}, {"format": "json"}),
        ({"Accept": "application/json, text/csv"}, {}),
    ):
        response = post_batch(client, members.auth(READER) | headers, json.dumps([HIT]), **params)
        assert [r["query"] for r in json_report(response)] == [HIT]


def test_a_cell_a_spreadsheet_would_run_is_neutralised(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    rows = [{"name": '=HYPERLINK("http://evil.example","Harbin")', "memo": "@SUM(A1:A9)"}]

    response = post_batch(client, members.auth(READER), json.dumps(rows), format="csv")

    _, lines = csv_report(response)
    assert lines[0]["name"].startswith("'=")
    assert lines[0]["memo"] == "'@SUM(A1:A9)"
    # The JSON report is data, not a spreadsheet: it echoes the values as they came.
    results = screened(client, members.auth(READER), rows)
    assert results[0]["fields"] == {"memo": "@SUM(A1:A9)"}


# --- size -------------------------------------------------------------------------------------

MAX_ROWS = 10_000


def _names(count: int) -> list[str]:
    """Mostly names nobody wrote about, with demo names among them."""
    known = [HIT, BUAA, NUDT, "哈工大", "Huawei"]
    return [
        known[n // 4 % len(known)] if n % 4 == 0 else f"Nonexistent Research Foundation {n}"
        for n in range(count)
    ]


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_ten_thousand_rows_are_screened_in_order(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]], kind: str
) -> None:
    names = _names(MAX_ROWS)
    started = time.perf_counter()
    if kind == "json":
        response = post_batch(client, members.auth(READER), json.dumps(names))
        results = json_report(response)
        elapsed = time.perf_counter() - started
        assert [r["query"] for r in results] == names
        assert match_names(results[0])[0] == HIT
        assert match_names(results[8])[0] == NUDT
        assert results[1]["matches"] == []
    else:
        text = "name,seq\n" + "".join(f"{name},{n}\n" for n, name in enumerate(names, 1))
        response = post_batch(client, members.auth(READER), text, CSV, format="csv")
        _, lines = csv_report(response)
        elapsed = time.perf_counter() - started
        rows = list(dict.fromkeys(int(line["row"]) for line in lines))
        assert rows == list(range(1, MAX_ROWS + 1))
        assert all(line["seq"] == line["row"] for line in lines)
        assert lines_of(lines, 1)[0]["matched_name"] == HIT
        assert lines_of(lines, 2)[0]["match_rank"] == ""
    # The issue's aim is 1,000 names in under 2 s in-process; this is 10,000 over HTTP.
    assert elapsed < 60, f"{MAX_ROWS} rows took {elapsed:.1f} s"


def test_ten_thousand_and_one_rows_are_refused(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    session_factory: sessionmaker[Session],
) -> None:
    names = _names(MAX_ROWS + 1)
    before = len(entries(session_factory))

    for body in (names, {"rows": names}):
        assert_problem(post_batch(client, members.auth(READER), json.dumps(body)), 422, "rows")
    text = "name\n" + "\n".join(names)
    assert_problem(post_batch(client, members.auth(READER), text, CSV), 422, "rows")

    assert len(entries(session_factory)) == before


def test_a_bad_row_near_the_end_is_refused_before_anything_is_screened(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    session_factory: sessionmaker[Session],
) -> None:
    lines = [f"{name},{n}" for n, name in enumerate(_names(MAX_ROWS), start=1)]
    lines[8999] = ",9000"  # row 9,000: an empty name
    lines[9499] = "Harbin\x07Institute,9500"
    before = len(entries(session_factory))

    response = post_batch(client, members.auth(READER), "name,ref\n" + "\n".join(lines), CSV)

    problem = assert_problem(response, 422, "rows[9000].name")
    assert "rows[9500].name" in {error["field"] for error in problem["errors"]}
    assert len(entries(session_factory)) == before


def test_the_batch_has_its_own_larger_body_limit(
    client: TestClient, members: Members, settings: Settings, demo: dict[str, dict[str, Any]]
) -> None:
    assert settings.max_batch_body_bytes == 8 * 1024 * 1024
    # Four times the global limit: refused by /v1/advisories, taken by the batch route.
    names = [f"{HIT} {'x' * 900}"] * (4 * settings.max_body_bytes // 900)
    body = json.dumps(names[:MAX_ROWS]).encode()
    assert len(body) > settings.max_body_bytes

    response = post_batch(client, members.auth(READER), body)
    assert response.status_code == 200, response.text
    refused = client.post(
        "/v1/advisories", content=body, headers={"Content-Type": JSON, **members.auth(READER)}
    )
    assert_problem(refused, 413, "body")


CHUNK = 64 * 1024


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("content_type", [CSV, JSON])
def test_a_ten_megabyte_line_is_413(
    client: TestClient,
    members: Members,
    settings: Settings,
    session_factory: sessionmaker[Session],
    streamed: bool,
    content_type: str,
) -> None:
    line = (
        b"name\n" + b"A" * (10 * 1024 * 1024)
        if content_type == CSV
        else (b'["' + b"A" * (10 * 1024 * 1024) + b'"]')
    )
    assert len(line) > settings.max_batch_body_bytes
    before = len(entries(session_factory))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(line), CHUNK):
            yield line[start : start + CHUNK]

    response = post_batch(
        client, members.auth(READER), chunks() if streamed else line, content_type
    )

    assert_problem(response, 413, "body")
    assert len(entries(session_factory)) == before


# --- bad uploads ------------------------------------------------------------------------------

UTF16_CSV = "name\nHarbin Institute of Technology\n".encode("utf-16")
GARBAGE = bytes(range(128, 256)) * 8

BAD_UPLOADS = [
    # The body as a whole.
    pytest.param(JSON, b"", 422, "body", id="json-empty"),
    pytest.param(CSV, b"", 422, "body", id="csv-empty"),
    pytest.param(JSON, b"  \n\t ", 422, "body", id="json-blank"),
    pytest.param(CSV, b"\r\n\r\n", 422, "body", id="csv-blank"),
    pytest.param(JSON, b"not json", 400, "body", id="json-malformed"),
    pytest.param(JSON, b'["Harbin"', 400, "body", id="json-truncated"),
    pytest.param(JSON, b"[" * 100_000, 400, "body", id="json-deeply-nested"),
    pytest.param(JSON, b"[" + b"9" * 5000 + b"]", 400, "body", id="json-huge-number"),
    pytest.param(JSON, GARBAGE, 422, "body", id="json-binary-garbage"),
    pytest.param(CSV, GARBAGE, 422, "body", id="csv-binary-garbage"),
    pytest.param(CSV, b"name\nUniversit\xe9 de Montr\xe9al\n", 422, "body", id="csv-latin-1"),
    pytest.param(CSV, UTF16_CSV, 422, "body", id="csv-utf-16"),
    pytest.param(CSV, b"name\nHarbin\x00Institute\n", 422, "body", id="csv-nul-byte"),
    pytest.param(JSON, b'["Harbin\x00"]', 422, "body", id="json-nul-byte"),
    pytest.param(CSV, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 422, "body", id="csv-png"),
    # The JSON document's shape.
    pytest.param(JSON, b"[]", 422, "rows", id="json-no-rows"),
    pytest.param(JSON, b"{}", 422, "rows", id="json-object-without-rows"),
    pytest.param(JSON, b'{"rows": []}', 422, "rows", id="json-empty-rows"),
    pytest.param(JSON, b'{"rows": "Harbin"}', 422, "rows", id="json-rows-not-a-list"),
    pytest.param(JSON, b'"Harbin"', 422, "rows", id="json-a-bare-string"),
    pytest.param(JSON, b'{"rows": ["Harbin"], "limit": 3}', 422, "limit", id="json-unknown-key"),
    # One row.
    pytest.param(JSON, b'[""]', 422, "rows[1].name", id="json-empty-name"),
    pytest.param(JSON, b'["Harbin", "   "]', 422, "rows[2].name", id="json-blank-name"),
    pytest.param(JSON, b'["Harbin", 17]', 422, "rows[2]", id="json-number-row"),
    pytest.param(JSON, b'[["Harbin"]]', 422, "rows[1]", id="json-list-row"),
    pytest.param(JSON, b'[{"country": "CN"}]', 422, "rows[1].name", id="json-no-name"),
    pytest.param(JSON, b'[{"name": 5}]', 422, "rows[1].name", id="json-name-not-text"),
    pytest.param(JSON, b'[{"name": null}]', 422, "rows[1].name", id="json-name-null"),
    pytest.param(
        JSON, json.dumps(["x" * 1001]).encode(), 422, "rows[1].name", id="json-name-too-long"
    ),
    pytest.param(JSON, b'["Harbin\\u0000"]', 422, "rows[1].name", id="json-escaped-nul"),
    pytest.param(
        JSON, b'[{"name": "Harbin", "country": "China"}]', 422, "rows[1].country", id="country"
    ),
    pytest.param(
        JSON, b'[{"name": "Harbin", "country": 86}]', 422, "rows[1].country", id="country-number"
    ),
    pytest.param(
        JSON, b'[{"name": "Harbin", "ref": {"a": 1}}]', 422, "rows[1].ref", id="json-nested-field"
    ),
    pytest.param(
        JSON, b'[{"name": "Harbin", "ref": "a\\u0007"}]', 422, "rows[1].ref", id="json-bell-field"
    ),
    pytest.param(
        JSON,
        json.dumps([{"name": "A", **{f"c{n}": "" for n in range(101)}}]).encode(),
        422,
        "rows[1]",
        id="json-too-many-fields",
    ),
    # CSV structure.
    pytest.param(
        CSV,
        ("name," + ",".join(f"c{n}" for n in range(101)) + "\nA\n").encode(),
        422,
        "header",
        id="csv-too-many-columns",
    ),
    pytest.param(CSV, b"company,country\nHarbin,CN\n", 422, "name", id="csv-no-name-column"),
    pytest.param(CSV, b"Harbin Institute of Technology\n", 422, "name", id="csv-no-header"),
    pytest.param(CSV, b"name,Name\nA,B\n", 422, "name", id="csv-two-name-columns"),
    pytest.param(CSV, b"name\n", 422, "rows", id="csv-header-only"),
    pytest.param(CSV, b"name,ref,ref\nA,1,2\n", 422, "header", id="csv-repeated-column"),
    pytest.param(CSV, b"name\nHarbin,extra\n", 422, "rows[1]", id="csv-more-cells"),
    pytest.param(CSV, b"name,ref\n,7\n", 422, "rows[1].name", id="csv-empty-name"),
    pytest.param(CSV, b"name,country\nHarbin,XX\n", 422, "rows[1].country", id="csv-country"),
    pytest.param(
        CSV, b"name\n" + b"x" * 200_000 + b"\n", 422, "body", id="csv-cell-over-csv-limit"
    ),
    # Media types.
    pytest.param(None, b'["Harbin"]', 415, "content-type", id="no-content-type"),
    pytest.param("text/plain", b"name\nHarbin\n", 415, "content-type", id="text-plain"),
    pytest.param(
        "application/x-www-form-urlencoded", b"name=Harbin", 415, "content-type", id="form"
    ),
    pytest.param("multipart/form-data; boundary=x", b"--x--", 415, "content-type", id="multipart"),
    pytest.param(
        "text/csv; charset=iso-8859-1", b"name\nHarbin\n", 415, "content-type", id="csv-latin-1"
    ),
    pytest.param("application/xml", b"<rows/>", 415, "content-type", id="xml"),
]


@pytest.mark.parametrize(("content_type", "content", "status", "field"), BAD_UPLOADS)
def test_a_bad_upload_is_refused_naming_what_is_wrong(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    content_type: str | None,
    content: bytes,
    status: int,
    field: str,
) -> None:
    before = len(entries(session_factory))

    for headers in (members.auth(READER), {}):
        response = post_batch(client, headers, content, content_type)
        assert_problem(response, status, field)
        # The same refusal whatever report was asked for.
        as_csv = post_batch(client, headers, content, content_type, format="csv")
        assert_problem(as_csv, status, field)

    assert len(entries(session_factory)) == before


def test_a_bad_format_is_422(client: TestClient, members: Members) -> None:
    response = post_batch(client, members.auth(READER), json.dumps([HIT]), format="xlsx")
    assert_problem(response, 422, "format")


def test_many_bad_rows_are_named_together(client: TestClient, members: Members) -> None:
    rows = ["Harbin", "", 17, {"name": "B", "country": "ZZ"}] + [""] * 100

    problem = assert_problem(post_batch(client, members.auth(READER), json.dumps(rows)), 422)

    fields = [error["field"] for error in problem["errors"]]
    assert fields[:3] == ["rows[2].name", "rows[3]", "rows[4].country"]
    # A file with a hundred bad rows is refused naming the first few, and says there are more.
    assert 3 < len(fields) <= 25
    assert "more" in problem["detail"]


# --- access -----------------------------------------------------------------------------------


def test_an_unvetted_member_gets_no_trace_of_hidden_subjects_in_the_report(
    client: TestClient, members: Members, demo: dict[str, dict[str, Any]]
) -> None:
    names = [NUDT, "NUDT", IAPCM, HIT, NONSENSE]

    vetted = screened(client, members.auth(READER), names)
    assert [match_names(r)[:1] for r in vetted] == [[NUDT], [NUDT], [IAPCM], [HIT], []]

    unvetted = screened(client, members.auth(POLY_READER), names)
    for result in unvetted[:3] + unvetted[4:]:
        assert result["matches"] == [], result
    assert match_names(unvetted[3])[0] == HIT

    response = post_batch(client, members.auth(POLY_READER), json.dumps(names), format="csv")
    _, lines = csv_report(response)
    for line in lines:
        if line["row"] != "4":
            assert [line[c] for c in REPORT_COLUMNS] == [""] * len(REPORT_COLUMNS), line
    for hidden in (NUDT, IAPCM):
        assert demo[hidden]["id"] not in response.text
        # The name appears only where the caller wrote it.
        assert response.text.count(hidden) == names.count(hidden)


@pytest.mark.parametrize(
    ("who", "found"),
    [
        (ANONYMOUS, [HIT, None, None, None, HUAWEI]),
        (POLY_READER, [HIT, BUAA, None, None, HUAWEI]),
        (AGENCY_PUBLISHER, [HIT, BUAA, NUDT, None, HUAWEI]),
        (READER, [HIT, BUAA, NUDT, IAPCM, HUAWEI]),
    ],
)
def test_each_caller_gets_what_it_may_see_in_the_batch(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    who: str,
    found: list[str | None],
) -> None:
    names = [HIT, BUAA, NUDT, IAPCM, HUAWEI, SKOLTECH]

    results = screened(client, auth(members, who), names)

    for name, result, expected in zip(names, results, [*found, None], strict=True):
        if expected is None:
            assert demo[name]["id"] not in json.dumps(result), (who, name)
            assert name not in match_names(result), (who, name)
        else:
            assert match_names(result)[0] == expected, (who, name)


def test_batch_results_showing_audited_advisories_are_recorded(
    client: TestClient,
    members: Members,
    demo: dict[str, dict[str, Any]],
    session_factory: sessionmaker[Session],
) -> None:
    before = len(entries(session_factory))
    # Clear academia only (and nothing at all): nothing to record.
    screened(client, members.auth(READER), [HIT, NONSENSE] * 200)
    assert len(entries(session_factory)) == before

    # NUDT (government, amber) in the first chunk of rows and in a later one.
    names = [HIT] * 400
    names[0] = names[350] = NUDT
    screened(client, members.auth(READER), names)

    recorded = entries(session_factory)[before:]
    assert recorded
    for entry in recorded:
        assert entry.actor == READER
        assert entry.action == "advisory.screen", entry
        assert demo[HIT]["id"] not in json.dumps(entry.detail)
    assert all(demo[NUDT]["id"] in json.dumps(entry.detail) for entry in recorded)


def test_a_bad_token_is_401(client: TestClient) -> None:
    response = post_batch(client, {"Authorization": "Bearer trex_nope"}, json.dumps([HIT]))
    assert_problem(response, 401)
