"""The request ID and what one request did, for its log line and its metrics.

`RequestTracking` (ASGI middleware, outermost) takes a sane incoming `X-Request-ID` (1–128
characters of letters, digits and `-_.:/+=@`) or makes one, keeps it in a context variable
for the request (logs.py puts it in every log record; GraphQL errors carry it in
`extensions.requestId`), echoes it in the response's `X-Request-ID` header (a WebSocket's
handshake response too), counts the response's status and writes one access log line
(`tcgraph.access`) per HTTP request."""

from __future__ import annotations

import logging
import os
import re
import time
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability import metrics
from service.observability.sql import current_sql

HEADER = b"x-request-id"
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9\-_.:/+=@]{1,128}")

access_log = logging.getLogger("tcgraph.access")


class RequestRecord:
    """What one request (or one WebSocket connection) did; the GraphQL extension and the SQL
    listeners fill it in."""

    __slots__ = ("request_id", "operation", "operation_type", "outcome", "cost", "sql_statements", "sql_seconds")

    def __init__(self, request_id: str):
        self.request_id = request_id
        self.operation: str | None = None
        self.operation_type: str | None = None
        self.outcome: str | None = None
        self.cost: int | None = None
        self.sql_statements = 0
        self.sql_seconds = 0.0


current_request: ContextVar[RequestRecord | None] = ContextVar("tcgraph_request", default=None)


def current_request_id() -> str | None:
    record = current_request.get()
    return record.request_id if record is not None else None


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER:
            if SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()  # as random as uuid4's, without building a UUID


class RequestTracking:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        record = RequestRecord(request_id_from(scope["headers"]))
        token = current_request.set(record)
        echoed = (HEADER, record.request_id.encode("ascii"))
        if kind == "websocket":

            async def send_ws(message: Message) -> None:
                if message["type"] == "websocket.accept":
                    message = {**message, "headers": [*message.get("headers", ()), echoed]}
                await send(message)

            try:
                await self.app(scope, receive, send_ws)
            finally:
                current_request.reset(token)
            return

        started = time.perf_counter()
        status = 500  # unless a response starts
        sql_token = current_sql.set(record)  # statements outside an operation (the credential lookup)

        async def send_http(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_http)
        finally:
            metrics.http_response(status)
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, record, status, time.perf_counter() - started)
            current_sql.reset(sql_token)
            current_request.reset(token)


def _log_access(scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if record.operation_type is not None:
        fields["operation"] = record.operation
        fields["operation_type"] = record.operation_type
        fields["outcome"] = record.outcome
        if record.cost is not None:
            fields["cost"] = record.cost
    if record.sql_statements:
        fields["sql_statements"] = record.sql_statements
        fields["sql_ms"] = round(record.sql_seconds * 1000, 2)
    access_log.info("%s %s %s", scope["method"], scope["path"], status, extra={"fields": fields})
