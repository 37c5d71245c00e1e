"""Benchmark (not a test): the UHRI importer on a large synthetic export — records/s of a first
import and of a re-import (everything unchanged), and the peak resident memory.

Writes a JSON array in the layout of the UHRI export by cycling through the fixture's valid
records (tests/imports/fixtures/uhri_export.json: UPR, treaty body, special procedure) with a
fresh AnnotationId each, texts made distinct and UPR sessions spread over 1–45, padded to the
real export's ~1.4 KB per record. Then imports it into a fresh database (created on the
server of --database-url, migrated, reference data loaded) in one transaction, as
`tcgraph import uhri` does, imports it again, and drops the database.

    .venv/bin/python bench/import_uhri.py                  # embedded server (tcgraph db start)
    .venv/bin/python bench/import_uhri.py --records 100000 --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

The real export holds ~260,000 records (~360 MB); memory should grow only by the few hundred
bytes a record the import keeps (AnnotationIds seen, events queued until the commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.import_upr_info import drop_database, server_url  # noqa: E402

FIXTURE = PROJECT_ROOT / "tests" / "imports" / "fixtures" / "uhri_export.json"
PADDING = " The State party should also report on the measures taken in its next periodic report." * 8


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate(path: Path, records: int) -> None:
    """Written record by record, so the generator's memory does not grow either."""
    sample = [r for r in json.loads(FIXTURE.read_text(encoding="utf-8"))[:5]]
    with path.open("w", encoding="utf-8") as f:
        f.write("[\n")
        for i in range(records):
            record = dict(sample[i % len(sample)])
            record["AnnotationId"] = str(uuid.UUID(int=i + 1))
            record["Text"] = f"{record['Text'].rstrip(';')} (variant {i}).{PADDING}"
            if record.get("UprSession"):
                record["UprSession"] = [str(1 + i % 45)]
            f.write(("," if i else "") + json.dumps(record, ensure_ascii=False) + "\n")
        f.write("]\n")


async def run_import(url: str, path: Path):
    from service.access.principals import SYSTEM
    from service.db.engine import make_engine, make_sessionmaker
    from service.imports.uhri import import_uhri

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            async with session.begin():
                report = await import_uhri(session=session, principal=SYSTEM, files=[path])
            return report, time.perf_counter() - started
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--database-url", help="any database URL of the server to use (default: tcgraph db url)")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    from service.cli import _load_reference, _migrate
    from service.db.admin import ensure_database
    from service.db.url import normalise_url

    url = make_url(normalise_url(server_url(args.database_url))).set(database=f"tcgraph_bench_uhri_{os.getpid()}")
    url_text = url.render_as_string(hide_password=False)
    directory = Path(tempfile.mkdtemp(prefix="tcgraph-bench-uhri-"))
    path = directory / "synthetic_uhri.json"
    generate(path, args.records)
    print(f"file: {path} {path.stat().st_size / 1024 / 1024:.1f} MB, {args.records} records")

    asyncio.run(drop_database(url_text))
    asyncio.run(ensure_database(url_text))
    try:
        _migrate(url_text)
        _load_reference(url_text)
        print(f"peak RSS before the import: {peak_rss_mb():.0f} MB")
        for label in ("first import", "re-import"):
            report, seconds = asyncio.run(run_import(url_text, path))
            print(f"{label}: {report.summary()}")
            print(
                f"{label}: {report.read} records in {seconds:.1f} s: {report.read / seconds:,.0f} records/s; peak RSS {peak_rss_mb():.0f} MB"
            )
    finally:
        asyncio.run(drop_database(url_text))
        shutil.rmtree(directory, ignore_errors=True)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
