"""UPR recommendations and pledges: public reads, the anchor of the graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service.models import NeedPledge, NeedRecommendation, Pledge, Recommendation, RecommendationRecommender, Review
from service.models.enums import RecommendationResponse, RecommendationSource
from service.needs import validate_search
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent


@dataclass(frozen=True)
class RecommendationFilter:
    states: Sequence[str] | None = None  # State under review
    recommending_states: Sequence[str] | None = None
    responses: Sequence[RecommendationResponse] | None = None
    themes: Sequence[str] | None = None
    sessions: Sequence[int] | None = None
    cycles: Sequence[int] | None = None
    action_categories: Sequence[int] | None = None
    sources: Sequence[RecommendationSource] | None = None
    bodies: Sequence[str] | None = None  # treaty body / special procedure, case-insensitive
    search: str | None = None


class RecommendationOrderField(str, Enum):
    CREATED_AT = "CREATED_AT"
    SESSION = "SESSION"
    RELEVANCE = "RELEVANCE"


@dataclass(frozen=True)
class RecommendationOrder:
    field: RecommendationOrderField = RecommendationOrderField.SESSION
    descending: bool = True


def _clauses(f: RecommendationFilter | None) -> list[ColumnElement[bool]]:
    if f is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if f.states is not None:
        clauses.append(Recommendation.state_iso3.in_([s.upper() for s in f.states]))
    if f.recommending_states is not None:
        clauses.append(
            Recommendation.id.in_(
                sa.select(RecommendationRecommender.recommendation_id).where(
                    RecommendationRecommender.state_iso3.in_([s.upper() for s in f.recommending_states])
                )
            )
        )
    if f.responses is not None:
        clauses.append(Recommendation.response.in_(list(f.responses)))
    if f.themes is not None:
        clauses.append(Recommendation.themes.overlap(list(f.themes)))
    if f.sessions is not None or f.cycles is not None:
        review = sa.select(Review.id)
        if f.sessions is not None:
            review = review.where(Review.session.in_(list(f.sessions)))
        if f.cycles is not None:
            review = review.where(Review.cycle.in_(list(f.cycles)))
        clauses.append(Recommendation.review_id.in_(review))
    if f.action_categories is not None:
        clauses.append(Recommendation.action_category.in_(list(f.action_categories)))
    if f.sources is not None:
        clauses.append(Recommendation.source.in_(list(f.sources)))
    if f.bodies is not None:
        clauses.append(sa.func.upper(Recommendation.body).in_([b.strip().upper() for b in f.bodies]))
    search = validate_search(f.search)
    if search is not None:
        clauses.append(Recommendation.search_vector.op("@@")(sa.func.websearch_to_tsquery("english", search)))
    return clauses


def _ordering(order: RecommendationOrder | None, search: str | None) -> Ordering:
    if order is None:
        order = RecommendationOrder(
            RecommendationOrderField.RELEVANCE if search and search.strip() else RecommendationOrderField.SESSION
        )
    desc = order.descending
    tie = SortKey("id", Recommendation.id, desc, "int")
    identity = f"recommendations:{order.field.value}:{'DESC' if desc else 'ASC'}"
    if order.field is RecommendationOrderField.RELEVANCE:
        if not (search and search.strip()):
            from service.errors import InvalidInput

            raise InvalidInput("Ordering by RELEVANCE needs a `search` text in the filter.", field="orderBy")
        rank = sa.func.ts_rank_cd(Recommendation.search_vector, sa.func.websearch_to_tsquery("english", search))
        return Ordering(identity + f":{search}", (SortKey("rank", rank, desc, "float"), tie))
    if order.field is RecommendationOrderField.SESSION:
        # Treaty-body and special-procedure recommendations have no review: session 0 (a NULL
        # would drop them from keyset pages), so they come last in the default DESC order.
        session_of = sa.func.coalesce(
            sa.select(Review.session).where(Review.id == Recommendation.review_id).scalar_subquery(), 0
        )
        return Ordering(identity, (SortKey("session", session_of, desc, "int"), tie))
    return Ordering(identity, (SortKey("created_at", Recommendation.created_at, desc, "datetime"), tie))


def recommendations_select(f: RecommendationFilter | None) -> Select:
    return sa.select(Recommendation).where(*_clauses(f))


async def list_recommendations(
    *,
    session: AsyncSession,
    recommendation_filter: RecommendationFilter | None = None,
    order: RecommendationOrder | None = None,
    page: PageArgs = PageArgs(),
) -> Page[Recommendation]:
    ordering = _ordering(order, recommendation_filter.search if recommendation_filter else None)
    return await paginate(session, recommendations_select(recommendation_filter), ordering, page)


async def count_recommendations(
    *, session: AsyncSession, recommendation_filter: RecommendationFilter | None = None
) -> int:
    return await count(session, recommendations_select(recommendation_filter))


async def get_recommendations(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, Recommendation]:
    rows = (await session.execute(sa.select(Recommendation).where(Recommendation.id.in_(list(ids))))).scalars()
    return {r.id: r for r in rows}


def need_recommendations_select(f: RecommendationFilter | None) -> Select:
    """Recommendations with the needs implementing them (`NeedRecommendation.need_id`)."""
    return recommendations_select(f).join(NeedRecommendation, NeedRecommendation.recommendation_id == Recommendation.id)


async def recommendations_per_need(
    *,
    session: AsyncSession,
    need_ids: Sequence[int],
    recommendation_filter: RecommendationFilter | None,
    order: RecommendationOrder | None,
    page: PageArgs,
) -> dict[int, Page[Recommendation]]:
    """Callers pass only need ids the principal may see."""
    stmt = need_recommendations_select(recommendation_filter)
    ordering = _ordering(order, recommendation_filter.search if recommendation_filter else None)
    return await paginate_per_parent(
        session, stmt, NeedRecommendation.need_id, need_ids, ordering, page, Recommendation
    )


async def count_recommendations_per_need(
    *, session: AsyncSession, need_ids: Sequence[int], recommendation_filter: RecommendationFilter | None
) -> dict[int, int]:
    stmt = (
        sa.select(NeedRecommendation.need_id, sa.func.count())
        .join(Recommendation, Recommendation.id == NeedRecommendation.recommendation_id)
        .where(NeedRecommendation.need_id.in_(list(need_ids)), *_clauses(recommendation_filter))
        .group_by(NeedRecommendation.need_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {nid: int(counts.get(nid, 0)) for nid in need_ids}


async def recommendations_per_state(
    *,
    session: AsyncSession,
    state_codes: Sequence[str],
    recommendation_filter: RecommendationFilter | None,
    order: RecommendationOrder | None,
    page: PageArgs,
) -> dict[str, Page[Recommendation]]:
    ordering = _ordering(order, recommendation_filter.search if recommendation_filter else None)
    return await paginate_per_parent(
        session,
        recommendations_select(recommendation_filter),
        Recommendation.state_iso3,
        state_codes,
        ordering,
        page,
        Recommendation,
    )


async def reviews_by_id(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, Review]:
    rows = (await session.execute(sa.select(Review).where(Review.id.in_(list(ids))))).scalars()
    return {r.id: r for r in rows}


# -- pledges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PledgeFilter:
    states: Sequence[str] | None = None
    themes: Sequence[str] | None = None
    search: str | None = None


def pledges_select(f: PledgeFilter | None) -> Select:
    stmt = sa.select(Pledge)
    if f is None:
        return stmt
    if f.states is not None:
        stmt = stmt.where(Pledge.state_iso3.in_([s.upper() for s in f.states]))
    if f.themes is not None:
        stmt = stmt.where(Pledge.themes.overlap(list(f.themes)))
    search = validate_search(f.search)
    if search is not None:
        stmt = stmt.where(
            sa.func.to_tsvector("english", Pledge.text).op("@@")(sa.func.websearch_to_tsquery("english", search))
        )
    return stmt


def pledge_ordering(descending: bool = True) -> Ordering:
    return Ordering(
        f"pledges:CREATED_AT:{'DESC' if descending else 'ASC'}",
        (SortKey("created_at", Pledge.created_at, descending, "datetime"), SortKey("id", Pledge.id, descending, "int")),
    )


async def list_pledges(
    *,
    session: AsyncSession,
    pledge_filter: PledgeFilter | None = None,
    descending: bool = True,
    page: PageArgs = PageArgs(),
) -> Page[Pledge]:
    return await paginate(session, pledges_select(pledge_filter), pledge_ordering(descending), page)


async def count_pledges(*, session: AsyncSession, pledge_filter: PledgeFilter | None = None) -> int:
    return await count(session, pledges_select(pledge_filter))


async def get_pledges(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, Pledge]:
    rows = (await session.execute(sa.select(Pledge).where(Pledge.id.in_(list(ids))))).scalars()
    return {p.id: p for p in rows}


async def pledges_per_need(
    *, session: AsyncSession, need_ids: Sequence[int], page: PageArgs
) -> dict[int, Page[Pledge]]:
    stmt = sa.select(Pledge).join(NeedPledge, NeedPledge.pledge_id == Pledge.id)
    return await paginate_per_parent(session, stmt, NeedPledge.need_id, need_ids, pledge_ordering(), page, Pledge)
