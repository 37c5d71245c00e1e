"""Which States a programme covers: its recipient States, plus the States of its recipient
regions (DAC regions through region_state, UN M49 regions through the State's own M49 codes).

Kept in one place so that filters, matching and exports agree on geographic eligibility; a
programme published for "789 Far East Asia, regional" covers Cambodia without naming it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service.models import Programme, ProgrammeRecipientState, State
from service.models.programmes import ProgrammeRecipientRegion, RegionState

M49_VOCABULARY = "2"  # IATI RegionVocabulary 2: UN M49 (codes stored zero-padded: "035")
M49_WORLD = "001"


def region_states_select() -> Select:
    """(programme_id, state_iso3) for the States of programmes' recipient regions only."""
    region = ProgrammeRecipientRegion
    mapped = sa.select(region.programme_id.label("programme_id"), RegionState.state_iso3.label("state_iso3")).join(
        RegionState,
        sa.and_(RegionState.vocabulary == region.vocabulary, RegionState.region_code == region.region_code),
    )
    m49 = sa.select(region.programme_id, State.iso3).join(
        State,
        sa.and_(
            region.vocabulary == M49_VOCABULARY,
            sa.or_(
                State.region_code == region.region_code,
                State.sub_region_code == region.region_code,
                State.intermediate_region_code == region.region_code,
                region.region_code == M49_WORLD,
            ),
        ),
    )
    return sa.union(mapped, m49)


def covered_states_select() -> Select:
    """(programme_id, state_iso3) for every State a programme covers, without duplicates.
    Global programmes (is_global) are not expanded here; see programme_covers_state_clause."""
    direct = sa.select(
        ProgrammeRecipientState.programme_id.label("programme_id"),
        ProgrammeRecipientState.state_iso3.label("state_iso3"),
    )
    regions = region_states_select().subquery("region_state_of_programme")
    return sa.union(direct, sa.select(regions.c.programme_id, regions.c.state_iso3))


def programme_covers_state_clause(
    state: str | Sequence[str] | ColumnElement, programme_id: ColumnElement = Programme.id
) -> ColumnElement[bool]:
    """A clause over Programme: it is global, or covers the State(s) given (an ISO3 code, a
    list of them, or a column such as AssistanceNeed.state_iso3 for a correlated match)."""
    covered = covered_states_select().subquery("covered_state")
    if isinstance(state, str):
        state_match = covered.c.state_iso3 == state.upper()
    elif isinstance(state, ColumnElement):
        state_match = covered.c.state_iso3 == state
    else:
        state_match = covered.c.state_iso3.in_([s.upper() for s in state])
    return sa.or_(
        Programme.is_global.is_(True),
        sa.exists(sa.select(sa.literal(1)).where(covered.c.programme_id == programme_id, state_match)),
    )


async def states_covered(session: AsyncSession, programme_ids: Sequence[int]) -> dict[int, list[str]]:
    """ISO3 codes each programme covers (sorted; global programmes: only what they name)."""
    covered = covered_states_select().subquery("covered_state")
    rows = (
        await session.execute(
            sa.select(covered.c.programme_id, covered.c.state_iso3)
            .where(covered.c.programme_id.in_(list(programme_ids)))
            .order_by(covered.c.programme_id, covered.c.state_iso3)
        )
    ).all()
    result: dict[int, list[str]] = {pid: [] for pid in programme_ids}
    for pid, iso3 in rows:
        result[pid].append(iso3)
    return result


def programmes_in_regions_of_states(states: Sequence[str]) -> Select:
    """Ids of programmes with a recipient region covering one of these States (for the
    matching engine, which adds the programmes naming the States themselves)."""
    regions = region_states_select().subquery("region_state_of_programme")
    return sa.select(regions.c.programme_id).where(regions.c.state_iso3.in_([s.upper() for s in states]))


async def programme_region_states(
    session: AsyncSession, programme_ids: Sequence[int] | None = None
) -> dict[int, list[str]]:
    """States covered through recipient regions, per programme (all programmes when None)."""
    regions = region_states_select().subquery("region_state_of_programme")
    stmt = sa.select(regions.c.programme_id, regions.c.state_iso3)
    if programme_ids is not None:
        stmt = stmt.where(regions.c.programme_id.in_(list(programme_ids)))
    result: dict[int, list[str]] = {}
    for pid, iso3 in (await session.execute(stmt.order_by(regions.c.programme_id, regions.c.state_iso3))).all():
        result.setdefault(pid, []).append(iso3)
    return result
