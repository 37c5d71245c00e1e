"""API limits: query cost checked before execution, a per-principal rate limit over cost,
and the cost report in `extensions.cost` (queries and mutations).

The check runs as part of validation, so a refused query never touches the data; the rate
limit's state lives in PostgreSQL so that all worker processes share it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graphql_schema.cost import actual_cost, replay_after, requested_cost
from service.access import rate_limit
from service.errors import QueryTooComplex, RateLimited
from service.events.broker import count_after
from service.events.feed import CHANGES_SCAN_LIMIT
from service.observability.sql import note_cost
from service.settings import Settings


def bucket_key(context: Any) -> str:
    principal = context.principal
    if principal.is_anonymous:
        return f"anonymous:{context.client_address or 'unknown'}"
    return principal.actor


def bucket_size(settings: Settings, context: Any) -> tuple[float, float]:
    if context.principal.is_anonymous:
        return settings.anonymous_rate_limit_capacity, settings.anonymous_rate_limit_restore_rate
    return settings.rate_limit_capacity, settings.rate_limit_restore_rate


class ValidDocuments:
    """Query texts that passed validation against one schema, most recently used kept.

    Clients send the same few documents over and over. Validating one builds a few thousand
    short-lived objects in reference cycles (graphql-core's visitors), which only the cyclic
    garbage collector frees: its pauses, every few seconds under load, held up the delivery
    of live events. Validation depends on the text and the schema alone."""

    MAX_LENGTH = 20_000  # longer texts are validated every time rather than kept

    def __init__(self, size: int = 512):
        self.size = size
        self._texts: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, text: str) -> bool:
        if text in self._texts:
            self._texts.move_to_end(text)
            return True
        return False

    def add(self, text: str) -> None:
        if len(text) <= self.MAX_LENGTH:
            self._texts[text] = None
            if len(self._texts) > self.size:
                self._texts.popitem(last=False)


class CostLimiter(SchemaExtension):
    """Validates (once per document text), computes the requested cost; refuses
    QUERY_TOO_COMPLEX or RATE_LIMITED."""

    def __init__(self, *, settings: Settings, valid_documents: ValidDocuments):
        self.settings = settings
        self.valid_documents = valid_documents  # the schema's, shared by its operations
        self.requested: int | None = None
        self.throttle: rate_limit.Throttle | None = None
        self._is_subscription: bool | None = None

    async def on_validate(self):
        from strawberry.schema.schema import validate_document

        ec = self.execution_context
        if ec.pre_execution_errors:  # refused while parsing (graphql_schema/boundary.py)
            yield
            return
        if hasattr(ec.context, "scan_budget"):  # a WebSocket's context serves many operations
            ec.context.scan_budget, ec.context.rows_scanned = CHANGES_SCAN_LIMIT, 0
        text = ec.query
        if text is not None and text in self.valid_documents:
            errors: list[GraphQLError] = []
        else:
            errors = list(validate_document(ec.schema._schema, ec.graphql_document, ec.validation_rules))
            if not errors and text is not None:
                self.valid_documents.add(text)
        if not errors:
            errors = await self._check_cost()
        ec.pre_execution_errors = errors
        yield

    async def _check_cost(self) -> list[GraphQLError]:
        ec = self.execution_context
        schema = ec.schema._schema
        context = ec.context
        replayed = 0
        after = replay_after(schema, ec.graphql_document, ec.operation_name, ec.variables)
        if after is not None and context is not None and hasattr(context, "sessionmaker"):
            async with context.sessionmaker() as session:
                # Enough to price any replay over the maximum; `after` itself is checked at subscribe.
                replayed = await count_after(session, after, limit=self.settings.max_query_cost + 1)
        cost = requested_cost(schema, ec.graphql_document, ec.operation_name, ec.variables, replayed_events=replayed)
        self.requested = cost
        note_cost(cost)  # for the operation's metrics and log line
        hint = "Ask for smaller pages (`first`/`last`) or fewer nested connections."
        if replayed:
            hint = (
                f"It replays {replayed} events (or more), each priced as one result: catch up with "
                "`changes(since:)`, then subscribe with a later `after`."
            )
        if cost > self.settings.max_query_cost:
            return [
                _error(
                    QueryTooComplex(
                        f"This query would cost {cost} points, over the maximum of {self.settings.max_query_cost}. {hint}",
                    ),
                    {"cost": cost, "maximumCost": self.settings.max_query_cost},
                )
            ]
        if cost == 0 or context is None or not hasattr(context, "read_session"):
            return []
        capacity, rate = bucket_size(self.settings, context)
        # On the request's leased connection, in autocommit: the charge is one atomic statement
        # (on the primary when reads go to a replica; context.charge_session).
        async with context.charge_session() as session:
            if cost > capacity:
                # It could never be admitted: no wait helps, so it is too complex for this
                # caller, and nothing is charged (the report shows the bucket as it is).
                self.throttle = await rate_limit.peek(
                    session, key=bucket_key(context), capacity=capacity, restore_rate=rate
                )
                context.throttle = self.throttle
                return [
                    _error(
                        QueryTooComplex(
                            f"This query would cost {cost} points, more than your rate limit's bucket holds "
                            f"({capacity:g} points). {hint}",
                        ),
                        {"cost": cost, "maximumAvailable": capacity},
                    )
                ]
            self.throttle = await rate_limit.charge(
                session, key=bucket_key(context), cost=float(cost), capacity=capacity, restore_rate=rate
            )
        context.throttle = self.throttle
        context.reads_after(self.throttle.written_lsn)
        if not self.throttle.admitted:
            retry = round(self.throttle.retry_after_seconds, 1)
            return [
                _error(
                    RateLimited(
                        f"Rate limit exceeded: this query costs {cost} points and {int(self.throttle.available)} "
                        f"are available; retry after {retry} s.",
                        retry_after_seconds=retry,
                    ),
                    {"retryAfterSeconds": retry, "cost": cost},
                )
            ]
        return []

    def get_results(self) -> dict[str, Any]:
        ec = self.execution_context
        if self.requested is None:
            return {}
        if self._is_subscription is None:
            self._is_subscription = ec.operation_type == OperationType.SUBSCRIPTION
        if self._is_subscription:
            # Charged once, at subscribe. Its events carry no cost report: a throttle status
            # from that moment would be stale, and events shared by many subscribers are sent
            # as one message body (graphql_schema/live.py).
            return {}
        report: dict[str, Any] = {"requestedQueryCost": self.requested}
        data = getattr(ec.result, "data", None)
        if data is not None:
            report["actualQueryCost"] = actual_cost(
                ec.schema._schema,
                ec.graphql_document,
                ec.operation_name,
                ec.variables,
                data,
                rows_scanned=getattr(ec.context, "rows_scanned", 0),
            )
        if self.throttle is not None:
            report["throttleStatus"] = throttle_status(self.throttle)
        return {"cost": report}


def throttle_status(throttle: rate_limit.Throttle) -> dict[str, Any]:
    """`extensions.cost.throttleStatus`: the caller's bucket after this request's charge."""
    return {
        "maximumAvailable": throttle.capacity,
        "currentlyAvailable": round(throttle.available, 1),
        "restoreRate": throttle.restore_rate,
    }


def _error(exc: Exception, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(str(exc), original_error=exc, extensions={"code": exc.code, **extensions})  # type: ignore[attr-defined]
