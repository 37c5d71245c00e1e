"""Benchmark (not a test): throughput and latency of the canonical needs page.

Sends the canonical page query from `--concurrency` connections (16 by default) to a
running service for `--duration` seconds after a `--warmup`, and prints req/s and the p50,
p90, p99 and max latencies, with the machine they were measured on.

    make run                                              # terminal 1
    .venv/bin/python bench/canonical_page.py --seed 100   # terminal 2
    .venv/bin/python bench/canonical_page.py --cleanup    # remove the seeded needs

The demo data has only 14 PUBLIC needs; `--seed N` first tops the database up to N extra
PUBLIC needs (titles start with "[bench]"), each linked to 3 existing recommendations, so
the page returns its full 50 needs. `--cleanup` deletes them again.

The service rate-limits by query cost (this query costs ~1000 points; anonymous callers
get 100 points/s). Raise the limits for the server you benchmark, e.g.
ANONYMOUS_RATE_LIMIT_CAPACITY=1e12 ANONYMOUS_RATE_LIMIT_RESTORE_RATE=1e12 make run
(RATE_LIMIT_CAPACITY / RATE_LIMIT_RESTORE_RATE when benchmarking with --token).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # `service` when run from a checkout without install
from bench.common import dev_database_url, machine_description  # noqa: E402

BENCH_PREFIX = "[bench]"
CANONICAL_QUERY = (
    "query Canonical { needs(first: 50) { totalCount edges { node { id title status "
    "state { code name } recommendations(first: 3) { edges { node { id text "
    "recommendingStates(first: 5) { edges { node { code name } } } } } } } } } }"
)
_ERRORS_KEY = re.compile(rb'"errors"\s*:')


# ----------------------------------------------------------------------------- the machine


# ----------------------------------------------------------------------------- seeding


async def seed(database_url: str, wanted: int) -> None:
    """Top the database up to `wanted` [bench] PUBLIC needs, each linked to 3 recommendations
    of its State (existing ones; States with recommending States first)."""
    import sqlalchemy as sa

    from service.db.engine import make_engine, make_sessionmaker
    from service.db.url import normalise_url
    from service.models import AssistanceNeed, NeedRecommendation, Recommendation, RecommendationRecommender
    from service.models.enums import NeedStatus, Visibility

    engine = make_engine(normalise_url(database_url), pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            existing = (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(AssistanceNeed)
                    .where(AssistanceNeed.title.startswith(BENCH_PREFIX, autoescape=True))
                )
            ).scalar_one()
            missing = wanted - existing
            if missing <= 0:
                print(f"seed: {existing} {BENCH_PREFIX} needs already present (wanted {wanted})")
                return
            recommenders = (
                sa.select(sa.func.count())
                .where(RecommendationRecommender.recommendation_id == Recommendation.id)
                .scalar_subquery()
            )
            rows = (
                await session.execute(
                    sa.select(Recommendation.id, Recommendation.state_iso3, Recommendation.themes).order_by(
                        Recommendation.state_iso3, recommenders.desc(), Recommendation.id
                    )
                )
            ).all()
            by_state: dict[str, list[tuple[int, list[str]]]] = {}
            for rec_id, iso3, themes in rows:
                by_state.setdefault(iso3, []).append((rec_id, list(themes or [])))
            states = sorted(iso3 for iso3, recs in by_state.items() if len(recs) >= 3)
            if not states:
                raise SystemExit(
                    "seed: no State has 3 recommendations in this database; load the demo data "
                    "first (`.venv/bin/tcgraph load-demo`, or `make run`)."
                )
            now = datetime.now(UTC)
            needs = []
            for i in range(missing):
                iso3 = states[i % len(states)]
                number = existing + i + 1
                needs.append(
                    AssistanceNeed(
                        state_iso3=iso3,
                        title=f"{BENCH_PREFIX} Benchmark need {number} ({iso3})",
                        description="Synthetic need inserted by bench/canonical_page.py --seed.",
                        themes=by_state[iso3][0][1][:2],
                        status=NeedStatus.SUBMITTED,
                        visibility=Visibility.PUBLIC,
                        submitted_at=now,
                    )
                )
            session.add_all(needs)
            await session.flush()
            links = []
            for i, need in enumerate(needs):
                recs = by_state[need.state_iso3]
                start = (i // len(states)) % len(recs)
                chosen = {recs[(start + k) % len(recs)][0] for k in range(3)}
                links.extend(NeedRecommendation(need_id=need.id, recommendation_id=r) for r in chosen)
            session.add_all(links)
            await session.flush()
        async with engine.connect() as conn:  # fresh statistics for the planner
            await conn.execute(sa.text("analyze assistance_need"))
            await conn.execute(sa.text("analyze need_recommendation"))
        print(
            f"seed: inserted {missing} {BENCH_PREFIX} PUBLIC needs ({len(links)} recommendation links) "
            f"over {len(states)} States; {wanted} present now"
        )
    finally:
        await engine.dispose()


async def cleanup(database_url: str) -> None:
    import sqlalchemy as sa

    from service.db.engine import make_engine, make_sessionmaker
    from service.db.url import normalise_url
    from service.models import AssistanceNeed

    engine = make_engine(normalise_url(database_url), pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            # need_recommendation, need_stakeholder, need_pledge rows go with ON DELETE CASCADE
            result = await session.execute(
                sa.delete(AssistanceNeed).where(AssistanceNeed.title.startswith(BENCH_PREFIX, autoescape=True))
            )
        print(f"cleanup: deleted {result.rowcount} {BENCH_PREFIX} needs")
    finally:
        await engine.dispose()


# ----------------------------------------------------------------------------- load


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    failures: int = 0
    failure_samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.failures += 1
        if len(self.failure_samples) < 3:
            self.failure_samples.append(what[:300])


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n*p/100)
    return sorted_values[int(rank) - 1]


async def worker(client: httpx.AsyncClient, url: str, body: bytes, deadline: float, stats: Stats) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            response = await client.post(url, content=body)
            content = response.content
        except httpx.HTTPError as exc:
            stats.fail(f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or _ERRORS_KEY.search(content):
            stats.fail(f"HTTP {response.status_code}: {content[:300].decode(errors='replace')}")
        else:
            stats.latencies.append(elapsed)


async def run_phase(
    client: httpx.AsyncClient, url: str, body: bytes, concurrency: int, seconds: float
) -> tuple[Stats, float]:
    stats = Stats()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(worker(client, url, body, deadline, stats) for _ in range(concurrency)))
    return stats, time.perf_counter() - started


async def benchmark(args: argparse.Namespace) -> int:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"
    body = json.dumps({"query": CANONICAL_QUERY, "operationName": "Canonical"}).encode()
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(args.timeout)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:
        # First response: must be a clean page.
        try:
            first = await client.post(args.url, content=body)
        except httpx.HTTPError as exc:
            print(f"cannot reach {args.url}: {exc} (is the service running? `make run`)", file=sys.stderr)
            return 2
        try:
            payload = first.json()
        except ValueError:
            print(f"HTTP {first.status_code}, not JSON: {first.text[:500]}", file=sys.stderr)
            return 2
        if first.status_code != 200 or payload.get("errors"):
            print(f"the first response has errors (HTTP {first.status_code}):", file=sys.stderr)
            print(json.dumps(payload.get("errors", payload), indent=2)[:2000], file=sys.stderr)
            return 2
        page = payload["data"]["needs"]
        edges = page["edges"]
        rec_count = sum(len(e["node"]["recommendations"]["edges"]) for e in edges)
        rs_count = sum(
            len(r["node"]["recommendingStates"]["edges"]) for e in edges for r in e["node"]["recommendations"]["edges"]
        )
        print(
            f"page: {len(edges)} needs returned (totalCount {page['totalCount']}), "
            f"{rec_count} recommendations, {rs_count} recommending States; "
            f"{len(first.content):,} bytes"
        )
        cost = (payload.get("extensions") or {}).get("cost") or {}
        throttle = cost.get("throttleStatus") or {}
        if cost.get("requestedQueryCost") and throttle.get("restoreRate") is not None:
            sustainable = throttle["restoreRate"] / cost["requestedQueryCost"]
            print(
                f"cost: {cost['requestedQueryCost']} points requested; the server restores "
                f"{throttle['restoreRate']:g} points/s (≈ {sustainable:,.1f} req/s sustained)"
            )
            if sustainable < 100_000:
                print(
                    "warning: the rate limit will throttle this benchmark; restart the server with "
                    "ANONYMOUS_RATE_LIMIT_CAPACITY=1e12 ANONYMOUS_RATE_LIMIT_RESTORE_RATE=1e12 "
                    "(RATE_LIMIT_* with --token)",
                    file=sys.stderr,
                )

        if args.warmup > 0:
            warm, warm_elapsed = await run_phase(client, args.url, body, args.concurrency, args.warmup)
            print(f"warm-up: {len(warm.latencies)} requests in {warm_elapsed:.1f} s (discarded)")

        stats, elapsed = await run_phase(client, args.url, body, args.concurrency, args.duration)

    ok = sorted(stats.latencies)
    ms = 1000.0
    print()
    print(machine_description())
    print(f"target: {args.url}  concurrency {args.concurrency}  duration {elapsed:.1f} s")
    print(f"requests: {len(ok)} ok, {stats.failures} failed")
    if ok:
        print(f"throughput: {len(ok) / elapsed:,.1f} req/s")
        print(
            f"latency: p50 {percentile(ok, 50) * ms:.1f} ms  p90 {percentile(ok, 90) * ms:.1f} ms  "
            f"p99 {percentile(ok, 99) * ms:.1f} ms  max {ok[-1] * ms:.1f} ms  "
            f"mean {sum(ok) / len(ok) * ms:.1f} ms"
        )
    for sample in stats.failure_samples:
        print(f"failure: {sample}", file=sys.stderr)
    if stats.failures and any("RATE_LIMITED" in s for s in stats.failure_samples):
        print(
            "hint: requests were rate-limited; raise ANONYMOUS_RATE_LIMIT_* (or RATE_LIMIT_* "
            "with --token) on the server",
            file=sys.stderr,
        )
    return 1 if stats.failures or not ok else 0


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000/graphql", help="GraphQL endpoint (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections and workers (default %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds (default %(default)s)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of warm-up, not measured (default %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="per-request timeout in seconds (default %(default)s)"
    )
    parser.add_argument("--token", help="API key, sent as `Authorization: Bearer …` (default: anonymous)")
    parser.add_argument(
        "--seed", type=int, metavar="N", help=f"first top the database up to N {BENCH_PREFIX} PUBLIC needs"
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help=f"delete the {BENCH_PREFIX} needs and exit; with --seed, delete them after the run instead",
    )
    parser.add_argument(
        "--database-url",
        help="database for --seed/--cleanup (default: `.venv/bin/tcgraph db url`, the embedded one)",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--concurrency must be >= 1, --duration > 0 and --warmup >= 0")
    if args.seed is not None and args.seed < 0:
        parser.error("--seed must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    needs_database = args.seed is not None or args.cleanup
    database_url = (args.database_url or dev_database_url("--database-url")) if needs_database else None
    if args.cleanup and args.seed is None:
        asyncio.run(cleanup(database_url))
        return 0
    if args.seed is not None:
        asyncio.run(seed(database_url, args.seed))
    try:
        try:
            import uvloop

            return uvloop.run(benchmark(args))
        except ImportError:
            return asyncio.run(benchmark(args))
    finally:
        if args.cleanup:
            asyncio.run(cleanup(database_url))


if __name__ == "__main__":
    sys.exit(main())
