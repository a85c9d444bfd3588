"""JSON log lines: their fields, the request id on every line, and redaction (defence in depth)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.observability.logs import JsonFormatter, logging_config, request_id_from
from service.settings import Settings
from tests.factories import Members

TOKEN = "trex_0123456789abcdef0123456789abcdef_s3cr3t-PART_of-the-token"
PASSWORD = "hunter2-but-longer"


def formatted(
    message: str, *args: Any, exc: BaseException | None = None, **extra: Any
) -> dict[str, Any]:
    record = logging.LogRecord("trex.test", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    record.__dict__.update(extra)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry: dict[str, Any] = json.loads(line)
    return entry


def test_a_line_has_the_documented_fields() -> None:
    entry = formatted("GET %s %d", "/v1/me", 200, method="GET", route="/v1/me", status=200)
    assert entry["message"] == "GET /v1/me 200"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "trex.test"
    assert entry["timestamp"].endswith("+00:00")
    assert entry["request_id"] is None
    assert (entry["method"], entry["route"], entry["status"]) == ("GET", "/v1/me", 200)


@pytest.mark.parametrize(
    "field",
    [
        "authorization",
        "Authorization",
        "token",
        "api_token",
        "password",
        "db_password",
        "secret",
        "client_secret",
    ],
)
def test_fields_named_like_credentials_are_redacted(field: str) -> None:
    entry = formatted("hello", **{field: "value-that-must-not-show"})
    assert entry[field] == "[REDACTED]"


@pytest.mark.parametrize(
    "message",
    [
        f"token {TOKEN} refused",
        f"header was 'Authorization: Bearer {TOKEN}'",
        f"Bearer {PASSWORD}",
        f"connecting to postgresql+psycopg://trex:{PASSWORD}@db.internal/trex",
        f"password={PASSWORD}",
        f'{{"password": "{PASSWORD}"}}',
        f"secret: {PASSWORD}",
    ],
)
def test_secrets_in_messages_are_redacted(message: str) -> None:
    entry = formatted("%s", message)
    assert TOKEN not in entry["message"]
    assert PASSWORD not in entry["message"]
    assert "[REDACTED]" in entry["message"]


def test_secrets_in_nested_extras_and_tracebacks_are_redacted() -> None:
    try:
        raise RuntimeError(f"failed with {TOKEN} at postgresql://u:{PASSWORD}@h/db")
    except RuntimeError as error:
        entry = formatted(
            "boom", exc=error, detail={"headers": {"Authorization": TOKEN}}, note=[TOKEN]
        )
    text = json.dumps(entry)
    assert TOKEN not in text
    assert PASSWORD not in text
    assert entry["exception"] == "RuntimeError"
    assert "Traceback" in entry["traceback"]


def test_a_plain_request_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id_from("abc-123.x_Y") == "abc-123.x_Y"
    for bad in (None, "", "a" * 65, "with space", "new\nline", "é"):
        replaced = request_id_from(bad)
        assert uuid.UUID(replaced).version == 4


def test_the_server_config_silences_uvicorns_access_log() -> None:
    config = logging_config()
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
    assert config["formatters"]["json"]["()"].endswith("JsonFormatter")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Any:
    handler = _Lines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(previous)


def test_every_line_of_a_failing_request_carries_its_id_and_no_secret(
    settings: Settings, members: Members, lines: list[dict[str, Any]]
) -> None:
    app = create_app(settings)

    # A route that fails as an unexpected bug would, with a secret in its message.
    @app.get("/boom")
    def boom() -> None:
        logging.getLogger("trex.test").info("about to fail")
        raise RuntimeError(f"leaked {TOKEN}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/boom",
            headers={"X-Request-ID": "req-500", **members.auth("operator@node.example")},
        )
    assert response.status_code == 500
    mine = [line for line in lines if line["request_id"] == "req-500"]
    loggers = [line["logger"] for line in mine]
    assert "trex.test" in loggers
    failed = next(line for line in mine if line["logger"] == "trex.request")
    assert failed["status"] == 500
    assert failed["route"] == "/boom"
    assert failed["exception"] == "RuntimeError"
    assert failed["level"] == "ERROR"
    # The 500 handler's own line, outside the middleware, still knows the request.
    assert any(line["logger"] == "trex.api" and line.get("exception") for line in mine)
    text = json.dumps(lines)
    assert TOKEN not in text
    assert members.tokens["operator@node.example"] not in text
