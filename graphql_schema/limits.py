"""API limits: query cost checked before execution, a per-principal rate limit over cost,
and the cost report in `extensions.cost`.

The check runs as part of validation, so a refused query never touches the data; the rate
limit's state lives in PostgreSQL so that all worker processes share it.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graphql_schema.cost import actual_cost, requested_cost
from service.access import rate_limit
from service.errors import QueryTooComplex, RateLimited
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


class CostLimiter(SchemaExtension):
    """Computes the requested cost at validation; refuses QUERY_TOO_COMPLEX or RATE_LIMITED."""

    def __init__(self, *, settings: Settings):
        self.settings = settings
        self.requested: int | None = None
        self.throttle: rate_limit.Throttle | None = None

    async def on_validate(self):
        from strawberry.schema.schema import validate_document

        ec = self.execution_context
        errors = list(validate_document(ec.schema._schema, ec.graphql_document, ec.validation_rules))
        if not errors:
            errors = await self._check_cost()
        ec.pre_execution_errors = errors
        yield

    async def _check_cost(self) -> list[GraphQLError]:
        ec = self.execution_context
        schema = ec.schema._schema
        cost = requested_cost(schema, ec.graphql_document, ec.operation_name, ec.variables)
        self.requested = cost
        if cost > self.settings.max_query_cost:
            return [_error(QueryTooComplex(
                f"This query would cost {cost} points, over the maximum of {self.settings.max_query_cost}. "
                "Ask for smaller pages (`first`/`last`) or fewer nested connections.",
            ), {"cost": cost, "maximumCost": self.settings.max_query_cost})]
        context = ec.context
        if cost == 0 or context is None or not hasattr(context, "sessionmaker"):
            return []
        capacity, rate = bucket_size(self.settings, context)
        async with context.sessionmaker() as session:
            self.throttle = await rate_limit.charge(
                session, key=bucket_key(context), cost=float(cost), capacity=capacity, restore_rate=rate
            )
        context.throttle = self.throttle
        if not self.throttle.admitted:
            retry = round(self.throttle.retry_after_seconds, 1)
            return [_error(RateLimited(
                f"Rate limit exceeded: this query costs {cost} points and {int(self.throttle.available)} "
                f"are available; retry after {retry} s.",
                retry_after_seconds=retry,
            ), {"retryAfterSeconds": retry, "cost": cost})]
        return []

    def get_results(self) -> dict[str, Any]:
        ec = self.execution_context
        if self.requested is None:
            return {}
        report: dict[str, Any] = {"requestedQueryCost": self.requested}
        result = ec.result
        data = getattr(result, "data", None)
        is_subscription = getattr(getattr(ec, "operation_type", None), "value", None) == "subscription"
        if data is not None and not is_subscription:  # subscriptions were charged once, at subscribe
            report["actualQueryCost"] = actual_cost(
                ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables, data
            )
        if self.throttle is not None:
            report["throttleStatus"] = {
                "maximumAvailable": self.throttle.capacity,
                "currentlyAvailable": round(self.throttle.available, 1),
                "restoreRate": self.throttle.restore_rate,
            }
        return {"cost": report}


def _error(exc: Exception, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(str(exc), original_error=exc, extensions={"code": exc.code, **extensions})  # type: ignore[attr-defined]
