"""Ready reads: a query answered once is answered again without the GraphQL pipeline.

A partner polls the same page, a dashboard looks needs up by ID: the same document, the same
variables, only an ID changing. The first time, the request goes the whole way (parse,
validation, cost, the input boundary, text limits, the compiled read of
graphql_schema/compiled/) and, if every root field compiled and the result has no error,
`ReadyReadRecorder` keeps what it ran: the statement, the requested cost, the parsed document.
The next time the same document arrives (in a POST body or a GET's parameters, as text or
as the hash of an automatic persisted query that came with a kept read) with the same
variables (an ID given to
`node(id: $id)` may differ, if it is a valid ID of the same type) from a caller of the same
visibility class, `ReadyReadsMiddleware` pays the rate limit (from this worker's lease of
the caller's points, service/access/rate_lease.py, charging a new one when it is spent), runs
the statement on the driver's own pool (service/db/driver.py) and writes the response itself:
the bytes the whole pipeline would have written, at a fraction of its CPU.

Everything not exactly that goes the usual way: another document or variable, an ID of
another type, credentials that need a look-up and fail, a refused rate-limit charge, a hash
not seen with a kept read, a read replica, tracing, any error at all. The usual way is the
source of truth; this only repeats what it did.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from time import perf_counter
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graphql_schema.boundary import string_problem
from graphql_schema.compiled import sql
from graphql_schema.compiled.execution import caller_class
from graphql_schema.cost import result_cost
from graphql_schema.http import _replay, response_media_type
from graphql_schema.limits import bucket_key, bucket_size, throttle_status
from graphql_schema.observability import record_operation
from graphql_schema.text_limits import ID as MAX_ID_LENGTH
from service.access import rate_limit
from service.access.rate_lease import Leases
from service.observability import metrics, tracing
from service.observability.sql import SqlStats, current_sql
from service.persisted_queries import sha256_of
from service.settings import Settings

log = logging.getLogger(__name__)

REQUEST_KEYS = frozenset({"query", "operationName", "variables", "extensions"})
# Reads up to this requested cost (a lookup by ID and its neighbours) run in the charge's own
# statement; costlier ones after it, in a second.
COMBINED_UP_TO_COST = 20
CHARGE = rate_limit.positional_charge()


@dataclass(frozen=True)
class ReadyRead:
    """What one (document, variables, visibility class) ran, to run again."""

    operation_name: str | None  # as the pipeline saw it (its label in the metrics)
    cost_of: Callable[[Any], int]  # the actual cost of a result (graphql_schema/cost.py)
    cost: int  # the requested cost
    parameters: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (parameter position, ID variable) as in the plan
    sql: str  # the compiled statement
    # The statement behind the rate limit's charge (rate_limit.charge_before), for a cheap
    # read; None: the charge is a statement of its own, so that the bucket's row (shared by
    # every anonymous caller behind one address) is not locked while a page is built.
    charged_sql: str | None


def slot_shapes(variables: dict[str, Any], slots: frozenset[str]) -> tuple[tuple[str, Any], ...] | None:
    """The type and validity (sql.id_shape) of each ID a plan reads as a parameter; None when
    one is not an ID the pipeline would take as it is (graphql_schema/boundary.py and
    text_limits.py refuse NUL and over-long IDs; base64 decoding alone would not)."""
    shapes = []
    for variable in sorted(slots):
        value = variables.get(variable)
        if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or string_problem(value) is not None:
            return None
        shape = sql.id_shape(value)
        if shape is None:
            return None
        shapes.append((variable, shape))
    return tuple(shapes)


def _key(
    query: str, operation_name: Any, principal: Any, variables: dict[str, Any], slots: frozenset[str]
) -> Hashable | None:
    """(document, caller's class, the other variables' values, the IDs' shapes)."""
    shapes = slot_shapes(variables, slots)
    if shapes is None:
        return None
    others = {name: value for name, value in variables.items() if name not in slots}
    return (query, operation_name, caller_class(principal), orjson.dumps(others, option=orjson.OPT_SORT_KEYS), shapes)


class ReadyReads:
    """The recorded reads of one schema, least recently used out."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._reads: OrderedDict[Hashable, ReadyRead] = OrderedDict()
        # Per (document, operation name): the ID variables its plans read as parameters.
        self._slots: dict[tuple[str, Any], frozenset[str]] = {}
        self.hits = 0  # answered here (tests and the benchmark read it)
        # Automatic persisted queries' hashes → texts, of kept reads that came by hash.
        self._texts: dict[str, str] = {}

    def record(
        self, query: str, operation_name: Any, principal: Any, variables: dict[str, Any], read: ReadyRead
    ) -> None:
        slots = frozenset(name for _, name in read.slots)
        key = _key(query, operation_name, principal, variables, slots)
        if key is None:
            return
        self._slots[(query, operation_name)] = slots
        if len(self._slots) > self.size:
            self._slots.pop(next(iter(self._slots)))
        self._reads[key] = read
        if len(self._reads) > self.size:
            self._reads.popitem(last=False)

    def clear(self) -> None:
        self._reads.clear()
        self._slots.clear()
        self._texts.clear()

    def remember_hash(self, sha256: str, query: str) -> None:
        """`query` was kept from a request that named it by this automatic persisted query's
        hash, which the pipeline had checked, and stored."""
        self._texts[sha256] = query
        if len(self._texts) > self.size:
            self._texts.pop(next(iter(self._texts)))

    def persisted(self, query: Any, extensions: Any) -> str | None:
        """The text of a request with an automatic persisted query's hash: the text kept under
        the hash, if the request sent none or sent that very text; None (the usual way, which
        says what is wrong or stores a new one) for anything else."""
        if not isinstance(extensions, dict) or extensions.keys() != {"persistedQuery"}:
            return None
        extension = extensions["persistedQuery"]
        if not isinstance(extension, dict) or extension.keys() != {"version", "sha256Hash"}:
            return None
        if extension["version"] != 1 or not isinstance(extension["sha256Hash"], str):
            return None
        text = self._texts.get(extension["sha256Hash"])
        return text if query is None or query == text else None

    def knows(self, query: str, operation_name: Any) -> bool:
        """Whether any read of this document is kept (before looking the caller up)."""
        return (query, operation_name) in self._slots

    def find(self, query: str, operation_name: Any, principal: Any, variables: dict[str, Any]) -> ReadyRead | None:
        slots = self._slots.get((query, operation_name))
        if slots is None:
            return None
        try:
            key = _key(query, operation_name, principal, variables, slots)
        except TypeError:  # variables orjson cannot write
            return None
        read = self._reads.get(key) if key is not None else None
        if read is not None:
            self._reads.move_to_end(key)
        return read


class ReadyReadRecorder(SchemaExtension):
    """Keeps an HTTP query whose root fields all compiled and whose result has no error."""

    def __init__(self, *, reads: ReadyReads):
        self.reads = reads

    async def on_operation(self):
        yield
        ec = self.execution_context
        context = ec.context
        plan = getattr(context, "compiled_plan", None)
        result = ec.result
        if (
            plan is None
            or ec.query is None
            or getattr(result, "errors", True)
            or getattr(result, "data", None) is None
            or not getattr(context, "over_http", False)
        ):
            return
        try:
            if ec.operation_type is not OperationType.QUERY:
                return
        except Exception:  # noqa: BLE001 — no such operation: it did not run
            return
        stats = current_sql.get()
        cost = getattr(stats, "cost", None)
        if cost is None or context.throttle is None:
            return
        if cost == 0:
            return  # never charged: nothing to save by answering it at the edge
        variables = ec.variables or {}
        read = ReadyRead(
            ec.operation_name,
            result_cost(ec.schema._schema, ec.graphql_document, ec.operation_name),
            cost,
            plan.parameters,
            plan.slots,
            plan.sql,
            rate_limit.charge_before(plan.sql, len(plan.parameters)) if cost <= COMBINED_UP_TO_COST else None,
        )
        try:
            self.reads.record(ec.query, _provided_name(ec), context.principal, variables, read)
        except TypeError:  # variables orjson cannot write: not kept
            return
        extension = (ec.operation_extensions or {}).get("persistedQuery")
        if isinstance(extension, dict) and extension.get("sha256Hash") == sha256_of(ec.query):
            self.reads.remember_hash(extension["sha256Hash"], ec.query)


def _provided_name(ec: Any) -> Any:
    """`operationName` as the client sent it (strawberry falls back to the document's)."""
    return getattr(ec, "_provided_operation_name", ec.operation_name)


def _post_request(scope: Scope, body: bytes) -> dict[str, Any] | None:
    """A POST's GraphQL request, if it is a JSON body of a request's keys."""
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
    if not body or content_type.split(b";", 1)[0].strip().lower() != b"application/json":
        return None
    request = orjson.loads(body)
    if not isinstance(request, dict) or not REQUEST_KEYS.issuperset(request):
        return None
    return request


def _get_request(query_string: bytes) -> dict[str, Any] | None:
    """A GET's GraphQL request from its parameters (`variables` and `extensions` as JSON), if
    each is given once and nothing else is."""
    if not query_string:
        return None
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, strict_parsing=True)
    request: dict[str, Any] = {}
    for name, value in pairs:
        if name not in REQUEST_KEYS or name in request:
            return None
        request[name] = orjson.loads(value) if name in ("variables", "extensions") else value
    return request


def enabled(settings: Settings) -> bool:
    """With a read replica or only registered documents, every request goes the usual way."""
    return (
        settings.ready_reads
        and settings.compiled_reads
        and not settings.database_read_url
        and not settings.persisted_queries_only
    )


class ReadyReadsMiddleware:
    """ASGI middleware in front of the GraphQL route: answers recorded reads (a POST's JSON body
    or a GET's parameters).
    Innermost of the middlewares: request IDs, the body limit, CORS and proxy headers apply."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        reads: ReadyReads,
        operation_names: metrics.OperationNames,
        settings: Settings,
        resolve_principal: Callable[[Any, str | None], Awaitable[Any]],
        leases: Leases,
        path: str = "/graphql",
    ):
        self.app = app
        self.reads = reads
        self.operation_names = operation_names
        self.settings = settings
        self.resolve_principal = resolve_principal
        self.path = path
        self.enabled = enabled(settings)
        self.automatic_persisted_queries = settings.automatic_persisted_queries
        self.leases = leases

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or scope["path"] != self.path or tracing.TRACER is not None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            if not await self._answered(scope, lambda: _get_request(scope.get("query_string", b"")), send):
                await self.app(scope, receive, send)
            return
        if scope["method"] != "POST" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        message = await receive()
        complete = message["type"] == "http.request" and not message.get("more_body", False)
        if not complete or not await self._answered(
            scope, lambda: _post_request(scope, message.get("body", b"")), send
        ):
            await self.app(scope, _replay(message, receive), send)

    async def _answered(self, scope: Scope, parse: Callable[[], dict[str, Any] | None], send: Send) -> bool:
        """Whether the request `parse` reads was answered here; nothing is sent otherwise."""
        try:
            request = parse()
            return request is not None and await self._answer(scope, request, send)
        except Exception:  # noqa: BLE001 — the usual way answers whatever this could not
            log.debug("ready read not answered here", exc_info=True)
            return False

    async def _answer(self, scope: Scope, request: dict[str, Any], send: Send) -> bool:
        """True once the response is sent; False (having sent nothing) to go the usual way."""
        started = perf_counter()
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of a repeated header, as Starlette reads it
        query, operation_name = request.get("query"), request.get("operationName")
        variables = request.get("variables") or {}
        extensions = request.get("extensions")
        if extensions is not None:  # an automatic persisted query's hash, with or without its text
            if not self.automatic_persisted_queries:
                return False
            query = self.reads.persisted(query, extensions)
        if not isinstance(query, str) or not isinstance(variables, dict) or not self.reads.knows(query, operation_name):
            return False
        authorization = headers.get(b"authorization")
        try:
            principal = await self.resolve_principal(
                scope["app"], authorization.decode("latin-1") if authorization else None
            )
        except Exception:  # noqa: BLE001 — refused or unavailable: the usual way says which
            return False
        read = self.reads.find(query, operation_name, principal, variables)
        if read is None:
            return False
        client = scope.get("client")
        caller = SimpleNamespace(principal=principal, client_address=client[0] if client else None)
        capacity, restore_rate = bucket_size(self.settings, caller)
        if read.cost > capacity or read.cost == 0:
            return False  # refused as too complex, or never charged: the usual way
        parameters: list[Any] = list(read.parameters)
        for position, variable in read.slots:
            parameters[position] = sql.id_key(variables[variable])
        key = bucket_key(caller)
        stats = SqlStats()
        stats.cost = read.cost
        leases = self.leases
        # Counted in the operation's metrics like any other statement.
        async with scope["app"].state.driver_pool.connection() as connection:
            sent = perf_counter()
            throttle = leases.take(key, read.cost, capacity=capacity, restore_rate=restore_rate)
            raw = None
            if throttle is None:  # a lease to charge (with the read, if it is cheap)
                points = leases.points_to_charge(read.cost, capacity)
                returned = leases.give_back(key)
                charge = [key, float(points), restore_rate, capacity, returned]
                try:
                    if read.charged_sql is not None:
                        level, raw = await connection.fetchrow(read.charged_sql, *parameters, *charge)
                    else:
                        level = await connection.fetchval(CHARGE, *charge)
                    stats.sql_statements = 1
                except BaseException:
                    leases.put_back(key, returned)  # rolled back: nothing charged, nothing given back
                    raise
                if level is None:  # refused: nothing was charged, nothing given back
                    leases.put_back(key, returned)
                    throttle = leases.take(key, read.cost, capacity=capacity, restore_rate=restore_rate, ended_too=True)
                    if throttle is None:
                        return False  # the usual way charges this request alone, or says RATE_LIMITED
                else:
                    throttle = leases.charged(
                        key, level=level, points=points, cost=read.cost, capacity=capacity, restore_rate=restore_rate
                    )
            if raw is None:  # paid from the lease, or a page (charged in a statement of its own)
                try:
                    raw = await connection.fetchval(read.sql, *parameters)
                except BaseException:
                    leases.put_back(key, read.cost)  # not answered here: the usual way charges it
                    raise
                stats.sql_statements += 1
            stats.sql_seconds = perf_counter() - sent
        data = orjson.loads(raw)
        report: dict[str, Any] = {
            "requestedQueryCost": read.cost,
            "actualQueryCost": read.cost_of(data),
        }
        report["throttleStatus"] = throttle_status(throttle)
        payload = orjson.dumps({"data": data, "extensions": {"cost": report}})
        media = response_media_type(headers[b"accept"].decode("latin-1") if b"accept" in headers else None)
        response_headers = [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", f"{media}; charset=utf-8".encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        self.reads.hits += 1
        label = self.operation_names.label(read.operation_name, valid=True)
        record_operation(label, "query", "ok", perf_counter() - started, stats)
        return True
