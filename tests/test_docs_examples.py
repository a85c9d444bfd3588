"""The requests shown in docs/ are sent to a demo node and must get the status they claim."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.db import transaction, utcnow
from service.demo import issue_demo_tokens, load_demo

DOCS = Path(__file__).resolve().parent.parent / "docs"
# ```http expect=200 contains="text"``: the status, and optionally text the body must hold
# (with \" for a quote inside it).
_BLOCK = re.compile(
    r'```http expect=(\d{3})(?: contains="((?:[^"\\]|\\.)*)")?\n(.*?)```', re.DOTALL
)
_VARIABLES = {
    "READER_TOKEN": "reader@example.edu",
    "ANALYST_TOKEN": "analyst@example.edu",
    "POLY_READER_TOKEN": "reader@poly.example",
    "PUBLISHER_TOKEN": "publisher@gov.example",
    "OPERATOR_TOKEN": "operator@node.example",
}


@dataclass(frozen=True)
class Example:
    expect: int
    method: str
    path: str
    headers: dict[str, str]
    body: str
    contains: str = ""


def parse_examples(markdown: str) -> list[Example]:
    examples = []
    for expect, contains, block in _BLOCK.findall(markdown):
        head, _, body = block.partition("\n\n")
        request_line, *header_lines = head.strip().splitlines()
        method, path = request_line.split(" ", 1)
        headers = dict(line.split(": ", 1) for line in header_lines)
        expected_text = contains.replace('\\"', '"')
        examples.append(Example(int(expect), method, path, headers, body.strip(), expected_text))
    return examples


def documents_with_examples() -> list[Path]:
    return sorted(path for path in DOCS.glob("*.md") if _BLOCK.search(path.read_text("utf-8")))


def test_parser_reads_a_block() -> None:
    markdown = '```http expect=201\nPOST /v1/x\nA: b\n\n{"k": 1}\n```'
    assert parse_examples(markdown) == [Example(201, "POST", "/v1/x", {"A": "b"}, '{"k": 1}')]


def test_parser_reads_what_the_body_must_contain() -> None:
    markdown = '```http expect=200 contains="\\"a\\":[]"\nGET /v1/x\n```'
    assert parse_examples(markdown) == [Example(200, "GET", "/v1/x", {}, "", '"a":[]')]


def test_docs_have_examples() -> None:
    assert {"api.md", "screening.md"} <= {path.name for path in documents_with_examples()}


@pytest.mark.parametrize("document", documents_with_examples(), ids=lambda p: p.name)
def test_examples_get_the_documented_status(
    document: Path, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    with transaction(session_factory) as session:
        load_demo(session, node_id="test", now=now)
        tokens = {u.email: t for u, t in issue_demo_tokens(session, now=now, ttl=timedelta(1))}
    variables = {name: tokens[email] for name, email in _VARIABLES.items()}
    examples = parse_examples(document.read_text("utf-8"))
    assert examples, f"{document.name} has no runnable examples"
    for example in examples:

        def substitute(text: str) -> str:
            for name, value in variables.items():
                text = text.replace(f"${name}", value)
            return text

        response = client.request(
            example.method,
            substitute(example.path),
            headers={k: substitute(v) for k, v in example.headers.items()},
            content=substitute(example.body).encode() if example.body else None,
        )
        assert response.status_code == example.expect, (
            f"{document.name}: {example.method} {example.path} gave "
            f"{response.status_code}: {response.text}"
        )
        assert example.contains in response.text, (
            f"{document.name}: {example.method} {example.path} lacks {example.contains!r}: "
            f"{response.text}"
        )
        if example.method == "POST" and response.status_code == 201:
            variables["LAST_ID"] = response.json()["id"]
