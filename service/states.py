"""States and organizations: public reference reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from service.models import ProgrammeRecipientState, RecommendationRecommender, State
from service.models.enums import RegionalGroup, UnMembership
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent


def escape_like(text: str) -> str:
    """User text inside LIKE: escape the wildcards % and _ and the escape character itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class StateFilter:
    codes: Sequence[str] | None = None
    regions: Sequence[str] | None = None
    regional_groups: Sequence[RegionalGroup] | None = None
    membership: Sequence[UnMembership] | None = None
    ldc: bool | None = None
    lldc: bool | None = None
    sids: bool | None = None
    search: str | None = None  # substring of any of the six names, or a code


class StateOrderField(str, Enum):
    NAME = "NAME"
    CODE = "CODE"


def states_select(f: StateFilter | None) -> Select:
    stmt = sa.select(State)
    if f is None:
        return stmt
    if f.codes is not None:
        stmt = stmt.where(State.iso3.in_([c.upper() for c in f.codes]))
    if f.regions is not None:
        stmt = stmt.where(
            sa.or_(
                State.region_code.in_(f.regions),
                State.sub_region_code.in_(f.regions),
                State.intermediate_region_code.in_(f.regions),
            )
        )
    if f.regional_groups is not None:
        stmt = stmt.where(State.regional_group.in_(list(f.regional_groups)))
    if f.membership is not None:
        stmt = stmt.where(State.un_membership.in_(list(f.membership)))
    for flag, column in ((f.ldc, State.is_ldc), (f.lldc, State.is_lldc), (f.sids, State.is_sids)):
        if flag is not None:
            stmt = stmt.where(column.is_(flag))
    if f.search:
        pattern = f"%{escape_like(f.search.strip())}%"
        names = [State.name_en, State.name_fr, State.name_es, State.name_ar, State.name_zh, State.name_ru]
        stmt = stmt.where(
            sa.or_(*(n.ilike(pattern, escape="\\") for n in names), State.iso3 == f.search.strip().upper())
        )
    return stmt


def state_ordering(field: StateOrderField = StateOrderField.NAME, descending: bool = False) -> Ordering:
    identity = f"states:{field.value}:{'DESC' if descending else 'ASC'}"
    tie = SortKey("iso3", State.iso3, descending, "str")
    if field is StateOrderField.CODE:
        return Ordering(identity, (tie,))
    return Ordering(identity, (SortKey("name", State.name_en, descending, "str"), tie))


async def list_states(
    *,
    session: AsyncSession,
    state_filter: StateFilter | None = None,
    order: tuple[StateOrderField, bool] = (StateOrderField.NAME, False),
    page: PageArgs = PageArgs(),
) -> Page[State]:
    return await paginate(session, states_select(state_filter), state_ordering(*order), page)


async def count_states(*, session: AsyncSession, state_filter: StateFilter | None = None) -> int:
    return await count(session, states_select(state_filter))


async def get_states(*, session: AsyncSession, codes: Sequence[str]) -> dict[str, State]:
    rows = (await session.execute(sa.select(State).where(State.iso3.in_(list(codes))))).scalars()
    return {s.iso3: s for s in rows}


def recommending_states_select() -> Select:
    """States with the recommendations they made (`RecommendationRecommender.recommendation_id`)."""
    return sa.select(State).join(RecommendationRecommender, RecommendationRecommender.state_iso3 == State.iso3)


async def recommending_states_per_recommendation(
    *,
    session: AsyncSession,
    recommendation_ids: Sequence[int],
    page: PageArgs,
    order: tuple[StateOrderField, bool] = (StateOrderField.NAME, False),
) -> dict[int, Page[State]]:
    return await paginate_per_parent(
        session,
        recommending_states_select(),
        RecommendationRecommender.recommendation_id,
        recommendation_ids,
        state_ordering(*order),
        page,
        State,
    )


async def count_recommending_states(*, session: AsyncSession, recommendation_ids: Sequence[int]) -> dict[int, int]:
    stmt = (
        sa.select(RecommendationRecommender.recommendation_id, sa.func.count())
        .where(RecommendationRecommender.recommendation_id.in_(list(recommendation_ids)))
        .group_by(RecommendationRecommender.recommendation_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {rid: int(counts.get(rid, 0)) for rid in recommendation_ids}


async def recipient_states_per_programme(
    *,
    session: AsyncSession,
    programme_ids: Sequence[int],
    page: PageArgs,
) -> dict[int, Page[tuple[State, object]]]:
    """Recipient States of programmes, with their percentage, one page per programme."""
    stmt = sa.select(State).join(ProgrammeRecipientState, ProgrammeRecipientState.state_iso3 == State.iso3)
    pages = await paginate_per_parent(
        session, stmt, ProgrammeRecipientState.programme_id, programme_ids, state_ordering(), page, State
    )
    rows = (
        await session.execute(
            sa.select(ProgrammeRecipientState).where(ProgrammeRecipientState.programme_id.in_(list(programme_ids)))
        )
    ).scalars()
    percentages = {(r.programme_id, r.state_iso3): r.percentage for r in rows}
    for pid, page_ in pages.items():
        page_.items = [(state, percentages.get((pid, state.iso3))) for state in page_.items]
    return pages


async def count_recipient_states(*, session: AsyncSession, programme_ids: Sequence[int]) -> dict[int, int]:
    stmt = (
        sa.select(ProgrammeRecipientState.programme_id, sa.func.count())
        .where(ProgrammeRecipientState.programme_id.in_(list(programme_ids)))
        .group_by(ProgrammeRecipientState.programme_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {pid: int(counts.get(pid, 0)) for pid in programme_ids}
