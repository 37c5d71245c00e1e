"""Benchmark (not a test): tcgraph beside PostGraphile on the same database and the same pages.

    (cd bench/peer && npm ci)                   # PostGraphile 4.14.1, pinned in package-lock.json
    .venv/bin/python bench/peer.py              # 10,000 needs; builds tcgraph_bench_peer_10k once, then reuses it
    .venv/bin/python bench/peer.py --needs 1000 --reps 3 --duration 10
    .venv/bin/python bench/peer.py --workers 2  # tcgraph served by 2 uvicorn processes
    .venv/bin/python bench/peer.py --workers 2 --peer-workers 2   # and PostGraphile by 2 (its cluster mode)
    .venv/bin/python bench/peer.py --needs 100000                 # suggestions by one INSERT … SELECT (minutes)
    .venv/bin/python bench/peer.py --gc none --pages page         # another GC set-up (bench/gc_variants.py)
    .venv/bin/python bench/peer.py --tcgraph-env COMPILED_READS=true DB_POOL_SIZE=8

Two pages, both as anonymous (who sees PUBLIC needs only):

  page   the partner page: 50 needs, each with its State, its first 3 recommendations and its
         top-3 matches with the programme or capability and the offering organization
  node   `node(id)` of a Need with its State, cycling through 500 PUBLIC needs

What it does, in order:

1. builds the data set once into `tcgraph_bench_peer_<size>` on `--server-url` (the machine's
   PostgreSQL at 127.0.0.1:5432 by default): bench/matching_scale.py's generator (needs,
   programmes, capabilities, organizations), 3–5 UPR recommendations of its State per need, and
   a full rematch (~20 suggestions per need; beyond 10k needs the same number per need made by
   one set-based INSERT instead of the engine's rematch). Seconds at 10k, minutes at
   100k; a later run finds the database (marked complete by a comment on it) and only migrates
   it to head;
2. (re)creates the schema `peer` that PostGraphile serves: one view per table, the needs and
   matches restricted to PUBLIC needs (the same predicate anonymous gets from tcgraph), with
   smart comments for primary and foreign keys so PostGraphile builds the same relations;
3. starts tcgraph (uvicorn, `--workers` processes, rate limits out of the way) and PostGraphile
   (one node process, production mode) behind a counting proxy that reads the PostgreSQL wire
   protocol, checks that both answer the same content (needs, ids, titles, nested counts,
   scores), and counts SQL statements (simple queries + executes) per request at concurrency 1;
   With `--persisted`, tcgraph gets each query's SHA-256 instead of its text (Apollo's automatic
   persisted queries; each text is sent once with its hash first);
4. restarts both without the proxy and runs wrk (`-c16 -t2`, a Lua script POSTs the body and
   counts responses with errors) alternately: tcgraph, peer, tcgraph, peer … for `--reps`
   repetitions of `--duration` seconds per page, after a warm-up each. After each run it waits
   until the server is idle (the drain: requests in flight when wrk stopped are computed
   anyway), so that the next run starts clean and every request sent is accounted for;
5. prints per page and server: req/s (wrk's, and served/s = requests sent ÷ (window + drain)),
   p50/p99 latency, server CPU ms per request sent (the server's processes, from /proc), the
   cyclic GC's share of it (tcgraph, bench/gc_variants.py), PostgreSQL backend CPU ms per
   request (its backends, from /proc), new PostgreSQL sessions per request
   (pg_stat_database.sessions), the server's RSS (after start-up, after the first and after the
   last run: flat memory), and the ratios tcgraph ÷ PostGraphile (served/s paired by rep, wrk's
   req/s, CPU per request); the machine and its load average.

Both servers and wrk share the machine's CPUs with PostgreSQL (and with anything else running):
compare the ratio within one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
from bench.common import machine_description  # noqa: E402

PEER_DIR = PROJECT_ROOT / "bench" / "peer"
POSTGRAPHILE_CLI = PEER_DIR / "node_modules" / "postgraphile" / "build" / "postgraphile" / "cli.js"
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
COMPLETE = "bench/peer.py data set, complete"
NODE_SAMPLE = 500

# -------------------------------------------------------------------------------------- the pages

TCGRAPH_PAGE = """query PartnerPage {
  needs(first: 50) { edges { node {
    id title status state { code name }
    recommendations(first: 3) { edges { node { id text } } }
    matches(first: 3) { edges { node {
      id score offerKind
      programme { id title } capability { id title } organization { id name }
    } } }
  } } }
}"""

# The same page in PostGraphile's inflection of the `peer` views: the needs in tcgraph's
# default order (newest first, ties by ID), recommendations through the link table in
# tcgraph's order (newest first, ties by ID; the data set's rows share one created_at),
# matches best first, ties by ID.
PEER_PAGE = """query PartnerPage {
  allNeeds(first: 50, orderBy: [CREATED_AT_DESC, ID_DESC]) { nodes {
    id title status stateByStateIso3 { iso3 nameEn }
    needRecommendationsByNeedId(first: 3, orderBy: [RECOMMENDATION_ID_DESC]) { nodes {
      recommendationByRecommendationId { id text } } }
    matchesByNeedId(first: 3, orderBy: [SCORE_DESC, ID_ASC]) { nodes {
      id score offerKind
      programmeByProgrammeId { id title } capabilityByCapabilityId { id title }
      organizationByOrganizationId { id name }
    } }
  } }
}"""

TCGRAPH_NODE = "query NeedNode($id: ID!) { node(id: $id) { ... on Need { id title status state { code name } } } }"
PEER_NODE = "query NeedNode($id: ID!) { node(nodeId: $id) { ... on Need { id title status stateByStateIso3 { iso3 nameEn } } } }"

# -------------------------------------------------------------------------------------- the data set


def size_label(needs: int) -> str:
    return f"{needs // 1000}k" if needs % 1000 == 0 else str(needs)


def asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def dataset_state(server_url: str, name: str) -> str | None:
    """None when the database does not exist; else its comment (COMPLETE when built)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        row = await conn.fetchrow(
            "select coalesce(shobj_description(oid, 'pg_database'), '') as note from pg_database where datname = $1",
            name,
        )
        return None if row is None else row["note"]
    finally:
        await conn.close()


