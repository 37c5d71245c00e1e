"""Reading matches, opportunities, funding gaps and lessons — always under the visibility of
the need each one belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlalchemy.sql import ColumnElement

from service.access.policy import may_offer
from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.errors import Forbidden, Unauthenticated
from service.matching.criteria import CRITERIA
from service.matching.engine import current_criteria
from service.matching.lifecycle import FUNDED
from service.models import AssistanceNeed, CurrencyRate, State
from service.models.matching import CriteriaVersion, Match, MatchStatus, MatchTransition, OfferKind
from service.needs import CostRange, amount_parameter, sector_codes_matching, states_in_regions, validate_search
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent


def match_ordering() -> Ordering:
    """Best first; ties broken by ID."""
    return Ordering(
        "matches:SCORE", (SortKey("score", Match.score, True, "float"), SortKey("id", Match.id, False, "int"))
    )


# The per-criterion breakdown (JSONB, a list of 8 objects per match) is loaded apart, only when
# a query selects it (`breakdown_of`): decoding it for every listed match was 6.5 % of a page.
DEFERRED = ("breakdown",)


def visible_matches(
    principal: Principal, *, min_score: float | None = None, statuses: Sequence[MatchStatus] | None = None
) -> sa.Select:
    stmt = sa.select(Match).join(AssistanceNeed, AssistanceNeed.id == Match.need_id).where(visible_needs(principal))
    if min_score is not None:
        stmt = stmt.where(Match.score >= min_score)
    if statuses is not None:
        stmt = stmt.where(Match.status.in_(list(statuses)))
    return stmt


async def matches_per_parent(
    *,
    session: AsyncSession,
    principal: Principal,
    parent: str,
    parent_ids: Sequence[int],
    min_score: float | None,
    statuses: Sequence[MatchStatus] | None,
    page: PageArgs,
) -> dict[int, Page[Match]]:
    column = {"need": Match.need_id, "programme": Match.programme_id, "capability": Match.capability_id}[parent]
    return await paginate_per_parent(
        session,
        visible_matches(principal, min_score=min_score, statuses=statuses),
        column,
        parent_ids,
        match_ordering(),
        page,
        Match,
        deferred=DEFERRED,
    )


async def count_matches_per_parent(
    *,
    session: AsyncSession,
    principal: Principal,
    parent: str,
    parent_ids: Sequence[int],
    min_score: float | None,
    statuses: Sequence[MatchStatus] | None,
) -> dict[int, int]:
    column = {"need": Match.need_id, "programme": Match.programme_id, "capability": Match.capability_id}[parent]
    stmt = (
        sa.select(column, sa.func.count())
        .select_from(Match)
        .join(AssistanceNeed, AssistanceNeed.id == Match.need_id)
        .where(column.in_(list(parent_ids)), visible_needs(principal))
        .group_by(column)
    )
    if min_score is not None:
        stmt = stmt.where(Match.score >= min_score)
    if statuses is not None:
        stmt = stmt.where(Match.status.in_(list(statuses)))
    counts = dict((await session.execute(stmt)).all())
    return {pid: int(counts.get(pid, 0)) for pid in parent_ids}


async def get_matches(*, session: AsyncSession, principal: Principal, ids: Sequence[int]) -> dict[int, Match]:
    stmt = (
        visible_matches(principal).where(Match.id.in_(list(ids))).options(*(defer(getattr(Match, a)) for a in DEFERRED))
    )
    return {m.id: m for m in (await session.execute(stmt)).scalars()}


async def breakdown_of(*, session: AsyncSession, match_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Breakdowns of matches the caller already may see (callers pass visible ids)."""
    stmt = sa.select(Match.id, Match.breakdown).where(Match.id.in_(list(match_ids)))
    return {match_id: breakdown for match_id, breakdown in (await session.execute(stmt)).all()}


