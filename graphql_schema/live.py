"""Direct delivery of a live event's shared result over graphql-transport-ws.

A live event reaches every subscriber of a process at once, and `SharedEventExecution`
executes it once for all subscribers with the same operation and authorization. What was
left per subscriber was strawberry's and graphql-core's per-result pipeline (the mapped
source stream, a per-event executor, extension hooks, the transport's result loop): most of
a delivery's CPU, and so of the latency of the last subscriber in a burst.

`LiveOperationHandler` notes each operation in a context variable of the operation's own
task; the subscription's executor registers itself there; `deliver` executes an event with
it (through the process's single-flight results) and sends the result with strawberry's own
`Operation.send_next`, from inside the subscription's event stream. The stream's tasks
send one message at a time, in order, as before. Anything else takes the usual path (the
stream yields the event): replays, operations that cannot be shared, results with errors
(they are masked by `ErrorCodes` on that path), subscriptions not over graphql-transport-ws.

Subscription events carry no `extensions` on either path (see `CostLimiter.get_results`),
so both send the same message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationType
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types.execution import ExecutionResult

from graphql_schema.credentials import FORBIDDEN_CLOSE_CODE, CredentialWatch
from service.access.credentials import still_accepted
from service.access.principals import Principal

log = logging.getLogger("tcgraph.ws")


@dataclass
class LiveOperation:
    operation: Operation
    executor: Any = None  # the subscription's executor, once it is built
    shareable: bool = True  # False once an event could not be shared (it depends on the operation only)


_current: ContextVar[LiveOperation | None] = ContextVar("tcgraph_live_operation", default=None)


SUBSCRIPTION_LIMIT_REACHED = "SUBSCRIPTION_LIMIT_REACHED"


def protocol_violation(message: Any) -> str | None:
    """Why `message` is not a graphql-transport-ws message the handler can act on, or None.
    strawberry indexes messages as the protocol describes them; anything else (`[1]`, a
    `subscribe` whose payload is a string) would raise inside its receive loop and drop the
    connection with a traceback instead of closing it with 4400."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be a JSON object with a string `type`"
    if message["type"] in ("subscribe", "complete") and not (isinstance(message.get("id"), str) and message["id"]):
        return f"A `{message['type']}` message needs a non-empty string `id`"
    if message["type"] != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "A `subscribe` payload must be an object with a string `query`"
    for name, kind in (("variables", dict), ("operationName", str), ("extensions", dict)):
        if payload.get(name) is not None and not isinstance(payload[name], kind):
            return f"`payload.{name}` must be {'an object' if kind is dict else 'a string'} or null"
    return None


def _error(id_: str, message: str, code: str) -> dict[str, Any]:
    return {"id": id_, "type": "error", "payload": [GraphQLError(message, extensions={"code": code}).formatted]}


class LiveOperationHandler(BaseGraphQLTransportWSHandler):
    """strawberry's graphql-transport-ws handler; each operation's task knows its operation.
    Malformed messages close the connection with 4400; the operation limit is a coded error.
    The connection's credential is re-checked when an operation starts and watched while it
    is open (graphql_schema/credentials.py): once it is gone, the connection closes with 4403."""

    _watch: CredentialWatch | None = None

    @property
    def principal(self) -> Principal:
        return self.context.principal

    async def handle_connection_init(self, message: Any) -> None:  # type: ignore[override]
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._watch is None:
            self._watch = self.context.request.app.state.credential_watch
            self._watch.add(self)

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.discard(self)
        await super().shutdown()

    async def forbid(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):  # already closing
            await self.websocket.close(
                code=FORBIDDEN_CLOSE_CODE, reason="Forbidden: the credential was revoked or has expired"
            )

    async def handle_message(self, message: Any) -> None:  # type: ignore[override]
        if (reason := protocol_violation(message)) is not None:
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:  # type: ignore[override]
        if self.connection_acknowledged:
            try:
                async with self.context.sessionmaker() as session:
                    accepted = await still_accepted(session, self.principal)
            except Exception as exc:  # noqa: BLE001 — refuse this operation, keep the connection
                log.warning("could not re-check a WebSocket credential: %s", exc)
                await self.send_message(
                    _error(message["id"], "Could not check your credentials; try again.", "INTERNAL_SERVER_ERROR")
                )
                return
            if not accepted:
                await self.forbid()
                return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            # strawberry's own refusal has no `extensions.code`.
            reason = f"Subscription limit reached: at most {limit} operations at a time on one connection."
            await self.send_message(_error(message["id"], reason, SUBSCRIPTION_LIMIT_REACHED))
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation) -> None:  # type: ignore[override]
        _current.set(LiveOperation(operation))  # this task's context only
        await super().run_operation(operation)


def register_executor(executor: Any) -> None:
    """Called by each new executor: a subscription's own is the one events are run with."""
    live = _current.get()
    if live is not None and live.executor is None and executor.operation.operation == OperationType.SUBSCRIPTION:
        live.executor = executor


async def deliver(event: Any) -> bool:
    """Executes `event` for the current subscription and sends it; False when the event must
    take the usual path (the caller then yields it)."""
    live = _current.get()
    if live is None or live.executor is None or not live.shareable:
        return False
    executor = live.executor.build_per_event_executor(event)
    if getattr(executor, "share_key", None) is None:
        live.shareable = False
        return False
    result = await executor.execute_operation(False)
    if result.errors:
        return False
    try:
        await live.operation.send_next(ExecutionResult(data=result.data, errors=None))
    except WebSocketDisconnected:
        # The client left while this event was on its way: end the operation quietly, as
        # the connection's own clean-up would.
        raise asyncio.CancelledError("subscriber disconnected") from None
    return True