async def add_recommendations(url: str, needs: list[tuple], seed: int) -> int:
    """One review per State, a pool of recommendations per State (1.5 per need), and 3–5 of its
    State's recommendations linked to each need."""
    import asyncpg

    from bench.matching_scale import CLUSTERS, GENERIC_TERMS

    rng = random.Random(seed + 7)
    by_state: dict[str, list[int]] = {}
    for need in needs:
        by_state.setdefault(need[1], []).append(need[0])
    clusters = list(CLUSTERS.values())
    reviews, recommendations, links = [], [], []
    rec_id = 0
    for review_id, (state, need_ids) in enumerate(sorted(by_state.items()), start=1):
        reviews.append((review_id, state, 4, 45, 2024))
        pool = []
        for _ in range(max(5, len(need_ids) * 3 // 2)):
            rec_id += 1
            cluster = rng.choice(clusters)
            a, b = rng.sample(cluster["terms"], 2)
            text = f"Strengthen {a} and {b}, and allocate {rng.choice(GENERIC_TERMS)} to them"
            recommendations.append(
                (
                    rec_id,
                    review_id,
                    state,
                    text,
                    rng.choice(["SUPPORTED", "NOTED"]),
                    rng.randint(1, 5),
                    [cluster["themes"][0]],
                )
            )
            pool.append(rec_id)
        for need_id in need_ids:
            for chosen in rng.sample(pool, min(len(pool), rng.choice([3, 3, 4, 5]))):
                links.append((need_id, chosen))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "review", records=reviews, columns=["id", "state_iso3", "cycle", "session", "year"]
            )
            await conn.copy_records_to_table(
                "recommendation",
                records=recommendations,
                columns=["id", "review_id", "state_iso3", "text", "response", "action_category", "themes"],
            )
            await conn.copy_records_to_table(
                "need_recommendation", records=links, columns=["need_id", "recommendation_id"]
            )
            for table in ("review", "recommendation"):
                await conn.execute(
                    f"select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}))"
                )
    finally:
        await conn.close()
    return len(recommendations)


def offers_for(needs: int) -> tuple[int, int]:
    """Programmes and capabilities beside `needs`: half and a tenth as many, at most 5,000 and
    1,000 (bench/matching_scale.py's world; beyond it a full rematch would take hours)."""
    return min(needs // 2, 5_000), min(needs // 10, 1_000)


# Beyond this many needs the suggestions are generated by one INSERT … SELECT (`--suggestions
# auto`): the engine's full rematch scores needs × candidate offers in Python (107 s at 10k on a
# loaded machine; not tried at 100k).
REMATCH_UP_TO = 10_000
SUGGESTIONS_PER_NEED = 20  # what the engine's full rematch leaves at 10k (196,000 for 10,000 needs)


def suggestions_mode(args: argparse.Namespace) -> str:
    if args.suggestions != "auto":
        return args.suggestions
    return "rematch" if args.needs <= REMATCH_UP_TO else "sql"


async def sql_suggestions(url: str) -> int:
    """SUGGESTIONS_PER_NEED suggestions per need in one set-based statement: distinct offers
    (programmes and capabilities numbered 0…c-1, need i gets offers h(i) + j·⌊c/20⌋ mod c),
    a score from a hash of (need, rank), and an 8-criterion breakdown shaped like the engine's,
    so that rows are as wide as the engine's. Matches the engine would not make (the offer
    ignores the need's State or themes) do not matter here: the pages read the top 3 per need by
    (score desc, id), and that is the same index scan whatever the content."""
    import asyncpg

    from service.matching.engine import default_weights

    weights, note = default_weights()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute(
                "insert into criteria_version (version, weights, note) values (1, $1::jsonb, $2) on conflict do nothing",
                json.dumps(weights),
                note,
            )
            status = await conn.execute(
                """
                with offer as (
                    select (row_number() over (order by kind, id) - 1)::int as k, kind, id, org from (
                        select 'PROGRAMME' as kind, id, reporting_organization_id as org from programme
                        union all
                        select 'CAPABILITY', id, organization_id from capability
                    ) o
                ), n_offer as (select count(*)::int as c from offer),
                pick as (
                    select n.id as need_id, j,
                           (((hashint4(n.id)::bigint & 2147483647) + j * greatest(c / $1, 1)) % c)::int as k,
                           (hashint8(n.id::bigint * 1000 + j) & 1048575) / 1048576.0 as r
                    from assistance_need n cross join n_offer cross join generate_series(0, $1 - 1) j
                    where c >= $1
                )
                insert into match (need_id, offer_kind, programme_id, capability_id, organization_id, score, breakdown,
                                   criteria_version, status)
                select p.need_id, o.kind,
                       case when o.kind = 'PROGRAMME' then o.id end, case when o.kind = 'CAPABILITY' then o.id end,
                       o.org, round((0.2 + 0.75 * p.r)::numeric, 6)::float8,
                       (select jsonb_agg(jsonb_build_object('criterion', w.key, 'weight', w.value::float8,
                                                           'score', round((p.r * (0.5 + i / 16.0))::numeric, 4),
                                                           'evidence', jsonb_build_array('bench')) order by i)
                        from jsonb_each_text($2::jsonb) with ordinality as w(key, value, i)),
                       1, 'SUGGESTED'
                from pick p join offer o on o.k = p.k
                """,
                SUGGESTIONS_PER_NEED,
                json.dumps(weights),
            )
    finally:
        await conn.close()
    return int(status.split()[-1])


async def build_dataset(server_url: str, name: str, needs: int, seed: int, suggestions: str = "rematch") -> None:
    """The data set, from scratch (the database is dropped first if a build was interrupted)."""
    import asyncpg

    from bench.common import admin
    from bench.matching_scale import _prepare, bulk_load, generate, make_world
    from service.db import migrate
    from service.db.engine import make_engine, make_sessionmaker
    from service.matching import engine as matching

    started = time.perf_counter()
    await admin(server_url, f'drop database if exists "{name}" with (force)')
    await admin(server_url, f'create database "{name}"')
    url = database_url(server_url, name)
    await asyncio.to_thread(migrate.upgrade, url, "head")
    await _prepare(url)
    programmes, capabilities = offers_for(needs)
    data = generate(make_world(), needs, programmes, capabilities, seed)
    await bulk_load(url, data)
    n_recommendations = await add_recommendations(url, data["assistance_need"], seed)
    print(
        f"data set: {needs:,} needs, {programmes:,} programmes, {capabilities:,} capabilities, "
        f"{n_recommendations:,} recommendations loaded in {time.perf_counter() - started:.0f} s; "
        + ("full rematch …" if suggestions == "rematch" else "suggestions by SQL …"),
        flush=True,
    )
    if suggestions == "rematch":
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                n_suggestions = (await matching.rematch_needs(session)).suggestions
        finally:
            await engine.dispose()
    else:
        n_suggestions = await sql_suggestions(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("vacuum analyze")
    finally:
        await conn.close()
    await admin(
        server_url, f"comment on database \"{name}\" is '{COMPLETE}: {needs} needs, suggestions by {suggestions}'"
    )
    print(
        f"data set: {n_suggestions:,} suggestions ({suggestions}); built in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


# The `peer` schema PostGraphile serves: views over the tables (PostgreSQL inlines them), needs
# and matches restricted to what anonymous sees in tcgraph (PUBLIC needs), smart comments giving
# the views the keys and relations of the tables.
PEER_VIEWS = {
    "state": ("select * from public.state", "@primaryKey iso3"),
    "organization": ("select * from public.organization", "@primaryKey id"),
    "programme": ("select * from public.programme", "@primaryKey id"),
    "capability": ("select * from public.capability", "@primaryKey id"),
    "recommendation": ("select * from public.recommendation", "@primaryKey id"),
    "need": (
        "select * from public.assistance_need where visibility = 'PUBLIC'",
        "@primaryKey id\n@foreignKey (state_iso3) references peer.state (iso3)",
    ),
    "need_recommendation": (
        "select * from public.need_recommendation",
        "@primaryKey need_id,recommendation_id\n@foreignKey (need_id) references peer.need (id)\n"
        "@foreignKey (recommendation_id) references peer.recommendation (id)",
    ),
    "match": (
        "select m.* from public.match m join public.assistance_need n on n.id = m.need_id where n.visibility = 'PUBLIC'",
        "@primaryKey id\n@foreignKey (need_id) references peer.need (id)\n"
        "@foreignKey (programme_id) references peer.programme (id)\n"
        "@foreignKey (capability_id) references peer.capability (id)\n"
        "@foreignKey (organization_id) references peer.organization (id)",
    ),
}


async def prepare_peer_schema(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute("drop schema if exists peer cascade; create schema peer")
            for view, (body, comment) in PEER_VIEWS.items():
                await conn.execute(f"create view peer.{view} as {body}")
                await conn.execute(f"comment on view peer.{view} is $${comment}$$")
    finally:
        await conn.close()


async def ensure_dataset(args: argparse.Namespace) -> str:
    from service.db import migrate

    mode = suggestions_mode(args)
    name = f"tcgraph_bench_peer_{size_label(args.needs)}"
    if mode != ("rematch" if args.needs <= REMATCH_UP_TO else "sql"):  # not this size's default: a database of its own
        name += f"_{mode}"
    state = await dataset_state(args.server_url, name)
    if args.rebuild or state is None or not state.startswith(COMPLETE):
        print(f"building {name} (once; later runs reuse it) …", flush=True)
        await build_dataset(args.server_url, name, args.needs, args.seed, mode)
    else:
        print(f"reusing {name} ({state})", flush=True)
    url = database_url(args.server_url, name)
    await asyncio.to_thread(migrate.upgrade, url, "head")
    await prepare_peer_schema(url)
    return url


# -------------------------------------------------------------------------------------- counting proxy


@dataclass
class CountingProxy:
    """A TCP proxy in front of PostgreSQL that counts the statements its clients send: simple
    queries ('Q') and executes of prepared statements ('E'), and the connections opened. It
    declines TLS so it can read the protocol."""

    upstream: tuple[str, int]
    statements: int = 0
    connections: int = 0
    texts: list[str] = field(default_factory=list)
    server: asyncio.base_events.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        back = asyncio.create_task(self._pipe(up_reader, writer))
        prepared: dict[bytes, str] = {}
        bound = ""
        try:
            while True:  # the start-up packet, after any SSL/GSS requests (declined)
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                if code in (80877103, 80877104):
                    writer.write(b"N")
                    await writer.drain()
                    continue
                up_writer.write(head + await reader.readexactly(length - 8))
                break
            while True:
                head = await reader.readexactly(5)
                body = await reader.readexactly(int.from_bytes(head[1:], "big") - 4)
                kind = head[:1]
                if kind == b"Q":
                    self.statements += 1
                    self.texts.append(body[:-1].decode(errors="replace"))
                elif kind == b"P":
                    name, _, rest = body.partition(b"\0")
                    prepared[name] = rest.partition(b"\0")[0].decode(errors="replace")
                elif kind == b"B":
                    _portal, _, rest = body.partition(b"\0")
                    bound = prepared.get(rest.partition(b"\0")[0], "?")
                elif kind == b"E":
                    self.statements += 1
                    self.texts.append(bound)
                up_writer.write(head + body)
                await up_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            back.cancel()
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


# -------------------------------------------------------------------------------------- the servers


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log: Path
    application_name: str
    gc_stats: Path | None = None  # tcgraph's processes' collections (bench/gc_variants.py)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def processes(self) -> list[Any]:
        import psutil

        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        return sum(t.user + t.system for t in (p.cpu_times() for p in self.processes()))

    def gc_totals(self) -> tuple[float, int]:
        """(CPU ms spent collecting, collections of the oldest generation) so far, all processes."""
        cpu, full = 0.0, 0
        for path in self.gc_stats.glob("gc-*.json") if self.gc_stats else []:
            try:
                totals = json.loads(path.read_text())
            except (OSError, ValueError):  # being rewritten: skip this reading
                continue
            cpu += sum(totals["cpu_ms"])
            full += totals["collections"][2]
        return cpu, full

    def rss_mb(self) -> float:
        return sum(p.memory_info().rss for p in self.processes()) / 2**20


def start_tcgraph(args: argparse.Namespace, url: str, port: int, logs: Path) -> Server:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": url,
        "PROFILE": "production",
        # Out of the way (restore rate far below capacity: see the subscriptions section of bench/README.md).
        "ANONYMOUS_RATE_LIMIT_CAPACITY": "1e12",
        "ANONYMOUS_RATE_LIMIT_RESTORE_RATE": "1e6",
        "RATE_LIMIT_CAPACITY": "1e12",
        "RATE_LIMIT_RESTORE_RATE": "1e6",
        **dict(item.split("=", 1) for item in args.tcgraph_env),
    }
    # The service's app; bench/gc_variants.py only adds a GC counter and, with --gc, replaces the
    # service's GC set-up after start-up.
    factory = "bench.gc_variants:app_from_environment"
    gc_stats = logs / f"gc-{port}"
    gc_stats.mkdir(exist_ok=True)
    env |= {"BENCH_GC": args.gc, "BENCH_GC_STATS": str(gc_stats)}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--backlog",
        "4096",
        "--no-proxy-headers",  # as the image runs it (Dockerfile): the app decides whom to believe
    ]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    log = logs / f"tcgraph-{port}.log"
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return Server("tcgraph", port, process, log, "tcgraph", gc_stats)


def start_peer(url: str, port: int, logs: Path, workers: int = 1) -> Server:
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgres").render_as_string(hide_password=False)
    dsn += "?sslmode=disable&application_name=postgraphile"
    command = [
        shutil.which("node") or "node",
        str(POSTGRAPHILE_CLI),
        "--connection",
        dsn,
        "--schema",
        "peer",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-default-mutations",
        "--disable-query-log",
        "--no-setof-functions-contain-nulls",
        "--max-pool-size",
        "10",
    ]
    if workers > 1:  # PostGraphile 4's (experimental) cluster mode: node's cluster module, one pool per worker
        command += ["--cluster-workers", str(workers)]
    log = logs / f"postgraphile-{port}.log"
    env = {**os.environ, "NODE_ENV": "production"}
    process = subprocess.Popen(command, cwd=PEER_DIR, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return Server("PostGraphile", port, process, log, "postgraphile")


async def wait_ready(server: Server, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                response = await client.post(server.url, json={"query": "{ __typename }"})
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise SystemExit(f"{server.name} on :{server.port} did not start:\n{server.log.read_text()[-3000:]}")
            await asyncio.sleep(0.3)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# -------------------------------------------------------------------------------------- content


def raw_id(global_id: str) -> int:
    padded = global_id + "=" * (-len(global_id) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])


def tcgraph_content(data: dict) -> list[tuple]:
    def offer(o: dict | None) -> tuple | None:
        return None if o is None else (raw_id(o["id"]), o.get("title") or o.get("name"))

    return [
        (
            raw_id(n["id"]),
            n["title"],
            n["status"],
            n["state"]["code"],
            n["state"]["name"],
            [(raw_id(r["node"]["id"]), r["node"]["text"]) for r in n["recommendations"]["edges"]],
            [
                (
                    raw_id(m["id"]),
                    round(m["score"], 9),
                    m["offerKind"],
                    offer(m["programme"]),
                    offer(m["capability"]),
                    offer(m["organization"]),
                )
                for m in (e["node"] for e in n["matches"]["edges"])
            ],
        )
        for n in (e["node"] for e in data["needs"]["edges"])
    ]


def peer_content(data: dict) -> list[tuple]:
    def offer(o: dict | None) -> tuple | None:
        return None if o is None else (int(o["id"]), o.get("title") or o.get("name"))

    return [
        (
            int(n["id"]),
            n["title"],
            n["status"],
            n["stateByStateIso3"]["iso3"],
            n["stateByStateIso3"]["nameEn"],
            [
                (int(r["recommendationByRecommendationId"]["id"]), r["recommendationByRecommendationId"]["text"])
                for r in n["needRecommendationsByNeedId"]["nodes"]
            ],
            [
                (
                    int(m["id"]),
                    round(m["score"], 9),
                    m["offerKind"],
                    offer(m["programmeByProgrammeId"]),
                    offer(m["capabilityByCapabilityId"]),
                    offer(m["organizationByOrganizationId"]),
                )
                for m in n["matchesByNeedId"]["nodes"]
            ],
        )
        for n in data["allNeeds"]["nodes"]
    ]


async def post(client: httpx.AsyncClient, url: str, query: str, variables: dict | None = None) -> dict:
    response = await client.post(url, json={"query": query, "variables": variables or {}})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"{url} answered {response.status_code}: {json.dumps(body)[:2000]}")
    return body["data"]


async def node_ids(url: str, seed: int) -> list[tuple[int, str, str]]:
    """(need id, tcgraph global ID, PostGraphile node ID) of NODE_SAMPLE random PUBLIC needs."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        ids = [
            r["id"] for r in await conn.fetch("select id from assistance_need where visibility = 'PUBLIC' order by id")
        ]
    finally:
        await conn.close()
    picked = random.Random(seed).sample(ids, min(NODE_SAMPLE, len(ids)))
    return [
        (
            i,
            base64.urlsafe_b64encode(f"Need:{i}".encode()).decode().rstrip("="),
            base64.b64encode(json.dumps(["needs", i], separators=(",", ":")).encode()).decode(),
        )
        for i in picked
    ]


async def check_same_content(tcgraph: Server, peer: Server, nodes: list[tuple[int, str, str]]) -> str:
    async with httpx.AsyncClient(timeout=60) as client:
        ours = tcgraph_content(await post(client, tcgraph.url, TCGRAPH_PAGE))
        theirs = peer_content(await post(client, peer.url, PEER_PAGE))
        if ours != theirs:
            for a, b in zip(ours, theirs):
                if a != b:
                    raise SystemExit(f"the pages differ; first difference:\n tcgraph {a}\n peer    {b}")
            raise SystemExit(f"the pages differ in length: tcgraph {len(ours)} needs, peer {len(theirs)}")
        for need_id, ours_id, theirs_id in nodes[:20]:
            a = (await post(client, tcgraph.url, TCGRAPH_NODE, {"id": ours_id}))["node"]
            b = (await post(client, peer.url, PEER_NODE, {"id": theirs_id}))["node"]
            if b is None or (raw_id(a["id"]), a["title"], a["state"]["code"]) != (
                int(b["id"]),
                b["title"],
                b["stateByStateIso3"]["iso3"],
            ):
                raise SystemExit(f"node({need_id}) differs:\n tcgraph {a}\n peer    {b}")
    recs = sum(len(n[5]) for n in ours)
    matches = sum(len(n[6]) for n in ours)
    return f"same content: {len(ours)} needs, {recs} recommendations, {matches} matches; node(id) of 20 needs"


def persisted(body: dict) -> dict:
    """The body with the query's SHA-256 in place of its text (automatic persisted queries)."""
    sha256 = hashlib.sha256(body["query"].encode()).hexdigest()
    return {k: v for k, v in body.items() if k != "query"} | {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    }


async def store_persisted(server: Server, bodies: list[dict]) -> None:
    """Send each text once with its hash, so that the hash alone runs it from then on."""
    async with httpx.AsyncClient(timeout=60) as client:
        for body in {b["query"]: b for b in bodies}.values():
            response = await client.post(server.url, json=body | persisted(body))
            if response.status_code != 200 or response.json().get("errors"):
                raise SystemExit(f"storing a persisted query failed: {response.text[:500]}")


async def count_statements(
    proxies: dict[str, CountingProxy], servers: dict[str, Server], bodies: dict[str, list[dict]], requests: int
) -> dict[str, tuple[float, float, list[str]]]:
    """Statements and new connections per request at concurrency 1 (after a warm-up), and the
    statements of the last request."""
    counts = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for key, server in servers.items():
            proxy = proxies[key]
            for i in range(10):
                await client.post(server.url, json=bodies[key][i % len(bodies[key])])
            statements, connections = proxy.statements, proxy.connections
            for i in range(requests):
                before = len(proxy.texts)
                await client.post(server.url, json=bodies[key][i % len(bodies[key])])
            last = proxy.texts[before:]
            counts[key] = (
                (proxy.statements - statements) / requests,
                (proxy.connections - connections) / requests,
                last,
            )
    return counts


# -------------------------------------------------------------------------------------- wrk

WRK_SCRIPT = """
local bodies = {%(bodies)s}
local count = #bodies
local index = 0
errors = 0
sent = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) index = math.random(count) - 1 end
function request()
  index = index %% count + 1
  sent = sent + 1
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json"}, bodies[index])
end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then errors = errors + 1 end
end
function done(summary, latency, requests)
  local failed, sent = 0, 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("errors")
    sent = sent + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "sent": %%d, "duration_us": %%d, "p50_us": %%.0f, "p99_us": %%.0f, "max_us": %%.0f, ' ..
    '"failed": %%d, "socket_errors": %%d}\\n', summary.requests, sent, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max, failed, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def write_wrk_script(directory: Path, name: str, bodies: list[dict]) -> Path:
    path = directory / f"{name}.lua"
    path.write_text(WRK_SCRIPT % {"bodies": ",\n".join(lua_string(json.dumps(b)) for b in bodies)})
    return path


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    pg_cpu_ms: float
    sessions: float
    rss_mb: float
    failed: int
    load: float
    gc_ms: float = 0.0  # CPU ms per request spent in the cyclic GC (tcgraph only)
    gc_full: int = 0  # collections of the oldest generation during the run
    served: float = 0.0  # requests sent ÷ (window + drain): all of them computed in that time
    drain: float = 0.0  # seconds the server took to finish the requests in flight when wrk stopped


async def pg_counters(url: str, application_name: str) -> tuple[int, dict[int, float]]:
    """(sessions opened on the database so far, CPU seconds per live backend of the server)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        sessions = await conn.fetchval("select sessions from pg_stat_database where datname = current_database()")
        pids = [
            r["pid"]
            for r in await conn.fetch(
                "select pid from pg_stat_activity where datname = current_database() and application_name = $1",
                application_name,
            )
        ]
    finally:
        await conn.close()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError):
            pass
    return sessions, cpu


SETTLE_PROBE = 0.2  # seconds


async def settle(server: Server, timeout: float = 120) -> float:
    """Wait until the server is idle: when wrk stops, the requests it had in flight go on
    being computed (neither server cancels a request whose client left), and a slow page's 16
    abandoned requests would otherwise run into the next window (measured: a page that serves
    6 req/s then completed none in a 10 s window on a loaded machine)."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        before = server.cpu_seconds()
        await asyncio.sleep(SETTLE_PROBE)
        if server.cpu_seconds() - before < SETTLE_PROBE / 10:  # under 10 % of a CPU: idle but for housekeeping
            break
    return max(0.0, time.monotonic() - started - SETTLE_PROBE)  # how long the abandoned requests took


async def run_wrk(server: Server, script: Path, url: str, seconds: float, connections: int, threads: int) -> Run:
    """One wrk run, then the server's drain (the requests in flight when wrk stopped): each
    request wrk sent is computed in full by the end of the drain, so CPU (the server's, its
    PostgreSQL backends', the GC's) is divided by requests *sent*, and `served` is sent ÷
    (window + drain). wrk's own req/s counts the responses inside the window only: for a page
    whose 16 concurrent requests take longer than the window it is 0 or 16 ÷ window."""
    command = [
        "wrk",
        f"-c{connections}",
        f"-t{threads}",
        f"-d{seconds:.0f}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        f"http://127.0.0.1:{server.port}/graphql",
    ]
    sessions0, pg0 = await pg_counters(url, server.application_name)
    cpu0 = server.cpu_seconds()
    gc0 = server.gc_totals()
    load = os.getloadavg()[0]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    drain = await settle(server)
    cpu = server.cpu_seconds() - cpu0
    await asyncio.sleep(0.6)  # the GC counters are written twice a second
    gc1 = server.gc_totals()
    sessions1, pg1 = await pg_counters(url, server.application_name)
    text = out.decode()
    found = re.search(r"^WRK (\{.*\})$", text, re.M)
    if process.returncode != 0 or not found:
        raise SystemExit(f"wrk failed:\n{text}")
    result = json.loads(found.group(1))
    window = result["duration_us"] / 1e6
    sent = max(result["sent"], 1)
    pg_cpu = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
    return Run(
        rps=result["requests"] / window,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        # The second pg_counters connection is one of the sessions counted: not the server's.
        cpu_ms=cpu * 1000 / sent,
        pg_cpu_ms=pg_cpu * 1000 / sent,
        sessions=(sessions1 - sessions0 - 1) / sent,
        rss_mb=server.rss_mb(),
        failed=result["failed"] + result["socket_errors"],
        load=load,
        gc_ms=(gc1[0] - gc0[0]) / sent,
        gc_full=gc1[1] - gc0[1],
        served=result["sent"] / (window + drain),
        drain=drain,
    )


# -------------------------------------------------------------------------------------- the run


def median(runs: list[Run], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in runs)


def report(
    page: str,
    runs: dict[str, list[Run]],
    statements: dict[str, tuple[float, float, list[str]]],
    rss_start: dict[str, float],
) -> list[str]:
    """Medians of the runs per server, and three ratios tcgraph ÷ PostGraphile: wrk's req/s,
    served/s paired by rep (each rep's two runs are back to back, so they share the machine's
    load of the moment), and CPU per request (the server's + its PostgreSQL backends'), which
    depends least on how much of a shared machine each server got."""
    lines = [
        f"\n{page}: median of {len(runs['tcgraph'])} alternating runs (CPU per request sent, all computed by the drain's end)"
    ]
    header = (
        f"{'':14}{'req/s':>8}{'served/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'PG CPU ms/req':>15}"
        f"{'stmts/req':>11}{'new PG conn/req':>17}{'RSS MB':>9}"
    )
    lines.append(header)
    for key, label in (("tcgraph", "tcgraph"), ("peer", "PostGraphile")):
        r = runs[key]
        lines.append(
            f"{label:14}{median(r, 'rps'):8.1f}{median(r, 'served'):10.2f}{median(r, 'p50_ms'):9.1f}{median(r, 'p99_ms'):9.1f}"
            f"{median(r, 'cpu_ms'):12.2f}{median(r, 'pg_cpu_ms'):15.2f}{statements[key][0]:11.1f}"
            f"{median(r, 'sessions'):17.3f}{r[-1].rss_mb:9.0f}"
        )
        lines.append(
            "      runs: "
            + ", ".join(f"{x.served:.1f} ({x.p50_ms:.0f}/{x.p99_ms:.0f})" for x in r)
            + f"; load average {min(x.load for x in r):.1f}–{max(x.load for x in r):.1f}"
            + f"; RSS {rss_start[key]:.0f} MB after start-up, {r[0].rss_mb:.0f} → {r[-1].rss_mb:.0f} MB "
            "after the first and last run"
        )
    ours, theirs = runs["tcgraph"], runs["peer"]
    lines.append(
        f"tcgraph's cyclic GC: {median(ours, 'gc_ms'):.2f} CPU ms per request ("
        + ", ".join(f"{x.gc_ms:.2f}" for x in ours)
        + f"), {sum(x.gc_full for x in ours)} full collections in all runs"
    )
    paired = [a.served / b.served for a, b in zip(ours, theirs) if b.served]
    cpu = (median(theirs, "cpu_ms") + median(theirs, "pg_cpu_ms")) / (
        median(ours, "cpu_ms") + median(ours, "pg_cpu_ms")
    )
    lines.append(
        "ratio tcgraph ÷ PostGraphile: served/s paired by rep "
        + ", ".join(f"{x:.3f}" for x in paired)
        + f", median {statistics.median(paired):.3f}×; "
        f"wrk req/s {median(ours, 'rps') / max(median(theirs, 'rps'), 1e-9):.3f}×; "
        f"CPU per request (server + PG) {cpu:.3f}×; "
        f"p99 {median(ours, 'p99_ms'):.0f} vs {median(theirs, 'p99_ms'):.0f} ms"
    )
    failed = {k: sum(x.failed for x in v) for k, v in runs.items()}
    if any(failed.values()):
        lines.append(f"FAILED requests (HTTP or GraphQL errors, socket errors): {failed}")
    return lines


async def main_async(args: argparse.Namespace) -> int:
    if not POSTGRAPHILE_CLI.exists():
        raise SystemExit(f"PostGraphile is not installed: run `(cd {PEER_DIR.relative_to(PROJECT_ROOT)} && npm ci)`")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (e.g. `apt-get install -y wrk`)")
    print(machine_description(with_load=True), flush=True)
    url = await ensure_dataset(args)
    logs = Path(tempfile.mkdtemp(prefix="tcgraph-peer-"))
    try:
        return await measure(args, url, logs)
    finally:
        if args.keep_logs:
            print(f"logs and wrk scripts in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)


async def measure(args: argparse.Namespace, url: str, logs: Path) -> int:
    """Steps 3 to 5 of the module's description."""
    nodes = await node_ids(url, args.seed)
    bodies = {
        "page": {"tcgraph": [{"query": TCGRAPH_PAGE}], "peer": [{"query": PEER_PAGE}]},
        "node": {
            "tcgraph": [{"query": TCGRAPH_NODE, "variables": {"id": ours}} for _, ours, _ in nodes],
            "peer": [{"query": PEER_NODE, "variables": {"id": theirs}} for _, _, theirs in nodes],
        },
    }
    pages = [p for p in ("page", "node") if p in args.pages]
    sent = {page: dict(bodies[page]) for page in pages}  # what wrk and the counting send
    if args.persisted:  # tcgraph gets the hash only (stored first by store_persisted)
        for page in pages:
            sent[page]["tcgraph"] = [persisted(b) for b in bodies[page]["tcgraph"]]

    # 1. Content and statements, through the counting proxies.
    from sqlalchemy.engine import make_url

    upstream = make_url(url)
    proxies = {key: CountingProxy((upstream.host or "127.0.0.1", upstream.port or 5432)) for key in ("tcgraph", "peer")}
    await proxies["tcgraph"].start(args.port + 1)
    await proxies["peer"].start(args.peer_port + 1)
    proxied = {
        key: upstream.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        for key, port in (("tcgraph", args.port + 1), ("peer", args.peer_port + 1))
    }
    servers = {
        "tcgraph": start_tcgraph(args, proxied["tcgraph"] + "?ssl=disable", args.port, logs),
        "peer": start_peer(proxied["peer"], args.peer_port, logs, args.peer_workers),
    }
    statements: dict[str, dict[str, tuple[float, float, list[str]]]] = {}
    try:
        await asyncio.gather(*(wait_ready(s) for s in servers.values()))
        print(await check_same_content(servers["tcgraph"], servers["peer"], nodes), flush=True)
        for page in pages:
            if args.persisted:
                await store_persisted(servers["tcgraph"], bodies[page]["tcgraph"])
            statements[page] = await count_statements(proxies, servers, sent[page], args.count_requests)
            for key, (per_request, connections, last) in statements[page].items():
                print(
                    f"{page} on {servers[key].name}: {per_request:.1f} statements and {connections:.2f} connections opened "
                    f"per request at concurrency 1",
                    flush=True,
                )
                if args.show_statements:
                    for text in last:
                        print("    " + " ".join(text.split())[:160])
    finally:
        for server in servers.values():
            stop(server)
        for proxy in proxies.values():
            await proxy.stop()

    # 2. Throughput, alternating, without the proxies.
    servers = {
        "tcgraph": start_tcgraph(args, url, args.port, logs),
        "peer": start_peer(url, args.peer_port, logs, args.peer_workers),
    }
    lines = [
        machine_description(with_load=True),
        f"data set: {args.needs:,} needs (suggestions by {suggestions_mode(args)}); tcgraph: {args.workers} uvicorn "
        f"process(es), GC {args.gc}"
        + (f", {' '.join(args.tcgraph_env)}" if args.tcgraph_env else "")
        + "; PostGraphile 4.14.1: "
        + (f"{args.peer_workers} cluster workers; " if args.peer_workers > 1 else "one node process; ")
        + f"wrk -c{args.connections} -t{args.threads}, {args.duration:.0f} s per run after {args.warmup:.0f} s of warm-up"
        + ("; tcgraph gets persisted queries' hashes" if args.persisted else ""),
    ]
    try:
        await asyncio.gather(*(wait_ready(s) for s in servers.values()))
        rss_start = {key: server.rss_mb() for key, server in servers.items()}
        for page in pages:
            scripts = {key: write_wrk_script(logs, f"{page}-{key}", sent[page][key]) for key in servers}
            for key, server in servers.items():
                await run_wrk(server, scripts[key], url, args.warmup, args.connections, args.threads)
            runs: dict[str, list[Run]] = {"tcgraph": [], "peer": []}
            for rep in range(args.reps):
                order = ("tcgraph", "peer") if rep % 2 == 0 else ("peer", "tcgraph")
                for key in order:
                    run = await run_wrk(servers[key], scripts[key], url, args.duration, args.connections, args.threads)
                    runs[key].append(run)
                    print(
                        f"  {page} {servers[key].name:12} rep {rep + 1}: {run.rps:7.1f} req/s ({run.served:.2f} served/s, "
                        f"drain {run.drain:.1f} s), p50 {run.p50_ms:6.1f} ms, "
                        f"p99 {run.p99_ms:6.1f} ms, CPU {run.cpu_ms:.2f} ms/req, PG CPU {run.pg_cpu_ms:.2f} ms/req, "
                        f"{run.sessions:.3f} new PG sessions/req, RSS {run.rss_mb:.0f} MB, failed {run.failed}, "
                        + (f"GC {run.gc_ms:.2f} ms/req ({run.gc_full} full), " if servers[key].gc_stats else "")
                        + f"load {run.load:.1f}",
                        flush=True,
                    )
            lines += report(page, runs, statements[page], rss_start)
    finally:
        for server in servers.values():
            stop(server)
    print("\n" + "\n".join(lines))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--needs",
        type=int,
        default=10_000,
        help="data set size (programmes: half, capabilities: a tenth, at most 5,000 and 1,000)",
    )
    parser.add_argument("--server-url", default=DEFAULT_SERVER, help="maintenance database of the PostgreSQL server")
    parser.add_argument("--rebuild", action="store_true", help="build the data set again even if present")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pages", nargs="+", choices=["page", "node"], default=["page", "node"])
    parser.add_argument("--reps", type=int, default=3, help="alternating runs per server and page")
    parser.add_argument("--duration", type=float, default=15, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per server and page")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes serving tcgraph")
    parser.add_argument(
        "--peer-workers",
        type=int,
        default=1,
        help="PostGraphile processes (its --cluster-workers when 2 or more; default one process)",
    )
    parser.add_argument(
        "--gc",
        default="service",
        choices=["service", "none", "freeze", "nofreeze", "t10k", "t200k", "off"],
        help="tcgraph's GC set-up after start-up (bench/gc_variants.py; service: as the service does)",
    )
    parser.add_argument(
        "--suggestions",
        default="auto",
        choices=["auto", "rematch", "sql"],
        help=f"how the data set's match suggestions are made (auto: the engine's full rematch up to "
        f"{REMATCH_UP_TO:,} needs, one set-based INSERT beyond)",
    )
    parser.add_argument("--port", type=int, default=8160, help="tcgraph (its counting proxy: port + 1)")
    parser.add_argument("--peer-port", type=int, default=8165, help="PostGraphile (its counting proxy: port + 1)")
    parser.add_argument("--count-requests", type=int, default=20, help="requests whose statements are counted")
    parser.add_argument("--show-statements", action="store_true", help="print the statements of one request")
    parser.add_argument(
        "--tcgraph-env", nargs="+", action="extend", default=[], metavar="NAME=VALUE", help="extra settings for tcgraph"
    )
    parser.add_argument(
        "--persisted", action="store_true", help="send tcgraph the queries' SHA-256 only (automatic persisted queries)"
    )
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import signal

    def terminated(*_: object) -> None:  # so that the servers are stopped (finally blocks) on SIGTERM too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
