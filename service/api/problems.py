"""Every error leaves the node as an RFC 9457 problem document (``application/problem+json``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.db import database_unavailable, out_of_storage
from service.errors import FieldError, Problem, TrexError, to_problem

PROBLEM_JSON = "application/problem+json"
PROBLEM_CONTENT: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
"""OpenAPI ``responses`` entry content: the error is a problem document."""
_log = logging.getLogger("trex.api")
_LOCATION_PARTS = {"body", "query", "path", "header"}
DATABASE_RETRY_AFTER_SECONDS = 5
"""What a client is told to wait when the database is unavailable: about a restart's length."""
STORAGE_FULL = Problem(
    507,
    "Storage full",
    "The node's storage is full: nothing was written. Reading still works; writing will once "
    "the node's operator has made space.",
    "urn:trex:problem:storage-full",
)
DATABASE_UNAVAILABLE = Problem(
    503,
    "Database unavailable",
    "The node's database is unavailable for the moment; retry after the time in Retry-After.",
    "urn:trex:problem:database-unavailable",
)


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATION_PARTS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def malformed_body(reason: str) -> Problem:
    """400 naming the body, for a body that could not be parsed at all."""
    return Problem(
        400,
        "Malformed request",
        f"The request body is {reason}.",
        "urn:trex:problem:malformed-request",
        (FieldError("body", reason),),
    )


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    """422 naming each field pydantic refused; 400 when the body is not JSON at all."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return malformed_body("not valid JSON")
    field_errors = tuple(FieldError(_field_name(tuple(e["loc"])), e["msg"]) for e in errors)
    named = ", ".join(dict.fromkeys(f.field for f in field_errors))
    return Problem(
        422,
        "Invalid input",
        f"Invalid value for: {named}.",
        "urn:trex:problem:invalid-input",
        field_errors,
    )


async def _on_trex_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TrexError)
    problem = to_problem(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="trex"'} if problem.status == 401 else None
    return problem_response(problem, headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(list(exc.errors())))


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's own 400, for a body it could not decode (not UTF-8, nested too deep): routes
        # raise domain errors, never HTTPException.
        return problem_response(malformed_body("not decodable"))
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(Problem(exc.status_code, title, detail), exc.headers)


def database_problem(exc: Exception) -> tuple[Problem, dict[str, str]] | None:
    """The problem (and headers) for a database that is full (507) or out of reach (503);
    None for any other database error, which is a fault of the node. Checked in this order:
    a full disk is an ``OperationalError`` too."""
    if out_of_storage(exc):
        return STORAGE_FULL, {}
    if database_unavailable(exc):
        return DATABASE_UNAVAILABLE, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    return None


def log_database_problem(request: Request, problem: Problem, exc: Exception) -> None:
    # The driver's error class only: its message may quote the statement's parameters.
    cause = type(getattr(exc, "orig", None) or exc).__name__
    level = logging.ERROR if problem is STORAGE_FULL else logging.WARNING
    _log.log(level, "%s on %s %s (%s)", problem.title, request.method, request.url.path, cause)


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """507 when the disk is full, 503 when the database is out of reach; else a 500.

    The request's transaction is whole or undone (``service.db.transaction``); only a
    connection lost during the commit leaves open which.
    """
    found = database_problem(exc)
    if found is None:
        # Any other database error is a fault of the node: on to the 500 handler, as before.
        raise exc
    problem, headers = found
    log_database_problem(request, problem, exc)
    return problem_response(problem, headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        Problem(500, "Internal error", "The node could not complete the request.")
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TrexError, _on_trex_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)
