"""CPU the observability layer adds to one simple query, measured in one process.

Two apps on one database: the service as it is, and the same app with its observability
taken out (no RequestTracking middleware, no OperationObservability extension, no SQL
listeners). Batches of the same query alternate between them through httpx's ASGI transport
(no sockets); each batch's CPU time (`time.process_time`) is divided by its requests. CPU
time, unlike wall time, is little moved by other work on the machine; alternating batches
cancels most drift. The client's own cost is in both figures, so the difference is what
observability adds per request.

    DATABASE_URL=postgresql+asyncpg://…/db_with_reference_data \\
      .venv/bin/python bench/observability_overhead.py [--batches 20] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.common import machine_description  # noqa: E402

QUERY = {"query": "query StatesPage { states(first: 3) { edges { node { code name } } } }"}


def app_without_observability(url: str, settings):
    """The app with no RequestTracking middleware and a schema without OperationObservability
    (its SQL listeners are removed once its lifespan started: `remove_sql_listeners`)."""
    import service.app as app_module
    from graphql_schema.observability import OperationObservability
    from service.observability.requests import RequestTracking

    original = app_module.build_schema

    def build_schema(settings):
        schema = original(settings)
        schema.extensions = tuple(
            f
            for f in schema.extensions
            if not (getattr(f, "__name__", "") == "<lambda>" and isinstance(f(), OperationObservability))
        )
        return schema

    app_module.build_schema = build_schema
    try:
        app = app_module.create_app(database_url=url, settings=settings)
    finally:
        app_module.build_schema = original
    app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not RequestTracking]
    return app


def remove_sql_listeners(engine) -> None:
    from sqlalchemy import event

    from service.observability import sql

    for name, listener in (
        ("before_cursor_execute", sql._before),
        ("after_cursor_execute", sql._after),
        ("handle_error", sql._failed),
    ):
        if event.contains(engine.sync_engine, name, listener):
            event.remove(engine.sync_engine, name, listener)


async def batch(client: httpx.AsyncClient, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        response = await client.post("/graphql", json=QUERY)
        assert response.status_code == 200 and b'"errors"' not in response.content, response.text
    return (time.process_time() - started) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--log-level", default="info", help="info: with the access log line (written to /dev/null); warning: without"
    )
    args = parser.parse_args()
    os.environ.setdefault("ANONYMOUS_RATE_LIMIT_CAPACITY", "1e12")
    os.environ.setdefault("ANONYMOUS_RATE_LIMIT_RESTORE_RATE", "1e12")
    from service.observability import logs

    logs.configure(level=args.log_level, json=True)  # as `tcgraph serve` does …
    logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # … writing to nowhere
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the client's own lines

    from service.app import create_app
    from service.settings import Settings

    url = os.environ["DATABASE_URL"]
    with_obs = create_app(database_url=url, settings=Settings())
    without = app_without_observability(url, Settings())
    async with with_obs.router.lifespan_context(with_obs), without.router.lifespan_context(without):
        remove_sql_listeners(without.state.engine)
        figures: dict[str, list[float]] = {"with": [], "without": []}
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=with_obs), base_url="http://bench") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=without), base_url="http://bench") as b,
        ):
            assert (await a.post("/graphql", json=QUERY)).headers.get("x-request-id")
            assert "x-request-id" not in (await b.post("/graphql", json=QUERY)).headers  # really stripped
            await batch(a, 50)
            await batch(b, 50)
            for number in range(args.batches):  # alternating which goes first
                pair = [("with", a), ("without", b)]
                for name, client in pair if number % 2 == 0 else reversed(pair):
                    figures[name].append(await batch(client, args.requests))
    w, wo = statistics.median(figures["with"]), statistics.median(figures["without"])
    print(
        f"log level {args.log_level}; CPU per request (median of {args.batches} batches of {args.requests}): "
        f"with observability {w:.0f} µs, without {wo:.0f} µs, added {w - wo:.0f} µs ({(w - wo) / wo:+.1%})"
    )
    for name, values in figures.items():
        quartiles = statistics.quantiles(values, n=4)
        print(f"  {name}: quartiles {quartiles[0]:.0f} / {quartiles[1]:.0f} / {quartiles[2]:.0f} µs")
    print(machine_description(with_load=True))


if __name__ == "__main__":
    asyncio.run(main())
