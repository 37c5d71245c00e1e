"""Benchmark (not a test): the IATI importer on a large synthetic file — rate and peak memory.

Writes an IATI 2.03 file of about `--size-mb` MB (50 by default; the importer is meant to stay
under 300 MB resident on 200 MB) by repeating the 8 activities of the real DFID Albania file
(tests/imports/fixtures/dfid_albania_v201.xml) with unique identifiers, parent/child references
kept within each copy, and perturbed titles and amounts. Then imports it into a fresh database
(created on the server of --database-url, migrated, reference data loaded) in one transaction,
as `tcgraph import iati` does, and prints activities/s and the peak RSS of this process.

    .venv/bin/python bench/import_iati.py                 # 50 MB, embedded server (tcgraph db start)
    .venv/bin/python bench/import_iati.py --size-mb 200 --reimport
    .venv/bin/python bench/import_iati.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

The database (tcgraph_bench_iati_<pid>) and the file are removed afterwards unless
--keep-database / --keep-file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # `service` when run from a checkout without install

SOURCE = PROJECT_ROOT / "tests" / "imports" / "fixtures" / "dfid_albania_v201.xml"
ACTIVITY = re.compile(r"<iati-activity[ >].*?</iati-activity>", re.S)
TITLE = re.compile(r"(<title>\s*<narrative[^>]*>)([^<]*)")
AMOUNT = re.compile(r">(-?\d+)\.00</value>")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate(path: Path, size_mb: float) -> int:
    """Write the synthetic file; returns the number of activities."""
    activities = ACTIVITY.findall(SOURCE.read_text(encoding="utf-8"))
    target = int(size_mb * 1024 * 1024)
    written = count = copy = 0
    with path.open("w", encoding="utf-8") as out:
        head = '<?xml version="1.0" encoding="UTF-8"?>\n<iati-activities version="2.03" generated-datetime="2026-11-01T00:00:00Z">\n'
        out.write(head)
        written += len(head)
        while written < target:
            copy += 1
            factor = 1 + (copy % 7) / 10
            for text in activities:
                text = text.replace("GB-1-", f"GB-1-B{copy:06d}-")  # identifiers and related refs
                text = TITLE.sub(lambda m: f"{m.group(1)}{m.group(2)} (bench copy {copy})", text, count=1)
                text = AMOUNT.sub(lambda m: f">{int(int(m.group(1)) * factor)}.00</value>", text)
                out.write("  " + text + "\n")
                written += len(text) + 3
                count += 1
        out.write("</iati-activities>\n")
    return count


def server_url(given: str | None) -> str:
    if given:
        return given
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "tcgraph"), "db", "url"], capture_output=True, text=True
    )
    if result.returncode != 0 or not result.stdout.strip():
        sys.exit("no --database-url and the embedded PostgreSQL is not running (tcgraph db start)")
    return result.stdout.strip()


async def drop_database(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    from service.db.admin import _asyncpg_dsn

    conn = await asyncpg.connect(_asyncpg_dsn(url, "postgres"))
    try:
        await conn.execute(f'drop database if exists "{make_url(url).database}" with (force)')
    finally:
        await conn.close()


async def run_import(url: str, path: Path):
    from service.access.principals import SYSTEM
    from service.db.engine import make_engine, make_sessionmaker
    from service.imports.iati import import_iati

    engine = make_engine(url, pool_size=1, max_overflow=0)
    last = [0.0]

    def progress(done: int, total: int | None) -> None:
        if time.monotonic() - last[0] > 5:
            last[0] = time.monotonic()
            print(f"  {done}/{total} activities, peak RSS {peak_rss_mb():.0f} MB", file=sys.stderr)

    try:
        async with make_sessionmaker(engine)() as session:
            async with session.begin():
                return await import_iati(session=session, principal=SYSTEM, files=[path], progress=progress)
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50)
    parser.add_argument("--database-url", help="any database URL of the server to use (default: tcgraph db url)")
    parser.add_argument("--reimport", action="store_true", help="then import the same file again (all unchanged)")
    parser.add_argument("--keep-file", action="store_true")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    from service.cli import _load_reference, _migrate
    from service.db.admin import ensure_database
    from service.db.url import normalise_url

    url = make_url(normalise_url(server_url(args.database_url))).set(database=f"tcgraph_bench_iati_{os.getpid()}")
    url_text = url.render_as_string(hide_password=False)
    directory = Path(tempfile.mkdtemp(prefix="tcgraph-bench-iati-"))
    path = directory / "synthetic_iati_203.xml"

    started = time.perf_counter()
    activities = generate(path, args.size_mb)
    size = path.stat().st_size / 1024 / 1024
    print(f"file: {path} {size:.0f} MB, {activities} activities, written in {time.perf_counter() - started:.1f} s")

    asyncio.run(drop_database(url_text))  # a leftover of an interrupted run with this pid
    asyncio.run(ensure_database(url_text))
    try:
        _migrate(url_text)
        _load_reference(url_text)
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        report = asyncio.run(run_import(url_text, path))
        seconds = time.perf_counter() - started
        print(report.summary())
        print(
            f"imported {report.read} activities in {seconds:.1f} s: {report.read / seconds:,.0f} activities/s "
            f"({size / seconds:.1f} MB/s); peak RSS {peak_rss_mb():.0f} MB (before the import {rss_before:.0f} MB)"
        )
        if args.reimport:
            started = time.perf_counter()
            again = asyncio.run(run_import(url_text, path))
            seconds = time.perf_counter() - started
            print(f"re-import: {again.summary()}")
            print(
                f"re-imported in {seconds:.1f} s: {again.read / seconds:,.0f} activities/s; peak RSS {peak_rss_mb():.0f} MB"
            )
    finally:
        if not args.keep_database:
            asyncio.run(drop_database(url_text))
        else:
            print(f"database kept: {url.render_as_string(hide_password=True)}")
        if not args.keep_file:
            path.unlink(missing_ok=True)
            directory.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