async def transitions_of(*, session: AsyncSession, match_ids: Sequence[int]) -> dict[int, list[MatchTransition]]:
    """History of matches the caller already may see (callers pass visible ids)."""
    rows = (
        await session.execute(
            sa.select(MatchTransition).where(MatchTransition.match_id.in_(list(match_ids))).order_by(MatchTransition.id)
        )
    ).scalars()
    grouped: dict[int, list[MatchTransition]] = {mid: [] for mid in match_ids}
    for row in rows:
        grouped[row.match_id].append(row)
    return grouped


# -- criteria --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedCriterion:
    key: str
    name: str
    description: str
    weight: float


async def matching_criteria(*, session: AsyncSession) -> tuple[CriteriaVersion, list[PublishedCriterion]]:
    version = await current_criteria(session)
    return version, [
        PublishedCriterion(c.key, c.name, c.description, float(version.weights.get(c.key, 0.0))) for c in CRITERIA
    ]


# -- funding -------------------------------------------------------------------------------


def _rate(currency: Any) -> ColumnElement:
    return sa.select(CurrencyRate.usd_per_unit).where(CurrencyRate.currency == currency).scalar_subquery()


def funded_usd() -> ColumnElement:
    """Agreed funding of the need in USD (engaged matches: agreed, active, completed)."""
    return sa.func.coalesce(
        sa.select(sa.func.sum(Match.agreed_amount * _rate(Match.currency)))
        .where(Match.need_id == AssistanceNeed.id, Match.status.in_(list(FUNDED)))
        .scalar_subquery(),
        0,
    )


def cost_usd() -> ColumnElement:
    return AssistanceNeed.estimated_cost * _rate(AssistanceNeed.currency)


def gap_usd() -> ColumnElement:
    return sa.func.greatest(cost_usd() - funded_usd(), 0)


async def funding_of(*, session: AsyncSession, need_ids: Sequence[int]) -> dict[int, tuple[Decimal, Decimal | None]]:
    """(agreed funding in the need's currency, gap in the need's currency) per need."""
    funded = sa.func.coalesce(
        sa.func.sum(Match.agreed_amount * _rate(Match.currency) / _rate(AssistanceNeed.currency)).filter(
            Match.status.in_(list(FUNDED))
        ),
        0,
    )
    stmt = (
        sa.select(AssistanceNeed.id, AssistanceNeed.estimated_cost, funded)
        .select_from(AssistanceNeed)
        .outerjoin(Match, Match.need_id == AssistanceNeed.id)
        .where(AssistanceNeed.id.in_(list(need_ids)))
        .group_by(AssistanceNeed.id, AssistanceNeed.estimated_cost, AssistanceNeed.currency)
    )
    result = {}
    for need_id, cost, funded_amount in (await session.execute(stmt)).all():
        funded_amount = Decimal(funded_amount or 0).quantize(Decimal("0.01"))
        gap = None if cost is None else max(cost - funded_amount, Decimal(0))
        result[need_id] = (funded_amount, gap)
    return result


class GapGrouping(str, Enum):
    THEME = "THEME"
    REGION = "REGION"
    STATE = "STATE"
    SECTOR = "SECTOR"


@dataclass(frozen=True)
class FundingGapRow:
    key: str
    label: str
    needs: int
    cost_usd: Decimal
    funded_usd: Decimal
    gap_usd: Decimal


