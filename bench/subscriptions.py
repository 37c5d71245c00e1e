"""Benchmark (not a test): live-update latency and memory of 1,000 `events` subscribers.

Commit→delivery latency of the `events` subscription at 1,000 subscribers over 2 service
processes, and the servers' memory per idle subscription.

    .venv/bin/python bench/subscriptions.py                 # 1,000 subscribers, 50 commits
    .venv/bin/python bench/subscriptions.py --select ids    # without loading the entity

It raises its open-file limit to the hard limit, creates a scratch database
`tcgraph_bench_subs_<pid>` on the server of `--database-url` (default: the embedded one,
`.venv/bin/tcgraph db url`), migrates it, loads the reference data and makes a focal
point's API key; starts `--servers` uvicorn processes on it (loopback, free ports, rate
limits raised; each server is one process, all on one database: events cross between them
through PostgreSQL NOTIFY); opens `--subscribers` graphql-transport-ws connections spread
evenly over them, each with one `events` subscription; measures the servers' RSS before and
after (idle); then creates `--events` PUBLIC needs through HTTP at `--rate` per second (the
mutations alternate between the servers) and records when every subscriber receives each
event. The scratch database is dropped at the end, whatever happens.

Latency is measured from the moment the `createNeed` HTTP response arrived (the commit
happened just before; a delivery may even beat the response: those count as negative) to
the moment a subscriber's client read the message. Also printed: the same from the event's
`occurredAt` (the transaction's start, so it includes the mutation itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # `service` when run from a checkout without install
from bench.common import dev_database_url, machine_description  # noqa: E402

SELECTIONS = {
    # What a dashboard asks: the entity (loaded per subscriber, under its permissions).
    "entity": "sequence kind occurredAt entityId entity { ... on Need { title } }",
    # Only the event row: no entity load per subscriber.
    "ids": "sequence kind occurredAt entityId",
}
CREATE = (
    'mutation($t: String!) { createNeed(input: {state: "KEN", title: $t, description: "Benchmark need.", '
    'themes: ["JUSTICE"], visibility: PUBLIC}) { need { id } userErrors { field message } } }'
)


# ----------------------------------------------------------------------------- the machine


def raise_open_file_limit(needed: int) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children, i.e. the servers, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed * 2, 65536)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"open files: soft limit {soft}, hard limit {hard} (this client needs ~{needed})")
    if soft < needed:
        raise SystemExit(f"the open-file limit {soft} is below the ~{needed} sockets needed; lower --subscribers")
    return soft


# ----------------------------------------------------------------------------- the database


def _asyncpg_dsn(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def _database_url(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql+asyncpg", database=database).render_as_string(hide_password=False)


async def _admin(url: str):
    import asyncpg
    from sqlalchemy.engine import make_url

    maintenance = make_url(url).database or "postgres"
    try:
        return await asyncpg.connect(_asyncpg_dsn(url, maintenance))
    except asyncpg.InvalidCatalogNameError:
        return await asyncpg.connect(_asyncpg_dsn(url, "postgres"))


async def create_scratch_database(server_url: str, name: str) -> tuple[str, str]:
    """Creates, migrates and fills `name`; returns (its URL, a KEN focal point's API key)."""
    from service.access.keys import create_api_key
    from service.access.principals import SYSTEM, Role
    from service.db import migrate
    from service.db.engine import make_engine, make_sessionmaker
    from service.reference.load import load_reference

    admin = await _admin(server_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    url = _database_url(server_url, name)
    await asyncio.to_thread(migrate.upgrade, url)  # Alembic runs its own event loop
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await load_reference(session)
            key = (
                await create_api_key(
                    session=session,
                    actor=SYSTEM,
                    role=Role.STATE_FOCAL_POINT,
                    label="bench subscriptions",
                    state_iso3="KEN",
                )
            ).key
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
    return url, key


async def drop_database(server_url: str, name: str) -> None:
    admin = await _admin(server_url)
    try:
        await admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1", name)
        await admin.execute(f'drop database if exists "{name}"')
    finally:
        await admin.close()


# ----------------------------------------------------------------------------- the servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    base: str

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"

    def processes(self) -> list[Any]:
        import psutil

        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.processes())

    def cpu_seconds(self) -> float:
        return sum(t.user + t.system for t in (p.cpu_times() for p in self.processes()))


def pause_own_gc() -> None:
    """This client's cyclic GC stays off during the burst: its pauses (the received messages
    pile up in its heap, and a collection walks them all) would show up as the servers'
    latency."""
    import gc

    gc.collect()
    gc.freeze()
    gc.disable()


def resume_own_gc() -> None:
    import gc

    gc.unfreeze()
    gc.enable()


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def start_server(database_url: str, args: argparse.Namespace, log: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": database_url,
        # Out of the way, but with a restore rate far below the capacity: the bucket's
        # `now() - updated_at` goes negative for a transaction that waited on the bucket's row
        # lock, and times 1e12/s that refuses cheap queries (see bench/README.md).
        "ANONYMOUS_RATE_LIMIT_CAPACITY": "1e12",
        "ANONYMOUS_RATE_LIMIT_RESTORE_RATE": "1e6",
        "RATE_LIMIT_CAPACITY": "1e12",
        "RATE_LIMIT_RESTORE_RATE": "1e6",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        args.app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--loop",
        args.loop,
        "--http",
        "httptools",
        "--ws",
        args.ws,
        "--backlog",
        "4096",
        # As the Docker image and `tcgraph serve`: the server declines permessage-deflate.
        "--ws-per-message-deflate",
        "true" if args.server_deflate else "false",
    ]
    handle = log.open("ab")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return Server(process=process, base=f"http://127.0.0.1:{port}")


async def wait_ready(server: Server, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(server.base + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise SystemExit(f"server {server.base} did not start:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.2)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# ----------------------------------------------------------------------------- subscribers


@dataclass
class Subscriber:
    server: int
    ws: Any = None
    received: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), raw message)
    task: asyncio.Task | None = None
    closed: str | None = None
    problems: list[str] = field(default_factory=list)  # messages other than `next`
    mark: int = 0  # index in `received` where the measured events start

    @property
    def measured(self) -> int:
        return len(self.received) - self.mark

    async def open(self, url: str, query: str, compression: bool) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            url,
            subprotocols=["graphql-transport-ws"],
            open_timeout=60,
            ping_interval=None,
            compression="deflate" if compression else None,
            max_size=None,
        )
        await self.ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import websockets

        try:
            async for message in self.ws:
                # Timestamp first; parse after the run (keeps the client's work per message small).
                self.received.append((time.time(), message))
                if not message.startswith('{"id":"1","type":"next"'):  # error, complete, …
                    self.problems.append(self.received.pop()[1])
        except websockets.ConnectionClosed as closed:
            self.closed = str(closed)
        else:
            self.closed = f"closed {self.ws.close_code} {self.ws.close_reason}"

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)


