"""Benchmark: `tcgraph export needs` streams in bounded memory.

Creates a scratch database with N needs (default 50,000), then runs the real CLI export
(CSV and JSON) as a child process at two sizes and prints rows, seconds and the child's
peak resident memory: flat memory across sizes is the point.

    .venv/bin/python bench/export_needs.py [--rows 50000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dev_url() -> str:
    out = subprocess.run([str(ROOT / ".venv/bin/tcgraph"), "db", "url"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("no --database-url and the embedded server is not running (tcgraph db start)")
    return out.stdout.strip()


async def prepare(server_url: str, name: str, rows: int) -> tuple[str, str]:
    from service.access.keys import create_api_key
    from service.access.principals import SYSTEM, Role
    from service.db import migrate
    from service.db.engine import make_engine, make_sessionmaker
    from service.reference.load import load_reference

    admin_dsn = (
        make_url(server_url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'drop database if exists "{name}" with (force)')
    await conn.execute(f'create database "{name}"')
    await conn.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await load_reference(session)
        key = (await create_api_key(session=session, actor=SYSTEM, role=Role.ADMINISTRATOR, label="bench")).key
        states = (await session.execute(sa.text("select iso3 from state order by iso3"))).scalars().all()
    await engine.dispose()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    records = [
        (
            states[i % len(states)],
            f"Need {i}: court case management and judicial training",
            "Support is requested for the roll-out of case management to county courts, registrar training "
            "and the reduction of pre-trial detention. " * 3,
            ["JUSTICE"],
            ["15130"],
            ["16.3"],
            "SUBMITTED",
            ("PUBLIC", "PARTNERS", "PRIVATE")[i % 3],
        )
        for i in range(rows)
    ]
    await conn.copy_records_to_table(
        "assistance_need",
        records=records,
        columns=["state_iso3", "title", "description", "themes", "sectors", "sdg_targets", "status", "visibility"],
    )
    await conn.close()
    return url, key


def run_export(url: str, key: str, fmt: str, limit_filter: str | None) -> tuple[float, int, float]:
    env = {**os.environ, "DATABASE_URL": url}
    args = [
        str(ROOT / ".venv/bin/tcgraph"),
        "export",
        "needs",
        "--format",
        fmt,
        "--api-key",
        key,
        "--output",
        os.devnull,
    ]
    if limit_filter:
        args += ["--filter", limit_filter]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(result.stderr)
    count = int(result.stderr.strip().split()[-2])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, count, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    server = args.database_url or dev_url()
    name = f"tcgraph_bench_export_{os.getpid()}"
    url, key = asyncio.run(prepare(server, name, args.rows))
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print(f"machine: {os.cpu_count()} CPU(s), {cpu}; Python {platform.python_version()}")
        # A small export first (peak RSS of children is a running maximum).
        small_state = "states=KEN"
        for fmt in ("csv", "json"):
            seconds, count, peak = run_export(url, key, fmt, small_state)
            print(f"{fmt:4} {count:>7} rows  {seconds:6.2f} s  peak RSS so far {peak:6.1f} MB  (one State)")
        for fmt in ("csv", "json"):
            seconds, count, peak = run_export(url, key, fmt, None)
            print(f"{fmt:4} {count:>7} rows  {seconds:6.2f} s  {count / seconds:8,.0f} rows/s  peak RSS {peak:6.1f} MB")
    finally:

        async def drop() -> None:
            dsn = (
                make_url(server).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
            )
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'drop database if exists "{name}" with (force)')
            await conn.close()

        asyncio.run(drop())


if __name__ == "__main__":
    main()
