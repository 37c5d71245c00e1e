"""One strawberry extension per operation for metrics, the access log's GraphQL fields and
(when tracing is on) the operation's span; first in the schema's list, so it times everything
the other extensions do (persisted-query lookup, validation, cost check) and sees the result
after `ErrorCodes` masked it. No per-field hooks: resolvers run as if it were not there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from service.observability import metrics, tracing
from service.observability.requests import current_request
from service.observability.sql import SqlStats, current_sql

TYPES = {OperationType.QUERY: "query", OperationType.MUTATION: "mutation", OperationType.SUBSCRIPTION: "subscription"}


class OperationObservability(SchemaExtension):
    def __init__(self, *, names: metrics.OperationNames):
        self.names = names  # the schema's, shared by its operations

    async def on_operation(self) -> AsyncIterator[None]:
        ec = self.execution_context
        started = perf_counter()
        stats = SqlStats()
        token = current_sql.set(stats)
        span = attached = None
        if tracing.TRACER is not None:
            from opentelemetry import context, trace

            span = tracing.TRACER.start_span("graphql operation", kind=trace.SpanKind.SERVER)
            attached = context.attach(trace.set_span_in_context(span))
        refused = False
        try:
            yield
        except Exception:
            refused = True  # an extension refused it by raising (strawberry makes that the result)
            raise
        finally:
            try:
                current_sql.reset(token)
            except ValueError:  # a subscription closed from another context
                pass
            seconds = perf_counter() - started
            outcome = self._outcome(refused)
            kind = self._type()
            label = self.names.label(ec.operation_name, valid=outcome != "refused")
            request = record_operation(label, kind, outcome, seconds, stats)
            if span is not None:
                self._end_span(span, attached, label, kind, outcome, stats, request)

    def _outcome(self, refused: bool) -> str:
        result = self.execution_context.result
        if refused or isinstance(result, PreExecutionError):
            return "refused"
        if result is not None and result.errors:
            return "error"
        return "ok"

    def _type(self) -> str:
        if self.execution_context.graphql_document is None:
            return "unknown"
        try:
            return TYPES.get(self.execution_context.operation_type, "unknown")
        except Exception:  # noqa: BLE001 — no such operation in the document: refused anyway
            return "unknown"

    def _end_span(
        self, span: Any, attached: Any, label: str, kind: str, outcome: str, stats: SqlStats, request: Any
    ) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        span.update_name(f"graphql {kind} {label}")
        span.set_attribute("graphql.operation.name", label)
        span.set_attribute("graphql.operation.type", kind)
        span.set_attribute("tcgraph.outcome", outcome)
        span.set_attribute("tcgraph.sql_statements", stats.sql_statements)
        if stats.cost is not None:
            span.set_attribute("tcgraph.cost", stats.cost)
        if request is not None:
            span.set_attribute("tcgraph.request_id", request.request_id)
        if outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()
        try:
            context.detach(attached)
        except Exception:  # noqa: BLE001 — a subscription closed from another context
            pass


def record_operation(label: str, kind: str, outcome: str, seconds: float, stats: SqlStats) -> Any:
    """One operation's metrics and its request's log fields; returns the request's record."""
    series = metrics.operation_series(label, kind)
    series.requests[outcome].inc()
    if kind != "subscription":  # a subscription's lifetime is not a latency
        series.duration.observe(seconds)
        series.sql_statements.observe(stats.sql_statements)
        series.sql_seconds.observe(stats.sql_seconds)
        if stats.cost is not None and outcome != "refused":
            series.cost.observe(stats.cost)
    request = current_request.get()
    if request is not None:
        request.operation, request.operation_type, request.outcome = label, kind, outcome
        request.cost = stats.cost
        request.sql_statements += stats.sql_statements
        request.sql_seconds += stats.sql_seconds
    return request
