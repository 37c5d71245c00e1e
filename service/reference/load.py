"""Load the reference data into the database. Idempotent: upserts by natural key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import CurrencyRate, DacSector, DacSectorCategory, IatiCode, SdgGoal, SdgTarget, State, Theme
from service.reference import sources

IATI_CODELISTS_KEPT = ("OrganisationType", "OrganisationRole", "ActivityStatus", "Currency", "Region")


async def _upsert(session: AsyncSession, model: Any, rows: Iterable[dict[str, Any]], keys: list[str]) -> int:
    rows = list(rows)
    if not rows:
        return 0
    table = model.__table__
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        stmt = insert(table).values(chunk)
        updates = {c: stmt.excluded[c] for c in chunk[0] if c not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=keys, set_=updates) if updates else stmt.on_conflict_do_nothing()
        )
        await session.execute(stmt)
    return len(rows)


async def load_reference(session: AsyncSession) -> dict[str, int]:
    """Upsert every reference table; returns row counts per table."""
    counts: dict[str, int] = {}
    counts["state"] = await _upsert(session, State, (asdict(r) for r in sources.read_states()), ["iso3"])
    counts["dac_sector_category"] = await _upsert(
        session, DacSectorCategory, (asdict(r) for r in sources.read_dac_sector_categories()), ["code"]
    )
    categories = {r.code for r in sources.read_dac_sector_categories()}
    counts["dac_sector"] = await _upsert(
        session,
        DacSector,
        (asdict(r) for r in sources.read_dac_sectors() if r.category_code in categories),
        ["code"],
    )
    counts["sdg_goal"] = await _upsert(session, SdgGoal, (asdict(r) for r in sources.read_sdg_goals()), ["code"])
    counts["sdg_target"] = await _upsert(session, SdgTarget, (asdict(r) for r in sources.read_sdg_targets()), ["code"])
    counts["theme"] = await _upsert(session, Theme, (asdict(r) for r in sources.read_themes()), ["code"])
    total = 0
    for codelist in IATI_CODELISTS_KEPT:
        total += await _upsert(
            session,
            IatiCode,
            ({"codelist": codelist, **asdict(r)} for r in sources.read_iati_codes(codelist)),
            ["codelist", "code"],
        )
    counts["iati_code"] = total
    counts["currency_rate"] = await _upsert(
        session, CurrencyRate, (asdict(r) for r in sources.read_currency_rates()), ["currency"]
    )
    return counts


async def reference_loaded(session: AsyncSession) -> bool:
    return bool((await session.execute(sa.select(sa.func.count()).select_from(State))).scalar_one())