async def funding_gaps(*, session: AsyncSession, principal: Principal, group_by: GapGrouping) -> list[FundingGapRow]:
    """Cost, agreed funding and gap in USD by theme, region, State or sector, over the
    needs the caller may see (withdrawn needs left out)."""
    needs = (
        sa.select(
            AssistanceNeed.id,
            AssistanceNeed.state_iso3,
            AssistanceNeed.themes,
            AssistanceNeed.sectors,
            sa.func.coalesce(cost_usd(), 0).label("cost"),
            funded_usd().label("funded"),
        )
        .where(visible_needs(principal), AssistanceNeed.status != "WITHDRAWN")
        .subquery()
    )
    if group_by is GapGrouping.STATE:
        key = needs.c.state_iso3
        label = State.name_en
        base = sa.select(key.label("key"), label.label("label"), needs.c.id, needs.c.cost, needs.c.funded).join(
            State, State.iso3 == key
        )
    elif group_by is GapGrouping.REGION:
        key = State.sub_region_code
        base = sa.select(
            key.label("key"), State.sub_region_name.label("label"), needs.c.id, needs.c.cost, needs.c.funded
        ).join(State, State.iso3 == needs.c.state_iso3)
    else:
        column = needs.c.themes if group_by is GapGrouping.THEME else needs.c.sectors
        unnested = sa.func.unnest(column).table_valued("code").render_derived()
        base = (
            sa.select(
                unnested.c.code.label("key"), unnested.c.code.label("label"), needs.c.id, needs.c.cost, needs.c.funded
            )
            .select_from(needs)
            .join(unnested, sa.true())
        )
    grouped = base.subquery()
    stmt = (
        sa.select(
            grouped.c.key,
            sa.func.min(grouped.c.label),
            sa.func.count(grouped.c.id),
            sa.func.sum(grouped.c.cost),
            sa.func.sum(sa.func.least(grouped.c.funded, grouped.c.cost)),
        )
        .group_by(grouped.c.key)
        .order_by(sa.func.sum(grouped.c.cost - sa.func.least(grouped.c.funded, grouped.c.cost)).desc(), grouped.c.key)
    )
    rows = []
    q = Decimal("0.01")
    for key, label, n, cost, funded in (await session.execute(stmt)).all():
        cost = Decimal(cost or 0).quantize(q)
        funded = Decimal(funded or 0).quantize(q)
        rows.append(FundingGapRow(str(key), str(label), int(n), cost, funded, max(cost - funded, Decimal(0))))
    return rows


async def count_by_status(*, session: AsyncSession, principal: Principal) -> list[tuple[str, int]]:
    stmt = (
        sa.select(AssistanceNeed.status, sa.func.count())
        .where(visible_needs(principal))
        .group_by(AssistanceNeed.status)
        .order_by(AssistanceNeed.status)
    )
    return [(status, int(n)) for status, n in (await session.execute(stmt)).all()]


# -- opportunities -------------------------------------------------------------------------


@dataclass(frozen=True)
class OpportunityFilter:
    states: Sequence[str] | None = None
    regions: Sequence[str] | None = None
    themes: Sequence[str] | None = None
    sectors: Sequence[str] | None = None
    cost: CostRange | None = None
    min_score: float | None = None
    search: str | None = None


class OpportunityOrderField(str, Enum):
    SCORE = "SCORE"
    COST = "COST"
    FUNDING_GAP = "FUNDING_GAP"


@dataclass(frozen=True)
class Opportunity:
    need: AssistanceNeed
    score: float
    best_match_id: int


def _opportunity_select(principal: Principal, f: OpportunityFilter | None) -> tuple[sa.Select, Any]:
    """Open needs the caller may see, each with its best match to one of the caller's offers.

    The best match is found row by row ("no better match of mine for this need exists"), so
    ordering by score walks the (organization_id, score) index best first instead of
    aggregating every suggestion of a large donor."""
    from sqlalchemy.orm import aliased

    live = ["DECLINED", "WITHDRAWN"]
    best = aliased(Match, name="best_match")
    better = aliased(Match, name="better_match")
    a_better_one = (
        sa.select(sa.literal(1))
        .where(
            better.need_id == best.need_id,
            better.organization_id == best.organization_id,
            better.status.notin_(live),
            sa.or_(better.score > best.score, sa.and_(better.score == best.score, better.id < best.id)),
        )
        .exists()
    )
    stmt = (
        sa.select(AssistanceNeed, best.score, best.id)
        .join(best, best.need_id == AssistanceNeed.id)
        .where(
            best.organization_id == principal.organization_id,
            best.status.notin_(live),
            ~a_better_one,
            visible_needs(principal),
            AssistanceNeed.status.in_(["SUBMITTED", "MATCHED"]),
        )
    )
    if f is not None:
        if f.states is not None:
            stmt = stmt.where(AssistanceNeed.state_iso3.in_([s.upper() for s in f.states]))
        if f.regions is not None:
            stmt = stmt.where(AssistanceNeed.state_iso3.in_(states_in_regions(f.regions)))
        if f.themes is not None:
            stmt = stmt.where(AssistanceNeed.themes.overlap(list(f.themes)))
        if f.sectors is not None:
            stmt = stmt.where(AssistanceNeed.sectors.overlap(sector_codes_matching(f.sectors)))
        if f.min_score is not None:
            stmt = stmt.where(best.score >= f.min_score)
        if f.cost is not None:
            per_unit = _rate(f.cost.currency)
            if f.cost.minimum is not None:
                stmt = stmt.where(cost_usd() >= amount_parameter(f.cost.minimum) * per_unit)
            if f.cost.maximum is not None:
                stmt = stmt.where(cost_usd() <= amount_parameter(f.cost.maximum) * per_unit)
        search = validate_search(f.search)
        if search is not None:
            stmt = stmt.where(AssistanceNeed.search_vector.op("@@")(sa.func.websearch_to_tsquery("english", search)))
    return stmt, best.score


