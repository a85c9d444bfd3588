"""Structured logs: one JSON object per line, carrying the id of the request being served.

Secrets never belong in a log line, and the code never puts them there; the formatter still
masks what looks like one (a bearer token, a field named like a credential, a password in a
URL), so that a mistake elsewhere leaks nothing.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"

request_id_var: ContextVar[str | None] = ContextVar("trex_request_id", default=None)
"""The id of the request this task serves; every log line written meanwhile carries it."""

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Extra fields whose name says they hold a credential.
_SECRET_FIELD = re.compile(r"authorization|token|password|passwd|secret|cookie|private|seed", re.I)
_SECRETS_IN_TEXT = (
    # A trex bearer token (``trex_<id>_<secret>``), whole or in part.
    (re.compile(r"trex_[A-Za-z0-9_-]{8,}"), "trex_" + REDACTED),
    # Authorization header values, however they were formatted into a message.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # The password of a URL (a database URL: ``postgresql://user:password@host/db``).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@"), r"\1:" + REDACTED + "@"),
    # key=value and "key": "value" pairs naming a credential.
    (
        re.compile(
            r"(?i)(\"?\b(?:authorization|token|password|passwd|secret|private_seed)\"?\s*[=:]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
        ),
        r"\1" + REDACTED,
    ),
)
# Attributes every LogRecord has: what is left over was passed with ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
) | {"message", "asctime", "taskName", "color_message"}
# uvicorn's color_message repeats the message with terminal colours.


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a plain short id, else a new uuid4.

    Anything else (too long, spaces, control characters) is replaced rather than echoed into
    every log line and response header.
    """
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return str(uuid.uuid4())


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential masked."""
    for pattern, replacement in _SECRETS_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _clean(name: str, value: Any) -> Any:
    if _SECRET_FIELD.search(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(name, v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, request id, extras.

    Fields given with ``extra=`` (``method``, ``route``, ``status``, ``duration_ms``…) are kept
    at the top level; an exception adds its type and its traceback. Everything passes through
    the redaction above.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": request_id_var.get(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = _clean(name, value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["traceback"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server (uvicorn applies it in every worker).

    Every logger writes JSON lines to stderr through the root handler; uvicorn's own access
    log is silenced, since the request middleware writes one richer line per request.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # Alembic says which dialect it found at every readiness probe.
            "alembic": {"handlers": [], "propagate": True, "level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }
