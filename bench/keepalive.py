"""A minimal HTTP/1.1 client over keep-alive connections, for the load test's generator.

The load generator shares the node's two cores, so what it spends per request is taken from
the node. httpx spent 1.5-2 ms of CPU per request there (timeouts through anyio, a failed
``import`` per request looking for trio, h11), and its connection pool re-scans every
connection for every waiting request whenever one starts or ends, which under a backlog made
the generator, not the node, the bottleneck. This sends requests as bytes on asyncio streams
and reads responses by ``Content-Length`` or chunked transfer coding, which is all the node
sends; nothing else of HTTP (no redirects, compression, TLS, trailers' content) is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

IDLE_SECONDS = 4.0
"""A connection idle longer is replaced before use: uvicorn closes idle ones after 5 s."""


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as expected, or the connection ended early."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Connection:
    """One keep-alive connection to ``host:port``, used by one request at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host = host
        self.port = port
        fixed = {"Host": f"{host}:{port}", **headers}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def request(self, method: str, target: str, body: bytes | None = None) -> Answer:
        """Send one request and read its whole answer; the connection stays open if it may."""
        if self._writer is not None and time.monotonic() - self._last_used > IDLE_SECONDS:
            await self.close()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
        try:
            answer, keep = await self._read(self._reader)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.close()
            raise ProtocolError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            await self.close()
            raise
        if keep:
            self._last_used = time.monotonic()
        else:
            await self.close()
        return answer

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x status line: {status_line!r}")
        status = int(rest[:3])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
                        pass
                    break
                parts.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(parts)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close"
        return Answer(status, body), keep

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
