"""Request IDs (echoed, in GraphQL errors, in the log line) and traces (one span per operation,
a child span per SQL statement)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.observability import tracing

STATES = "query StatesPage { states(first: 2) { edges { node { code } } } }"


@pytest.mark.asyncio
async def test_a_sane_request_id_is_echoed_and_logged(app_client, caplog):
    caplog.set_level(logging.INFO, logger="tcgraph.access")
    response = await app_client.post("/graphql", json={"query": STATES}, headers={"X-Request-ID": "agency-dash-0042"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "agency-dash-0042"
    lines = [r for r in caplog.records if r.name == "tcgraph.access" and r.request_id == "agency-dash-0042"]
    assert len(lines) == 1
    fields = lines[0].fields
    assert fields["request_id"] == "agency-dash-0042" and fields["status"] == 200 and fields["path"] == "/graphql"
    assert fields["operation"] == "StatesPage" and fields["outcome"] == "ok"
    assert fields["cost"] > 0 and fields["sql_statements"] >= 2


@pytest.mark.asyncio
async def test_an_insane_request_id_is_replaced(app_client):
    response = await app_client.post(
        "/graphql", json={"query": STATES}, headers={"X-Request-ID": "two words\t" + "x" * 200}
    )
    generated = response.headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    other = await app_client.post("/graphql", json={"query": STATES})
    assert other.headers["x-request-id"] != generated  # each request its own


@pytest.mark.asyncio
async def test_errors_carry_the_request_id(app_client):
    headers = {"X-Request-ID": "trace-me-1"}
    invalid = (await app_client.post("/graphql", json={"query": "{ noSuchField }"}, headers=headers)).json()
    assert invalid["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED", "requestId": "trace-me-1"}
    # Refused before GraphQL runs: bad credentials, a body that is not a GraphQL request.
    refused = await app_client.post(
        "/graphql", json={"query": STATES}, headers={**headers, "Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["requestId"] == "trace-me-1"
    not_graphql = await app_client.post(
        "/graphql", content=b"[1]", headers={**headers, "Content-Type": "application/json"}
    )
    assert not_graphql.status_code == 400
    assert not_graphql.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST", "requestId": "trace-me-1"}
    assert not_graphql.headers["x-request-id"] == "trace-me-1"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.stop()
        provider.shutdown()


@pytest.mark.asyncio
async def test_one_operation_one_span_with_its_sql_statements_as_children(app_client, spans):
    response = await app_client.post("/graphql", json={"query": STATES}, headers={"X-Request-ID": "traced-1"})
    assert response.status_code == 200 and "errors" not in response.json()
    finished = spans.get_finished_spans()
    operations = [s for s in finished if s.name.startswith("graphql ")]
    assert [s.name for s in operations] == ["graphql query StatesPage"]
    operation = operations[0]
    assert operation.attributes["tcgraph.request_id"] == "traced-1"
    assert operation.attributes["tcgraph.outcome"] == "ok"
    # The operation's statements; the app's background work (event pruning) has traces of its own.
    statements = [s for s in finished if s.name.startswith("sql ") and s.context.trace_id == operation.context.trace_id]
    assert len(statements) >= 2  # the rate limit's charge and the page
    for statement in statements:
        assert statement.parent is not None and statement.parent.span_id == operation.context.span_id
        assert statement.attributes["db.system"] == "postgresql"
    assert any("state" in s.attributes["db.statement"] for s in statements)
    assert operation.attributes["tcgraph.sql_statements"] == len(statements)


@pytest.mark.parametrize(
    ("environment", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_tracing_is_off_unless_the_environment_configures_it(monkeypatch, environment, on):
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert tracing.wanted() is on
