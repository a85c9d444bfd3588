"""Per request: an id (``X-Request-ID``), a JSON log line and the latency histogram."""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.logs import request_id_from, request_id_var
from service.observability.metrics import UNMATCHED_ROUTE, NodeMetrics

REQUEST_ID_HEADER = "X-Request-ID"
_log = logging.getLogger("trex.request")
# Anything else is counted as OTHER: a client inventing methods must not add label values.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_template(scope: Scope) -> str:
    # The router leaves the matched route in the scope; its template (``/v1/advisories/{id}``),
    # never the raw path, is the label, so ids do not become series.
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class ObserveRequests:
    """ASGI middleware: request id, one access log line, latency and in-flight metrics.

    The request id is the caller's ``X-Request-ID`` when it is a short plain id, else a new
    uuid4; it is echoed in the response and set in a context variable, so every log line
    written while the request is served carries it.
    """

    def __init__(self, app: ASGIApp, *, metrics: NodeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode())
        request_id = request_id_from(header.decode("latin-1") if header is not None else None)
        reset = request_id_var.set(request_id)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != REQUEST_ID_HEADER.lower().encode()
                ]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(method=method, route=route, status=status, seconds=seconds)
            fields = {
                "method": method,
                "route": route,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                # Which worker process served it, as in the metrics' ``pid`` label.
                "pid": os.getpid(),
            }
            if failure is None:
                _log.info("%s %s %s", method, route, status, extra=fields)
                request_id_var.reset(reset)
            else:
                # The id stays set: the 500 handler, outside this middleware, logs with it.
                _log.error(
                    "%s %s failed",
                    method,
                    route,
                    extra={**fields, "exception": type(failure).__name__},
                )