async def open_all(
    subscribers: list[Subscriber], servers: list[Server], query: str, compression: bool, parallel: int
) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(sub: Subscriber) -> None:
        async with gate:
            await sub.open(servers[sub.server].ws_url, query, compression)

    await asyncio.gather(*(one(s) for s in subscribers))


async def wait_for_count(subscribers: list[Subscriber], count: int, timeout: float) -> int:
    """Waits until every subscriber has `count` messages (cheap to poll: the client stays out
    of the servers' way); returns how many subscribers fell short at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        short = sum(1 for s in subscribers if s.measured < count and not s.problems and not s.closed)
        if not short or time.monotonic() > deadline:
            return short + sum(1 for s in subscribers if s.measured < count and (s.problems or s.closed))
        await asyncio.sleep(0.1)


def explain_failures(subscribers: list[Subscriber]) -> str:
    broken = [s for s in subscribers if s.problems or s.closed]
    if not broken:
        return ""
    first = broken[0]
    return (
        f"{len(broken)} subscriptions failed, e.g. on server {first.server}: "
        f"{(first.problems or [''])[0][:300]} {first.closed or ''}"
    )


# ----------------------------------------------------------------------------- the writer


@dataclass
class Commit:
    entity_id: str
    sent: float
    returned: float


async def create_need(client: httpx.AsyncClient, base: str, token: str, title: str) -> Commit:
    sent = time.time()
    response = await client.post(
        base + "/graphql",
        json={"query": CREATE, "variables": {"t": title}},
        headers={"Authorization": f"Bearer {token}"},
    )
    returned = time.time()
    body = response.json()
    payload = (body.get("data") or {}).get("createNeed") or {}
    if not payload.get("need"):
        raise RuntimeError(f"createNeed failed: {body}")
    return Commit(entity_id=payload["need"]["id"], sent=sent, returned=returned)


# ----------------------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"{label}: no samples"
    return (
        f"{label}: n={len(ms)}  p50 {percentile(ms, 50):.1f} ms  p95 {percentile(ms, 95):.1f} ms  "
        f"p99 {percentile(ms, 99):.1f} ms  max {max(ms):.1f} ms  (mean {statistics.fmean(ms):.1f})"
    )


def parse_occurred_at(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ----------------------------------------------------------------------------- the run


async def warm_up(servers: list[Server], token: str, selection: str, compression: bool) -> None:
    """One subscriber and one event per server, so that lazy imports and first-call caches are
    in the memory baseline, not in the per-subscription figure."""
    subs = [Subscriber(server=i) for i in range(len(servers))]
    query = f"subscription {{ events(filter: {{kinds: [NEED_CREATED]}}) {{ {selection} }} }}"
    await open_all(subs, servers, query, compression, parallel=len(subs))
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(timeout=30) as client:
        commit = await create_need(client, servers[0].base, token, "[bench] warm-up")
    missing = await wait_for_count(subs, 1, 30)
    for sub in subs:
        await sub.close()
    if missing:
        raise SystemExit(f"warm-up event not delivered: {explain_failures(subs) or 'are the listeners connected?'}")


async def benchmark(args: argparse.Namespace, database_url: str, token: str, logs: Path) -> int:
    selection = SELECTIONS[args.select]
    query = f"subscription {{ events(filter: {{kinds: [NEED_CREATED]}}) {{ {selection} }} }}"
    servers = [start_server(database_url, args, logs / f"server{i}.log") for i in range(args.servers)]
    subscribers: list[Subscriber] = []
    try:
        await asyncio.gather(*(wait_ready(s, logs / f"server{i}.log") for i, s in enumerate(servers)))
        print(
            f"servers: {len(servers)} uvicorn process(es), --loop {args.loop} --http httptools --ws {args.ws}: "
            + ", ".join(f"{s.base} (pid {s.process.pid})" for s in servers)
        )
        await warm_up(servers, token, selection, args.compression)
        await asyncio.sleep(1)
        rss_before = [s.rss() for s in servers]

        subscribers = [Subscriber(server=i % len(servers)) for i in range(args.subscribers)]
        started = time.monotonic()
        await open_all(subscribers, servers, query, args.compression, parallel=args.connect_parallel)
        print(
            f"subscribers: {len(subscribers)} connected and subscribed in {time.monotonic() - started:.1f} s "
            f"({', '.join(str(sum(1 for s in subscribers if s.server == i)) + ' on server ' + str(i) for i in range(len(servers)))}); "
            f"selection: {{ {selection} }}; permessage-deflate {'offered' if args.compression else 'not offered'} by the clients, "
            f"{'accepted' if args.server_deflate else 'declined'} by the servers"
        )
        await asyncio.sleep(args.settle)
        rss_idle = [s.rss() for s in servers]
        added = sum(rss_idle) - sum(rss_before)
        print(
            "memory: servers' RSS "
            + " + ".join(f"{b / 2**20:.1f}" for b in rss_before)
            + " MiB before, "
            + " + ".join(f"{a / 2**20:.1f}" for a in rss_idle)
            + f" MiB with {len(subscribers)} idle subscriptions: "
            f"{added / 2**20:.1f} MiB more, {added / len(subscribers) / 1024:.1f} KiB per idle subscription"
        )

        # Every subscription is live once all receive this one (not measured).
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=4)) as client:
            probe = await create_need(client, servers[0].base, token, "[bench] all live?")
            missing = await wait_for_count(subscribers, 1, 60)
            if missing:
                raise SystemExit(
                    f"{missing} subscribers never received the probe event. {explain_failures(subscribers)}"
                )
            for sub in subscribers:
                sub.mark = len(sub.received)  # what came before is the probe (not measured)

            profilers = start_profilers(args, servers, logs)
            pause_own_gc()
            cpu_before = (
                [s.cpu_seconds() for s in servers],
                own_cpu_seconds(),
                machine_busy_seconds(),
                time.monotonic(),
            )
            commits: list[Commit] = []
            burst_started = time.monotonic()
            for i in range(args.events):
                due = burst_started + i / args.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                server = servers[i % len(servers)]
                commits.append(await create_need(client, server.base, token, f"[bench] need {i}"))
            burst = time.monotonic() - burst_started
        short = await wait_for_count(subscribers, len(commits), args.drain_timeout)
        cpu_after = ([s.cpu_seconds() for s in servers], own_cpu_seconds(), machine_busy_seconds(), time.monotonic())
        stop_profilers(profilers)
        resume_own_gc()

        by_id = {c.entity_id: c for c in commits}
        from_response: list[float] = []
        from_occurred: list[float] = []
        per_server: dict[int, list[float]] = {i: [] for i in range(len(servers))}
        per_event: dict[str, list[float]] = {c.entity_id: [] for c in commits}
        errors: list[Any] = []
        for sub in subscribers:
            for received_at, raw in sub.received[sub.mark :]:
                message = json.loads(raw)
                if message.get("type") != "next":
                    errors.append(message)
                    continue
                payload = message["payload"]
                if payload.get("errors"):
                    errors.append(payload["errors"])
                    continue
                event = payload["data"]["events"]
                commit = by_id.get(event["entityId"])
                if commit is None:
                    continue
                latency = received_at - commit.returned
                from_response.append(latency)
                per_server[sub.server].append(latency)
                per_event[commit.entity_id].append(latency)
                from_occurred.append(received_at - parse_occurred_at(event["occurredAt"]))
        closed = [s.closed for s in subscribers if s.closed]
        missing = sum(len(subscribers) - len(v) for v in per_event.values())
        mutation = [c.returned - c.sent for c in commits]

        print(
            f"commits: {len(commits)} needs created in {burst:.1f} s ({len(commits) / burst:.1f}/s, asked {args.rate}/s); "
            + summary("mutation round trip", mutation).split(": ", 1)[1]
        )
        expected = len(commits) * len(subscribers)
        print(
            f"deliveries: {len(from_response)} of {expected} expected; {missing} missing "
            f"({short} subscribers short after waiting up to {args.drain_timeout:.0f} s); {len(errors)} errors"
            + (f" (e.g. {json.dumps(errors[0])[:300]})" if errors else "")
            + f"; {len(closed)} subscribers closed early"
            + (f" (e.g. {closed[0]})" if closed else "")
        )
        for sub in [s for s in subscribers if s.measured < len(commits)][:3]:
            print(
                f"  short: a subscriber of server {sub.server} got {sub.measured} of {len(commits)} events; "
                f"all it received: {[raw[:160] for _, raw in sub.received]}; closed: {sub.closed}"
            )
        print(summary("latency, createNeed response → received", from_response))
        for i, values in per_server.items():
            print("  " + summary(f"subscribers of server {i}", values))
        print(summary("latency, occurredAt (transaction start) → received", from_occurred))
        early = sum(1 for v in from_response if v < 0)
        print(
            f"  {early} deliveries ({early / max(1, len(from_response)):.1%}) arrived before the mutation's HTTP response"
        )
        spreads = [max(v) - min(v) for v in per_event.values() if v]
        print(summary("per event: first → last subscriber", spreads))
        wall = cpu_after[3] - cpu_before[3]
        print(
            f"cpu during the burst and drain ({wall:.1f} s wall, {os.cpu_count()} CPUs): servers "
            + " + ".join(f"{a - b:.1f}" for a, b in zip(cpu_after[0], cpu_before[0]))
            + f" s, this client {cpu_after[1] - cpu_before[1]:.1f} s, whole machine {cpu_after[2] - cpu_before[2]:.1f} s busy"
        )
        p99 = percentile([v * 1000 for v in from_response], 99)
        verdict = "meets" if p99 < args.target_p99 else "MISSES"
        print(f"p99 {p99:.1f} ms {verdict} the {args.target_p99:.0f} ms target")
        return 0 if not missing and not errors else 1
    finally:
        await asyncio.gather(*(s.close() for s in subscribers), return_exceptions=True)
        for server in servers:
            stop_server(server)


def start_profilers(args: argparse.Namespace, servers: list[Server], logs: Path) -> list[subprocess.Popen]:
    """`py-spy record` on every server process for the burst (--py-spy PATH_TO_PY_SPY)."""
    if not args.py_spy:
        return []
    duration = int(args.events / args.rate + args.drain_timeout) + 1
    profilers = []
    for i, server in enumerate(servers):
        out = logs / f"server{i}.pyspy.txt"
        profilers.append(
            subprocess.Popen(
                [
                    args.py_spy,
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--duration",
                    str(duration),
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        print(f"py-spy: recording server {i} into {out}")
    return profilers


def stop_profilers(profilers: list[subprocess.Popen]) -> None:
    import signal

    for profiler in profilers:
        if profiler.poll() is None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for profiler in profilers:
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            profiler.kill()


async def main_async(args: argparse.Namespace) -> int:
    import signal

    # SIGTERM (and SIGINT, even where a background shell ignores it) cancel the run, so that
    # the `finally` blocks stop the servers and drop the scratch database.
    task = asyncio.current_task()
    assert task is not None
    for number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(number, task.cancel)
    raise_open_file_limit(args.subscribers + 200)
    print(machine_description(with_load=True))
    server_url = args.database_url or dev_database_url("--database-url")
    name = f"tcgraph_bench_subs_{os.getpid()}"
    logs = Path(args.logs) if args.logs else PROJECT_ROOT / "bench" / "results" / name
    logs.mkdir(parents=True, exist_ok=True)
    print(f"scratch database {name}; server logs in {logs}")
    try:
        database_url, token = await create_scratch_database(server_url, name)
        return await asyncio.wait_for(benchmark(args, database_url, token, logs), args.time_limit)
    except TimeoutError:
        print(f"gave up after --time-limit {args.time_limit:.0f} s")
        return 2
    finally:
        await drop_database(server_url, name)
        print(f"dropped {name}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000, help="subscriptions, one connection each (1000)")
    parser.add_argument("--servers", type=int, default=2, help="uvicorn processes on the one database (2)")
    parser.add_argument("--events", type=int, default=50, help="needs created during the measurement (50)")
    parser.add_argument("--rate", type=float, default=5.0, help="needs created per second, a steady pace (5)")
    parser.add_argument(
        "--select",
        choices=sorted(SELECTIONS),
        default="entity",
        help="entity: the events with their need's title (loaded per subscriber; default); ids: the event row only",
    )
    parser.add_argument(
        "--server-deflate",
        action="store_true",
        help="let the servers accept permessage-deflate (the service declines it)",
    )
    parser.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="do not offer permessage-deflate (browsers and the `ws` package offer it)",
    )
    parser.add_argument(
        "--ws",
        default="auto",
        help="uvicorn --ws implementation (auto, as in the Docker image; or websockets, as `tcgraph serve`)",
    )
    parser.add_argument(
        "--app",
        default="service.app:app_from_environment",
        help="uvicorn app factory to serve (default: the service's; e.g. a patched one to try a change)",
    )
    parser.add_argument("--loop", default="uvloop", help="uvicorn --loop (uvloop)")
    parser.add_argument("--connect-parallel", type=int, default=50, help="connections opened at once (50)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring memory (3)")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="seconds to wait for the last deliveries (120)"
    )
    parser.add_argument("--target-p99", type=float, default=250.0, help="p99 target in ms (250)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="give up after this many seconds (600)")
    parser.add_argument(
        "--database-url", help="a database on the PostgreSQL server to use (default: `.venv/bin/tcgraph db url`)"
    )
    parser.add_argument("--logs", help="folder for the servers' logs (default: bench/results/<scratch database>/)")
    parser.add_argument(
        "--py-spy", metavar="PY_SPY", help="path of a py-spy binary: profile the servers during the burst"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        return run(main_async(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