def _require_offering(principal: Principal) -> None:
    if principal.is_anonymous:
        raise Unauthenticated("Opportunities are for donors and agencies; sign in with their key.")
    if not may_offer(principal):
        raise Forbidden("Opportunities are ranked against a donor's or agency's own offers.")


async def opportunities(
    *,
    session: AsyncSession,
    principal: Principal,
    opportunity_filter: OpportunityFilter | None,
    order: OpportunityOrderField = OpportunityOrderField.SCORE,
    descending: bool = True,
    page: PageArgs = PageArgs(),
) -> Page[Opportunity]:
    _require_offering(principal)
    stmt, score = _opportunity_select(principal, opportunity_filter)
    tie = SortKey("id", AssistanceNeed.id, False, "int")
    key = {
        OpportunityOrderField.SCORE: SortKey("score", score, descending, "float"),
        OpportunityOrderField.COST: SortKey("cost", sa.func.coalesce(cost_usd(), -1), descending, "decimal"),
        OpportunityOrderField.FUNDING_GAP: SortKey("gap", sa.func.coalesce(gap_usd(), -1), descending, "decimal"),
    }[order]
    ordering = Ordering(f"opportunities:{order.value}:{'DESC' if descending else 'ASC'}", (key, tie))
    args = page.validated()
    from service.pagination import apply_keyset, build_page

    labelled = [k.column.label(f"pg_k{i}") for i, k in enumerate(ordering.keys)]
    rows = (await session.execute(apply_keyset(stmt.add_columns(*labelled), ordering, args))).all()
    items = [Opportunity(need=r[0], score=float(r[1]), best_match_id=int(r[2])) for r in rows]
    return build_page(items, [tuple(r[-2:]) for r in rows], ordering, args)


async def count_opportunities(
    *, session: AsyncSession, principal: Principal, opportunity_filter: OpportunityFilter | None
) -> int:
    _require_offering(principal)
    stmt, _ = _opportunity_select(principal, opportunity_filter)
    return await count(session, stmt)


# -- lessons -----------------------------------------------------------------------------------


def lessons_select(principal: Principal, search: str | None) -> sa.Select:
    stmt = visible_matches(principal, statuses=[MatchStatus.COMPLETED]).where(Match.lessons_learned.is_not(None))
    search = validate_search(search)
    if search is not None:
        stmt = stmt.where(Match.lessons_vector.op("@@")(sa.func.websearch_to_tsquery("english", search)))
    return stmt


async def lessons(*, session: AsyncSession, principal: Principal, search: str | None, page: PageArgs) -> Page[Match]:
    ordering = Ordering(
        "lessons:UPDATED",
        (SortKey("updated_at", Match.updated_at, True, "datetime"), SortKey("id", Match.id, True, "int")),
    )
    return await paginate(session, lessons_select(principal, search), ordering, page)


async def count_lessons(*, session: AsyncSession, principal: Principal, search: str | None) -> int:
    return await count(session, lessons_select(principal, search))


__all__ = ["OfferKind"]
