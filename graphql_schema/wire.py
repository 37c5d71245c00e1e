"""JSON on the wire: HTTP responses through orjson, and graphql-transport-ws `next`
messages with a live event's data encoded once.

A live event reaches every subscriber of a process that runs the same operation with the
same authorization as one shared result (`SharedEventExecution`): the same `data` object,
wrapped per subscriber in its own message (its operation ID). Encoding that
`data` once per burst rather than once per subscriber was the largest single cost of a
delivery after the socket write itself."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import orjson


def encode_response(data: object) -> str:
    """A response body or WebSocket message as JSON text (text: strawberry sends bytes as a
    binary WebSocket frame): orjson, several times faster than the standard encoder on a page
    of results; the standard encoder for what orjson refuses (non-string keys, integers
    beyond 64 bits)."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(data, separators=(",", ":"))


class NextMessageEncoder:
    """Encodes `next` messages; remembers the encoding of the last `size` data objects, by
    identity (each is held while remembered, so an identity cannot be reused meanwhile)."""

    def __init__(self, size: int = 256):
        self.size = size
        self._recent: OrderedDict[int, tuple[Any, bytes]] = OrderedDict()

    def encode(self, message: dict[str, Any]) -> str | None:
        """The message as JSON text; None when it is not a `next` message this encoder
        handles (the caller then encodes it as usual)."""
        payload = message.get("payload")
        if (
            message.get("type") != "next"
            or not isinstance(payload, dict)
            or set(payload) - {"data", "errors", "extensions"}
        ):
            return None
        try:
            parts = [
                b'{"id":',
                orjson.dumps(message["id"]),
                b',"type":"next","payload":{"data":',
                self._data(payload.get("data")),
            ]
            if "errors" in payload:
                parts += [b',"errors":', orjson.dumps(payload["errors"])]
            if "extensions" in payload:
                parts += [b',"extensions":', orjson.dumps(payload["extensions"])]
        except (TypeError, orjson.JSONEncodeError):
            return None  # e.g. a non-string key: the standard encoder's rules apply
        parts.append(b"}}")
        return b"".join(parts).decode()

    def _data(self, data: Any) -> bytes:
        if data is None:
            return b"null"
        remembered = self._recent.get(id(data))
        if remembered is not None and remembered[0] is data:
            self._recent.move_to_end(id(data))
            return remembered[1]
        encoded = orjson.dumps(data)
        self._recent[id(data)] = (data, encoded)
        if len(self._recent) > self.size:
            self._recent.popitem(last=False)
        return encoded
