"""Refuse oversized request bodies with 413 before anything parses them."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import FieldError, PayloadTooLarge, to_problem


class BodySizeLimit:
    """ASGI middleware: buffer at most ``max_bytes`` of a body, or answer 413.

    Checks the declared ``Content-Length`` first, then counts what actually arrives, so a
    chunked or lying client is stopped as well. ``larger`` raises the limit for a few exact
    ``(method, path)`` pairs (a batch upload), and for nothing else.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        larger: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    def _limit(self, scope: Scope) -> int:
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        # Behind a proxy that mounts the node under a prefix, the route is what follows it.
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        return self.larger.get((scope["method"], path), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        problem = to_problem(
            PayloadTooLarge(
                f"The request body is larger than {limit} bytes.",
                errors=(FieldError("body", f"larger than {limit} bytes"),),
            )
        )
        payload = json.dumps(problem.to_dict()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
