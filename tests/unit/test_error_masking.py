"""An exception raised before execution (in an extension's hook, e.g. the rate-limit charge)
is coded or masked like a resolver's: strawberry alone would send `str(exception)`, SQL and
parameters included."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from graphql_schema.errors import ErrorCodes
from service.errors import QueryTooComplex


@strawberry.type
class Query:
    ping: str = "pong"


def schema_failing_with(error: Exception) -> strawberry.Schema:
    class FailsInValidation(SchemaExtension):
        def on_validate(self):
            raise error
            yield  # unreachable: makes the hook a generator, as strawberry expects

    return strawberry.Schema(Query, extensions=[ErrorCodes, FailsInValidation])


@pytest.mark.asyncio
async def test_an_unexpected_exception_before_execution_is_masked():
    secret = RuntimeError("insert into rate_limit_bucket values ('anonymous:10.0.0.7')")
    result = await schema_failing_with(secret).execute("{ ping }")
    assert [(e.message, e.extensions) for e in result.errors] == [
        ("Internal server error.", {"code": "INTERNAL_SERVER_ERROR"})
    ]


@pytest.mark.asyncio
async def test_a_domain_error_before_execution_keeps_its_code():
    result = await schema_failing_with(QueryTooComplex("too big")).execute("{ ping }")
    assert [(e.message, e.extensions) for e in result.errors] == [("too big", {"code": "QUERY_TOO_COMPLEX"})]


@pytest.mark.asyncio
async def test_a_lost_database_before_execution_is_service_unavailable():
    result = await schema_failing_with(ConnectionResetError("peer reset")).execute("{ ping }")
    assert [e.extensions for e in result.errors] == [{"code": "SERVICE_UNAVAILABLE", "retryAfterSeconds": 1}]
