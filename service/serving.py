"""The server process's own parts for uvicorn: its HTTP protocol, with Nagle's algorithm off.

asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on sockets whose ``proto`` says TCP.
With ``serve --workers N`` uvicorn binds the listening socket itself, as
``socket.socket(family)``, whose ``proto`` is 0, and hands it to the workers; the connections
they accepted therefore kept Nagle's algorithm. An answer written as its headers and then a
small body waited for the client's delayed acknowledgement of the headers, 40 ms on Linux: with
three workers a screen took 48 ms instead of 5 (``bench.loadtest``), whatever the load.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "service.serving:NoDelayHttpProtocol"
"""What ``trex-node serve`` gives uvicorn as its ``http`` protocol (workers import it)."""

_INTERNET = (socket.AF_INET, socket.AF_INET6)


class NoDelayHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that sets ``TCP_NODELAY`` on each TCP connection it serves."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in _INTERNET:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
