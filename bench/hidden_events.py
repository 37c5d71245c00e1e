"""Benchmark (not a test): the worst requests an anonymous caller can send, at demo scale
plus 3,000 events about a PRIVATE need.

    .venv/bin/python bench/hidden_events.py                       # this checkout
    .venv/bin/python bench/hidden_events.py --app-dir /tmp/before # another tree of the code (A/B)

It creates a scratch database `tcgraph_bench_hidden_<pid>` on the server of
`--database-url` (default: the embedded one, `.venv/bin/tcgraph db url`), migrates it, loads
the reference and demo data, and edits one PRIVATE need `--updates` times through the domain
(`service.needs.update_need`, so the outbox records every edit: events anonymous callers may
not see). Then it serves that database with one uvicorn process (the code of `--app-dir`,
this checkout by default; rate limits raised so that only the work is measured) and times,
from a client on the same machine, each request `--repeat` times (median and worst):

- anonymous `changes(first: 100)` from the start of the log, 3 of them in parallel, 50
  aliased in one document, and every page of the log one after the other;
- the full introspection query, and 50 aliased `__schema` selections;
- nested connections at the largest page sizes an anonymous bucket admits;
- `nodes(ids:)` with 100 IDs.

It prints each request's requested cost and wall time; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # `service` when run from a checkout without install
from bench.common import dev_database_url, machine_description  # noqa: E402
from bench.subscriptions import Server, create_scratch_database, drop_database, free_port, stop_server, wait_ready  # noqa: E402

CHANGES = "{ changes(first: 100) { edges { node { id operation } } pageInfo { hasNextPage endCursor } lastSequence } }"
ALIASED_SCHEMA = (
    "{ "
    + " ".join(f"s{i}: __schema {{ types {{ name fields {{ name type {{ name }} }} }} }}" for i in range(50))
    + " }"
)
DEEP = """{ needs(first: 100) { edges { node { title state { name }
  recommendations(first: 24) { edges { node { text recommendingStates(first: 2) { edges { node { code name } } } } } } } } } }"""
# The most `changes` one anonymous request may hold (50 aliases, within a 10,000-point bucket).
ALIASED_CHANGES = (
    "{ " + " ".join(f"c{i}: changes(first: 49) {{ edges {{ node {{ id }} }} lastSequence }}" for i in range(50)) + " }"
)
WIDE = "{ states(first: 100) { edges { node { code needs(first: 97) { edges { node { title } } } } } } }"


def requests() -> dict[str, str]:
    from graphql import get_introspection_query

    return {
        "changes(first: 100)": CHANGES,
        "50 aliased changes(first: 49)": ALIASED_CHANGES,
        # For comparison: as many statements, from a field that scans nothing.
        "50 aliased needs(first: 1) totalCount": "{ "
        + " ".join(f"n{i}: needs(first: 1) {{ totalCount edges {{ node {{ id }} }} }}" for i in range(50))
        + " }",
        "full introspection": get_introspection_query(),
        "50 aliased __schema": ALIASED_SCHEMA,
        "needs×recommendations×States": DEEP,
        "states×needs": WIDE,
        "nodes(ids: 100)": "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Need { title state { name } } } }",
    }


async def add_hidden_updates(url: str, count: int, batch: int = 100) -> tuple[int, int]:
    """Edits one PRIVATE need of the demo data `count` times; returns (its ID, events after)."""
    import sqlalchemy as sa

    from service import needs as needs_service
    from service.access.principals import Principal, Role
    from service.db.engine import make_engine, make_sessionmaker
    from service.demo.load import load_demo
    from service.models import AssistanceNeed, Event
    from service.models.enums import Visibility

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            await load_demo(session)
        async with sessionmaker() as session:
            need = (
                await session.execute(
                    sa.select(AssistanceNeed)
                    .where(AssistanceNeed.visibility == Visibility.PRIVATE)
                    .order_by(AssistanceNeed.id)
                    .limit(1)
                )
            ).scalar_one()
        focal = Principal(role=Role.STATE_FOCAL_POINT, state_iso3=need.state_iso3)
        started = time.perf_counter()
        for first in range(0, count, batch):
            async with sessionmaker() as session, session.begin():
                for i in range(first, min(count, first + batch)):
                    values = needs_service.NeedFields(description=f"Revision {i} (benchmark).")
                    await needs_service.update_need(session=session, principal=focal, need_id=need.id, values=values)
        print(f"{count} updates of PRIVATE need {need.id} ({need.state_iso3}) in {time.perf_counter() - started:.0f} s")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            events = (await conn.execute(sa.select(sa.func.count()).select_from(Event))).scalar_one()
        return need.id, events
    finally:
        await engine.dispose()


def start_server(database_url: str, app_dir: Path, port: int, log: Path) -> Server:
    env = {
        **os.environ,
        "PYTHONPATH": str(app_dir),
        "DATABASE_URL": database_url,
        "ANONYMOUS_RATE_LIMIT_CAPACITY": "1e9",
        "ANONYMOUS_RATE_LIMIT_RESTORE_RATE": "1e6",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.app:app_from_environment",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--http",
        "httptools",
    ]
    process = subprocess.Popen(command, cwd=app_dir, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return Server(process=process, base=f"http://127.0.0.1:{port}")


async def timed(client: httpx.AsyncClient, query: str, variables: dict | None = None) -> tuple[float, dict]:
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    elapsed = time.perf_counter() - started
    return elapsed, response.json()


def outcome(body: dict) -> str:
    if body.get("errors"):
        return body["errors"][0].get("extensions", {}).get("code", "error")
    return "ok"


async def measure(base: str, repeat: int) -> list[tuple[str, str, float, float, str]]:
    rows = []
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        ids = [
            e["node"]["id"]
            for e in (await timed(client, "{ needs(first: 100) { edges { node { id } } } }"))[1]["data"]["needs"][
                "edges"
            ]
        ]
        ids = (ids * 100)[:100]
        for name, query in requests().items():
            variables = {"ids": ids} if "$ids" in query else None
            times, body = [], {}
            for _ in range(repeat):
                elapsed, body = await timed(client, query, variables)
                times.append(elapsed)
            cost = (body.get("extensions") or {}).get("cost", {}).get("requestedQueryCost", "—")
            if body.get("errors"):
                cost = body["errors"][0].get("extensions", {}).get("cost", cost)
            rows.append((name, str(cost), statistics.median(times), max(times), outcome(body)))
        slowest_of_three = []
        for _ in range(repeat):
            results = await asyncio.gather(*(timed(client, CHANGES) for _ in range(3)))
            slowest_of_three.append(max(t for t, _ in results))
        rows.append(
            (
                "3 × changes(first: 100) in parallel (slowest of 3)",
                "—",
                statistics.median(slowest_of_three),
                max(slowest_of_three),
                outcome(results[0][1]),
            )
        )
        pages, after, slowest = 0, None, 0.0
        while True:
            query = CHANGES.replace("changes(first: 100)", "changes(first: 100, after: $after)").replace(
                "{ changes", "query($after: String) { changes", 1
            )
            elapsed, body = await timed(client, query, {"after": after})
            slowest, pages = max(slowest, elapsed), pages + 1
            info = body["data"]["changes"]["pageInfo"]
            if not info["hasNextPage"]:
                break
            after = info["endCursor"]
        rows.append((f"changes: all {pages} page(s) of the log, slowest", "—", slowest, slowest, "ok"))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: `.venv/bin/tcgraph db url`)")
    parser.add_argument("--app-dir", type=Path, default=PROJECT_ROOT, help="the tree of the code to serve")
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args()
    server_url = args.database_url or dev_database_url("--database-url")
    name = f"tcgraph_bench_hidden_{os.getpid()}"
    print(machine_description(with_load=True))
    server = None
    try:
        url, _key = await create_scratch_database(server_url, name)
        need_id, events = await add_hidden_updates(url, args.updates)
        print(f"event log: {events} events; serving {args.app_dir}")
        log = Path(f"/tmp/{name}.log")
        server = start_server(url, args.app_dir.resolve(), args.port or free_port(), log)
        await wait_ready(server, log)
        rows = await measure(server.base, args.repeat)
    finally:
        if server is not None:
            stop_server(server)
        await drop_database(server_url, name)
    print("\n| request (anonymous) | cost | median s | worst s | outcome |\n|---|---:|---:|---:|---|")
    for name_, cost, median, worst, result in rows:
        print(f"| {name_} | {cost} | {median:.3f} | {worst:.3f} | {result} |")
    print(json.dumps({"updates": args.updates, "events": events, "need": need_id}))


if __name__ == "__main__":
    asyncio.run(main())
