"""GraphQL over HTTP at the edge: the request body's size limit, what a request body must be,
the response media type and the HTTP status of a result.

Media types (GraphQL-over-HTTP): a client that accepts `application/graphql-response+json`
gets it, with the spec's status codes: a request error (nothing executed; the body has no
`data`) is 4xx — 400, 401, 413 or 429 (with `Retry-After`). Under `application/json` a
well-formed GraphQL request is answered 200 whatever its errors, as legacy clients expect;
a request that is not one (body not a JSON object, not UTF-8, too deep, too large) is 4xx
under both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from cross_web import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET

from service.observability.requests import current_request_id

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"

# Request errors the HTTP status says more about than 400 (under application/graphql-response+json).
STATUS_OF_CODE = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "PAYLOAD_TOO_LARGE": 413, "RATE_LIMITED": 429}


def response_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` when the client accepts it at least as much as
    `application/json`; otherwise `application/json` (also without an Accept header)."""
    best, best_q = JSON, -1.0
    for part in (accept or "").split(","):
        media, *params = (item.strip() for item in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE and q > 0 and q >= best_q:
            best, best_q = GRAPHQL_RESPONSE, q
        elif media in (JSON, "application/*", "*/*") and q > best_q:
            best, best_q = JSON, q
    return best


def error_codes(errors: Iterable[dict[str, Any]] | None) -> list[str]:
    return [str((error.get("extensions") or {}).get("code")) for error in errors or ()]


def retry_after(errors: Iterable[dict[str, Any]] | None) -> str | None:
    """`Retry-After` (whole seconds, rounded up) of a rate-limited result, or of one refused
    because the database is unavailable."""
    for error in errors or ():
        extensions = error.get("extensions") or {}
        if (
            extensions.get("code") in ("RATE_LIMITED", "SERVICE_UNAVAILABLE")
            and extensions.get("retryAfterSeconds") is not None
        ):
            return str(max(1, math.ceil(float(extensions["retryAfterSeconds"]))))
    return None


def request_error_status(errors: Iterable[dict[str, Any]] | None) -> int:
    """The 4xx status of a request error (nothing executed), by its first error's code."""
    return next((STATUS_OF_CODE[code] for code in error_codes(errors) if code in STATUS_OF_CODE), 400)


def error_body(message: str, code: str) -> bytes:
    extensions = {"code": code, "requestId": current_request_id()}
    return json.dumps({"errors": [{"message": message, "extensions": extensions}]}).encode()


def with_request_id(errors: list[dict[str, Any]] | None) -> None:
    """Each error of an HTTP response names the request (service/observability/requests.py),
    so that a client's report can be matched with the service's log."""
    if errors:
        request_id = current_request_id()
        for error in errors:
            # A copy: `formatted` hands out the error's own dict.
            error["extensions"] = {**(error.get("extensions") or {}), "requestId": request_id}


def decode_request_json(data: str | bytes) -> dict[str, Any]:
    """A GraphQL request's JSON (body, or GET's `variables`/`extensions`): UTF-8, nested
    no deeper than the decoder allows, an object. Anything else is answered 400."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError:
        raise HTTPException(400, "The request body is not valid UTF-8.") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise HTTPException(400, "The request body's JSON is nested too deeply.") from None
    if not isinstance(value, dict):
        raise HTTPException(
            400, f'A GraphQL request is a JSON object such as {{"query": "{{ … }}"}}, not {_json_kind(value)}.'
        )
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


class BodySizeLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 (PAYLOAD_TOO_LARGE)
    as soon as its Content-Length, or the bytes received so far, exceed the limit; the rest is
    never read. The body read so far is handed on to the application as one message."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay(message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        accept = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"accept"), None)
        body = error_body(
            f"The request body is over the limit of {self.max_bytes} bytes (MAX_REQUEST_BODY_BYTES).",
            "PAYLOAD_TOO_LARGE",
        )
        headers = [
            (b"content-type", response_media_type(accept).encode() + b"; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(first: Message, receive: Receive) -> Receive:
    """`receive` that returns `first`, then whatever the server sends next."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


class GraphQLOverHTTP:
    """Mixin for the strawberry router: what `decode_request_json` refuses, and any other
    HTTP-level refusal of strawberry's (unsupported content type, no query, …), is answered
    as a GraphQL error (BAD_REQUEST) rather than plain text; each result gets the media type
    the client accepts, the spec's status code and `Retry-After` when rate limited."""

    def parse_json(self, data: str | bytes) -> object:
        # HTTP bodies only: WebSocket messages go through `decode_json`, and their shape is
        # checked by the protocol handler (graphql_schema/live.py: malformed → close 4400).
        try:
            return decode_request_json(data)
        except json.JSONDecodeError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None

    async def process_result(self, request: Any, result: Any) -> Any:
        response = await super().process_result(request, result)  # type: ignore[misc]
        errors = response.get("errors")
        with_request_id(errors)
        media = response_media_type(request.headers.get("accept"))
        status = 200
        if response.get("data") is None and "SERVICE_UNAVAILABLE" in error_codes(errors):
            status = 503  # the database is unreachable, nothing was done: under either media type
        elif isinstance(result, PreExecutionError):  # a request error: nothing was executed
            if media == GRAPHQL_RESPONSE:
                response.pop("data", None)
                status = request_error_status(errors)
            elif "BAD_REQUEST" in error_codes(errors):  # e.g. a subscription over HTTP
                status = 400
        request.state.graphql_http = (media, status, retry_after(errors))
        return response

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if request.scope["type"] != "http":
            return await super().run(request, context, root_value)  # type: ignore[misc]
        try:
            response = await super().run(request, context, root_value)  # type: ignore[misc]
        except HTTPException as exc:
            media = response_media_type(request.headers.get("accept"))
            return Response(
                error_body(exc.reason, "BAD_REQUEST"), status_code=exc.status_code, headers=_content_type(media)
            )
        outcome = getattr(request.state, "graphql_http", None)
        if outcome is not None:
            media, status, retry = outcome
            if response.status_code == 200:
                response.status_code = status
            response.headers.update(_content_type(media))
            if retry is not None:
                response.headers["Retry-After"] = retry
        return response


def _content_type(media: str) -> dict[str, str]:
    return {"content-type": f"{media}; charset=utf-8"}
