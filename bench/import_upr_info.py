"""Benchmark (not a test): the UPR Info importer on a synthetic 40,000-row export — rows/s of a
first import and of a re-import (everything unchanged).

Writes a file in UPR Info's export layout, Mac Roman with bare CR line endings like the real
one, by cycling through the rows of ../shared/data/upr-info/upr_info_sessions_1-5.csv: pass p
of the sample shifts each row's Session by 5·p and, from the second pass on, appends
"(variant p)" to the text, so every row is a distinct recommendation. Then imports it into a
fresh database (created on the server of --database-url, migrated, reference data loaded) in
one transaction, as `tcgraph import upr-info` does, imports it again, and drops the database.

    .venv/bin/python bench/import_upr_info.py                  # embedded server (tcgraph db start)
    .venv/bin/python bench/import_upr_info.py --rows 100000
    .venv/bin/python bench/import_upr_info.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

The target: 40,000 rows in under 30 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # `service` when run from a checkout without install

SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "upr-info" / "upr_info_sessions_1-5.csv"


def generate(path: Path, rows: int) -> int:
    """Write the synthetic file; returns the number of data rows."""
    from service.imports.upr_info import decode

    records = list(csv.reader(io.StringIO(decode(SAMPLE.read_bytes()))))
    header, sample = records[0], [r for r in records[1:] if r]
    text_col, session_col = header.index("Text"), header.index("Session")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r")
    writer.writerow(header)
    for i in range(rows):
        copy, row = divmod(i, len(sample))
        record = list(sample[row])
        record[session_col] = str(int(record[session_col]) + 5 * copy)
        if copy:
            record[text_col] = f"{record[text_col].rstrip()} (variant {copy})"
        writer.writerow(record)
    path.write_bytes(out.getvalue().encode("mac_roman"))
    return rows


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
    """One import in one committed transaction, as the CLI does; returns (report, seconds)."""
    from service.access.principals import SYSTEM
    from service.db.engine import make_engine, make_sessionmaker
    from service.imports.upr_info import import_upr_info

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            async with session.begin():
                report = await import_upr_info(session=session, principal=SYSTEM, files=[path])
            return report, time.perf_counter() - started
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--database-url", help="any database URL of the server to use (default: tcgraph db url)")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    if not SAMPLE.is_file():
        sys.exit(f"the UPR Info sample is not at {SAMPLE}")

    from sqlalchemy.engine import make_url

    from service.cli import _load_reference, _migrate
    from service.db.admin import ensure_database
    from service.db.url import normalise_url

    url = make_url(normalise_url(server_url(args.database_url))).set(database=f"tcgraph_bench_upr_{os.getpid()}")
    url_text = url.render_as_string(hide_password=False)
    directory = Path(tempfile.mkdtemp(prefix="tcgraph-bench-upr-"))
    path = directory / "synthetic_upr_info.csv"
    rows = generate(path, args.rows)
    print(f"file: {path} {path.stat().st_size / 1024 / 1024:.1f} MB, {rows} rows (Mac Roman, CR)")

    asyncio.run(drop_database(url_text))  # a leftover of an interrupted run with this pid
    asyncio.run(ensure_database(url_text))
    try:
        _migrate(url_text)
        _load_reference(url_text)
        for label in ("first import", "re-import"):
            report, seconds = asyncio.run(run_import(url_text, path))
            print(f"{label}: {report.summary()}")
            print(
                f"{label}: {report.read} rows in {seconds:.1f} s: {report.read / seconds:,.0f} rows/s; created {dict(report.created_by_type)}"
            )
            if report.rejected or report.unresolved_names:
                print(f"  rejected {report.rejected}, unresolved {dict(report.unresolved_names)}")
    finally:
        if not args.keep_database:
            asyncio.run(drop_database(url_text))
        shutil.rmtree(directory, ignore_errors=True)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
