"""Prometheus metrics of this process (or of all workers, in multi-process mode).

Labels are bounded: an operation is labelled with its name only once a document with that
name passed validation (with PERSISTED_QUERIES_ONLY: registered documents only), and at most
`max_operation_names` names per process; anything else is `other`, an operation without a
name is `anonymous`. No label carries a principal, a State's data or a query's variables.

Several workers (`tcgraph serve --workers N`) share their metrics through files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multi-process mode): `tcgraph serve` creates and
empties a folder when it is unset; the environment variable must be set before
prometheus_client is imported, which is why the workers inherit it from the parent."""

from __future__ import annotations

import os
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no `_created` series: half the exposition, and nothing reads them
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COST_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000)
STATEMENT_BUCKETS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 25, 50, 100)
SQL_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

GRAPHQL_REQUESTS = Counter(
    "tcgraph_graphql_requests",
    "GraphQL operations by name, type and outcome (ok, error: executed with errors, refused: not executed).",
    ["operation", "type", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "tcgraph_graphql_request_duration_seconds",
    "Time from receiving a GraphQL operation to its result (parsing, validation, cost check, execution).",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_COST = Histogram(
    "tcgraph_graphql_query_cost",
    "Requested cost of admitted queries and mutations (points).",
    ["operation", "type"],
    buckets=COST_BUCKETS,
)
GRAPHQL_SQL_STATEMENTS = Histogram(
    "tcgraph_graphql_sql_statements",
    "SQL statements run by one query or mutation.",
    ["operation", "type"],
    buckets=STATEMENT_BUCKETS,
)
GRAPHQL_SQL_SECONDS = Histogram(
    "tcgraph_graphql_sql_seconds",
    "Time one query or mutation spent waiting on SQL statements.",
    ["operation", "type"],
    buckets=SQL_SECONDS_BUCKETS,
)
HTTP_RESPONSES = Counter(
    "tcgraph_http_responses",
    "HTTP responses by status code (every path, also those refused before GraphQL).",
    ["status"],
)
SQL_STATEMENTS = Counter("tcgraph_sql_statements", "SQL statements run by this service (requests and background work).")
SQL_SECONDS = Counter("tcgraph_sql_seconds", "Time spent in SQL statements (requests and background work).")
DB_POOL_IN_USE = Gauge(
    "tcgraph_db_pool_connections_in_use", "Pooled database connections checked out.", multiprocess_mode="livesum"
)
DB_POOL_OPEN = Gauge(
    "tcgraph_db_pool_connections_open",
    "Pooled database connections open (in use and idle).",
    multiprocess_mode="livesum",
)
DB_POOL_LIMIT = Gauge(
    "tcgraph_db_pool_connections_limit",
    "Most connections the pools may open (DB_POOL_SIZE + DB_MAX_OVERFLOW per process).",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_OPEN = Gauge(
    "tcgraph_subscriptions_open", "Subscriptions running, by field.", ["field"], multiprocess_mode="livesum"
)
EVENTS_DELIVERED = Counter(
    "tcgraph_events_delivered",
    "Events sent to subscribers (live: as they happen; replay: caught up with `after`).",
    ["mode"],
)
EVENT_DELIVERY_LAG = Histogram(
    "tcgraph_event_delivery_lag_seconds",
    "From an event's commit to its delivery to a live subscriber.",
    buckets=LAG_BUCKETS,
)
IMPORTS = Counter("tcgraph_imports", "Imports run through the service, by source and result.", ["source", "result"])
IMPORT_ROWS = Counter(
    "tcgraph_import_rows",
    "Rows of committed imports, by source and outcome (created, updated, unchanged, rejected).",
    ["source", "outcome"],
)

# Children for the labels every live event uses, looked up once.
EVENTS_LIVE = EVENTS_DELIVERED.labels("live")
EVENTS_REPLAYED = EVENTS_DELIVERED.labels("replay")


class OperationSeries:
    """One operation label's series, looked up once (`labels()` validates on every call)."""

    __slots__ = ("requests", "duration", "cost", "sql_statements", "sql_seconds")

    def __init__(self, operation: str, kind: str):
        self.requests = {
            outcome: GRAPHQL_REQUESTS.labels(operation, kind, outcome) for outcome in ("ok", "error", "refused")
        }
        self.duration = GRAPHQL_DURATION.labels(operation, kind)
        self.cost = GRAPHQL_COST.labels(operation, kind)
        self.sql_statements = GRAPHQL_SQL_STATEMENTS.labels(operation, kind)
        self.sql_seconds = GRAPHQL_SQL_SECONDS.labels(operation, kind)


_series: dict[tuple[str, str], OperationSeries] = {}
_responses: dict[int, Any] = {}


def operation_series(operation: str, kind: str) -> OperationSeries:
    """Bounded like the labels: (names admitted + other + anonymous) × operation types."""
    series = _series.get((operation, kind))
    if series is None:
        series = _series[(operation, kind)] = OperationSeries(operation, kind)
    return series


def http_response(status: int) -> None:
    counter = _responses.get(status)
    if counter is None:
        counter = _responses[status] = HTTP_RESPONSES.labels(str(status))
    counter.inc()


OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationNames:
    """The bounded set of operation names used as label values."""

    def __init__(self, limit: int = 100):
        self.limit = limit
        self._admitted: set[str] = set()

    def label(self, name: str | None, *, valid: bool) -> str:
        """`name` if admitted (or admissible and `valid`: its document passed validation),
        `anonymous` without a name, else `other`."""
        if not name:
            return "anonymous"
        if not isinstance(name, str):  # `operationName` as the client sent it: maybe an object
            return "other"
        if name in self._admitted:
            return name
        if valid and len(self._admitted) < self.limit and OPERATION_NAME.fullmatch(name):
            self._admitted.add(name)
            return name
        return "other"


def record_import(report: Any, *, committed: bool) -> None:
    """Counts one import (service/imports/run.py); its rows only once committed."""
    source = str(report.source)
    result = "committed" if committed else ("dry_run" if report.dry_run else "rolled_back")
    IMPORTS.labels(source, result).inc()
    if committed:
        for outcome in ("created", "updated", "unchanged", "rejected"):
            count = getattr(report, outcome, 0)
            if count:
                IMPORT_ROWS.labels(source, outcome).inc(count)


def exposition() -> tuple[bytes, str]:
    """The text exposition format of this process, or of every worker in multi-process mode."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int | None = None) -> None:
    """Multi-process mode: drop an exited worker's live gauges."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
