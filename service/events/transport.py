"""Reaching a WebSocket's TCP connection, to cut off a client that stopped reading.

An ASGI application cannot drop a connection whose client no longer reads: sending a close
frame blocks like any other send once the socket is full. uvicorn's ASGI `send` is a method
of its protocol object, which holds the asyncio transport; `ExposeTransport` puts that
transport in the WebSocket's scope, and `abort` resets the connection through it."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import MutableMapping
from typing import Any

SCOPE_KEY = "tcgraph.transport"


class ExposeTransport:
    """ASGI middleware: the transport of each WebSocket connection in `scope[SCOPE_KEY]`
    (when the server's `send` leads to one; otherwise nothing)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                scope = {**scope, SCOPE_KEY: transport}
        await self.app(scope, receive, send)


def abort(scope: MutableMapping[str, Any]) -> bool:
    """Resets the connection at once (RST, SO_LINGER 0): what is queued for the client, in
    the process and in the kernel, is dropped. False when there is no transport, or it is
    already closed or closing with nothing left to send."""
    transport = scope.get(SCOPE_KEY)
    if transport is None or (transport.is_closing() and not transport.get_write_buffer_size()):
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
