"""SQLAlchemy event listeners: statements and their time (for the operation that ran them and
for the process), the pool's use, and a span per statement while tracing is on.

A statement is counted against the innermost `SqlStats` in `current_sql`: the GraphQL
operation's while one runs (graphql_schema/observability.py), else the HTTP request's
(requests.py: e.g. the credential lookup before the operation starts). SQLAlchemy runs the
listeners in a greenlet that carries the caller's context variables, so the operation's
stats and span are the caller's."""

from __future__ import annotations

from contextvars import ContextVar
from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from service.observability import metrics, tracing

MAX_STATEMENT_LENGTH = 2000  # characters of SQL text in a span (parameters are never included)


class SqlStats:
    __slots__ = ("sql_statements", "sql_seconds", "cost")

    def __init__(self) -> None:
        self.sql_statements = 0
        self.sql_seconds = 0.0
        self.cost: int | None = None


current_sql: ContextVar[Any] = ContextVar("tcgraph_sql_stats", default=None)


def note_cost(cost: int) -> None:
    """The cost limiter's requested cost for the running operation."""
    stats = current_sql.get()
    if stats is not None:
        stats.cost = cost


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    tracer = tracing.TRACER
    if tracer is not None and context is not None:
        context._tcgraph_span = tracer.start_span(
            _span_name(statement),
            kind=_CLIENT(),
            attributes={"db.system": "postgresql", "db.statement": statement[:MAX_STATEMENT_LENGTH]},
        )
    if context is not None:
        context._tcgraph_started = perf_counter()


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    started = getattr(context, "_tcgraph_started", None)
    if started is None:
        return
    elapsed = perf_counter() - started
    metrics.SQL_STATEMENTS.inc()
    metrics.SQL_SECONDS.inc(elapsed)
    stats = current_sql.get()
    if stats is not None:
        stats.sql_statements += 1
        stats.sql_seconds += elapsed
    span = getattr(context, "_tcgraph_span", None)
    if span is not None:
        span.end()


def _failed(exception_context: Any) -> None:
    span = getattr(exception_context.execution_context, "_tcgraph_span", None)
    if span is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, type(exception_context.original_exception).__name__))
        span.end()


def _span_name(statement: str) -> str:
    verb = statement.lstrip().split(None, 1)[:1]
    return f"sql {verb[0].upper()}" if verb else "sql"


def _CLIENT() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


def instrument_engine(engine: AsyncEngine, *, pool_limit: int) -> None:
    """Listen to `engine`'s statements and pool (once per engine)."""
    sync_engine = engine.sync_engine
    if getattr(sync_engine, "_tcgraph_instrumented", False):
        return
    sync_engine._tcgraph_instrumented = True  # type: ignore[attr-defined]
    event.listen(sync_engine, "before_cursor_execute", _before)
    event.listen(sync_engine, "after_cursor_execute", _after)
    event.listen(sync_engine, "handle_error", _failed)

    pool = sync_engine.pool

    def checked_out(*_: Any) -> None:
        metrics.DB_POOL_IN_USE.inc()

    def checked_in(*_: Any) -> None:
        metrics.DB_POOL_IN_USE.dec()

    def opened(*_: Any) -> None:
        metrics.DB_POOL_OPEN.inc()

    def closed(*_: Any) -> None:  # closed in the pool, or detached from it
        metrics.DB_POOL_OPEN.dec()

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "connect", opened)
    event.listen(pool, "close", closed)
    event.listen(pool, "detach", closed)
    metrics.DB_POOL_LIMIT.inc(pool_limit)

    def disposed() -> None:
        # In use and open follow the pool's own events (a connection still out at disposal
        # is checked in later); only the limit goes with the engine.
        metrics.DB_POOL_LIMIT.dec(pool_limit)

    sync_engine._tcgraph_disposed = disposed  # type: ignore[attr-defined]


def engine_disposed(engine: AsyncEngine) -> None:
    """The engine's pool is gone: take its share out of the pool gauges."""
    disposed = getattr(engine.sync_engine, "_tcgraph_disposed", None)
    if disposed is not None:
        disposed()
