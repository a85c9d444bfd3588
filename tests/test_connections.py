"""``trex-node serve`` turns Nagle's algorithm off on the connections its workers accept."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.config import Config
from uvicorn.server import ServerState

from service.serving import PROTOCOL, NoDelayHttpProtocol


async def _app(scope: object, receive: object, send: object) -> None:
    """Never called: the connection is checked as it is made."""


def _nodelay_of_accepted(listener: socket.socket) -> int:
    """Serve ``listener`` with the protocol; TCP_NODELAY of the connection it accepts."""
    config = Config(_app, http=PROTOCOL)
    config.load()
    state = ServerState()
    seen: list[int] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> NoDelayHttpProtocol:
            made = NoDelayHttpProtocol(config=config, server_state=state, app_state={})
            original = made.connection_made

            def connection_made(transport: asyncio.BaseTransport) -> None:
                original(transport)  # type: ignore[arg-type]
                sock = transport.get_extra_info("socket")
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

            made.connection_made = connection_made  # type: ignore[method-assign]
            return made

        server = await loop.create_server(protocol, sock=listener)
        host, port = listener.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(run())
    return seen[0]


def test_a_connection_accepted_on_a_socket_bound_as_uvicorn_workers_bind_it_has_no_delay() -> None:
    # As uvicorn binds for ``--workers N``: no protocol given, so asyncio's own check, which
    # looks for IPPROTO_TCP there, leaves Nagle's algorithm on.
    listener = socket.socket(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    assert listener.proto == 0
    assert _nodelay_of_accepted(listener) == 1
