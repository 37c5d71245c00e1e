"""Which States a recipient region covers, kept as data.

IATI activities often name a region instead of countries ("789 Far East Asia, regional").
Matching a State's need against such a programme needs the region's States; the mapping is
``data/dac_region_states.csv`` (see its header for the basis), upserted into ``region_state``
at the start of every IATI import, so a database that never ran ``load-reference`` again still
gets it, and a corrected CSV takes effect on the next import.
"""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import State
from service.models.programmes import RegionState

REGION_STATES_CSV = Path(__file__).parent / "data" / "dac_region_states.csv"


def read_region_states(path: Path = REGION_STATES_CSV) -> list[tuple[str, str, str]]:
    """(vocabulary, region_code, state_iso3) rows of the mapping; '#' lines are its notes."""
    with path.open(encoding="utf-8", newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        return [
            (row["vocabulary"].strip(), row["region_code"].strip(), row["state_iso3"].strip().upper())
            for row in csv.DictReader(lines)
        ]


async def load_region_states(session: AsyncSession) -> int:
    """Make region_state equal to the CSV (for the vocabularies the CSV covers); returns the
    number of rows. Idempotent. States missing from the state table are skipped, so it works
    on a database without reference data (it then maps nothing)."""
    rows = read_region_states()
    known = set((await session.execute(sa.select(State.iso3))).scalars())
    wanted = {r for r in rows if r[2] in known}
    table = RegionState.__table__
    vocabularies = sorted({r[0] for r in rows})
    existing = {
        (v, c, s)
        for v, c, s in (
            await session.execute(
                sa.select(table.c.vocabulary, table.c.region_code, table.c.state_iso3).where(
                    table.c.vocabulary.in_(vocabularies)
                )
            )
        ).all()
    }
    stale = existing - wanted
    if stale:
        await session.execute(
            sa.delete(table).where(
                sa.tuple_(table.c.vocabulary, table.c.region_code, table.c.state_iso3).in_(sorted(stale))
            )
        )
    missing = sorted(wanted - existing)
    if missing:
        await session.execute(
            insert(table).on_conflict_do_nothing(),
            [{"vocabulary": v, "region_code": c, "state_iso3": s} for v, c, s in missing],
        )
    return len(wanted)
