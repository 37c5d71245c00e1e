"""Item 10 reports (HRC resolution 21/21 paras 3-5, 9): for a theme and a period, what
agencies, donors and States did — engagements by agency and by State, amounts, lessons
learned and good practices, open needs and funding gaps.

Definitions the numbers rest on:

- An **engagement** is a match the State consented to: one that reached AGREED (see
  `service.matching.lifecycle`). Its dates are those of its history (`match_transition`):
  agreed on its first move to AGREED, active on its first move to ACTIVE, ended on its move
  to COMPLETED or WITHDRAWN. (A match in an engaged status with no such history — data
  written without the lifecycle — takes its `updated_at` for the missing dates.)
- It is **in the period** when it was agreed on or before the period's last day and had not
  ended before its first day. Its **stage** is where it stood at the end of the period:
  COMPLETED, WITHDRAWN (after it was agreed), ACTIVE or AGREED.
- It is **in the theme** when its need carries the theme (or, for a theme cluster such as
  ADMINISTRATION_OF_JUSTICE, any theme of the cluster); **in the region** when the need's
  State is (M49 region, sub-region or intermediate region code, or a UN regional group).
- **Committed** is the agreed amount of engagements not withdrawn, in the currency it was
  agreed in. Amounts are summed per currency and never across currencies; a USD
  equivalent is given only where every currency involved has a rate in `currency_rate`.
- **Open needs** are needs in the theme and region that are SUBMITTED, MATCHED or
  IN_PROGRESS now and were submitted by the end of the period; their **gap** is the
  estimated cost minus what engagements (agreed, active or completed) commit to them, in
  the need's currency (other currencies converted only where both have a rate).

Everything is read under the caller's visibility (`visible_needs`): a need the caller may
not see, and every engagement on it, is left out of every list, count and sum.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.errors import InvalidInput
from service.matching.lifecycle import ENGAGED
from service.models import AssistanceNeed, CurrencyRate, Match, MatchTransition, Organization, State, Theme
from service.models.enums import NeedStatus, RegionalGroup
from service.models.matching import MatchStatus

#: ISO 4217 "no currency": where an amount was recorded without one.
NO_CURRENCY = "XXX"
#: The longest period a report may cover (a sanity bound, not a policy).
MAX_PERIOD_DAYS = 366 * 50
OPEN_STATUSES = (NeedStatus.SUBMITTED, NeedStatus.MATCHED, NeedStatus.IN_PROGRESS)
CENT = Decimal("0.01")
M49_CODE = re.compile(r"^\d{3}$")
GROUP_NAMES = {
    RegionalGroup.AFRICAN: "African Group",
    RegionalGroup.ASIA_PACIFIC: "Asia-Pacific Group",
    RegionalGroup.EASTERN_EUROPEAN: "Eastern European Group",
    RegionalGroup.LATIN_AMERICAN_CARIBBEAN: "Latin American and Caribbean Group",
    RegionalGroup.WESTERN_EUROPEAN_OTHERS: "Western European and others Group",
}


class Stage(str, Enum):
    """Where an engagement stood at the end of the period."""

    AGREED = "AGREED"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"


# -- the report's structure --------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Amounts:
    """Sums kept per currency; `usd_equivalent` only when every currency has a rate."""

    by_currency: tuple[Amount, ...] = ()
    usd_equivalent: Decimal | None = Decimal(0)
    currencies_without_rate: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.by_currency


@dataclass(frozen=True)
class StageCounts:
    agreed: int = 0
    active: int = 0
    completed: int = 0
    withdrawn: int = 0

    @property
    def total(self) -> int:
        return self.agreed + self.active + self.completed + self.withdrawn


@dataclass(frozen=True)
class OrganizationEngagements:
    organization_id: int
    name: str
    acronym: str | None
    category: str
    engagements: StageCounts
    committed: Amounts
    states: tuple[str, ...]  # ISO3 codes of the States it engaged with


@dataclass(frozen=True)
class StateEngagements:
    state_iso3: str
    name: str
    engagements: StageCounts
    committed: Amounts
    organizations: tuple[str, ...]  # names of the organizations it engaged with


@dataclass(frozen=True)
class Lesson:
    match_id: int
    need_id: int
    need_title: str
    state_iso3: str
    state_name: str
    organization_name: str
    completed_on: date
    text: str


@dataclass(frozen=True)
class OpenNeed:
    need_id: int
    state_iso3: str
    state_name: str
    title: str
    status: NeedStatus
    requested: Amount | None
    committed: Amounts
    gap: Amount | None  # None: cost unknown, or committed in a currency without a rate


@dataclass(frozen=True)
class FundingGapSummary:
    open_needs: int
    requested: Amounts
    committed: Amounts
    gap: Amounts
    needs_without_cost: int
    needs_without_gap: int  # cost known, but committed in a currency that could not be converted


@dataclass(frozen=True)
class ExchangeRate:
    currency: str
    usd_per_unit: Decimal
    as_of: date


@dataclass(frozen=True)
class Item10Report:
    theme_code: str
    theme_name: str
    theme_codes: tuple[str, ...]  # the themes covered (one, or every theme of a cluster)
    period_start: date
    period_end: date
    region_code: str | None
    region_name: str | None
    generated_at: datetime
    engagements: StageCounts
    committed: Amounts
    by_organization: tuple[OrganizationEngagements, ...]
    by_state: tuple[StateEngagements, ...]
    lessons: tuple[Lesson, ...]
    open_needs: tuple[OpenNeed, ...]
    funding_gap: FundingGapSummary
    exchange_rates: tuple[ExchangeRate, ...]  # the rates behind every USD equivalent


# -- money -------------------------------------------------------------------------------------


class _Sums:
    """Per-currency sums, converted to USD only with a rate for every currency."""

    def __init__(self) -> None:
        self.sums: dict[str, Decimal] = defaultdict(Decimal)

    def add(self, amount: Decimal | None, currency: str | None) -> None:
        if amount is not None:
            self.sums[currency or NO_CURRENCY] += amount

    def extend(self, other: "_Sums") -> None:
        for currency, amount in other.sums.items():
            self.sums[currency] += amount

    def amounts(self, rates: dict[str, CurrencyRate]) -> Amounts:
        by_currency = tuple(Amount(self.sums[c].quantize(CENT), c) for c in sorted(self.sums))
        missing = tuple(c for c in sorted(self.sums) if c not in rates)
        usd = None
        if not missing:
            usd = sum((a.amount * rates[a.currency].usd_per_unit for a in by_currency), Decimal(0)).quantize(CENT)
        return Amounts(by_currency, usd, missing)


# -- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    code: str
    name: str
    themes: tuple[str, ...]
    region_code: str | None
    region_name: str | None
    region_states: sa.Select | None


def _cluster_name(code: str) -> str:
    return code.replace("_", " ").capitalize()


async def _theme_scope(session: AsyncSession, theme: str) -> tuple[str, str, tuple[str, ...]]:
    code = (theme or "").strip().upper()
    if not code:
        raise InvalidInput(
            "Name a theme: a theme code such as JUSTICE or a cluster such as ADMINISTRATION_OF_JUSTICE.", field="theme"
        )
    row = (await session.execute(sa.select(Theme.code, Theme.name).where(Theme.code == code))).first()
    if row is not None:
        return row.code, row.name, (row.code,)
    members = (
        (await session.execute(sa.select(Theme.code).where(Theme.cluster == code).order_by(Theme.code))).scalars().all()
    )
    if members:
        return code, _cluster_name(code), tuple(members)
    clusters = (await session.execute(sa.select(Theme.cluster).distinct().order_by(Theme.cluster))).scalars().all()
    raise InvalidInput(
        f"Unknown theme {theme.strip()[:64]!r}: use a theme code (see `themes`, e.g. JUSTICE) or a cluster: "
        f"{', '.join(clusters)}.",
        field="theme",
    )


async def _region_scope(session: AsyncSession, region: str | None) -> tuple[str | None, str | None, sa.Select | None]:
    if region is None:
        return None, None, None
    code = region.strip().upper()
    if code == "001":
        return code, "World", None
    if M49_CODE.match(code):
        for code_column, name_column in (
            (State.region_code, State.region_name),
            (State.sub_region_code, State.sub_region_name),
            (State.intermediate_region_code, State.intermediate_region_name),
        ):
            name = (await session.execute(sa.select(name_column).where(code_column == code).limit(1))).scalar()
            if name is not None:
                return code, name, sa.select(State.iso3).where(code_column == code)
    elif code in RegionalGroup.__members__:
        group = RegionalGroup(code)
        return code, GROUP_NAMES[group], sa.select(State.iso3).where(State.regional_group == group)
    groups = ", ".join(g.value for g in RegionalGroup)
    raise InvalidInput(
        f"Unknown region {region.strip()[:16]!r}: use a UN M49 region, sub-region or intermediate region code "
        f"(e.g. 002 Africa, 202 Sub-Saharan Africa; 001 is the world) or a UN regional group ({groups}).",
        field="region",
    )


def _check_period(period_start: date, period_end: date) -> None:
    if period_start > period_end:
        raise InvalidInput(
            f"The period starts after it ends ({period_start.isoformat()} > {period_end.isoformat()}); "
            "give `from` on or before `to`.",
            field="period",
        )
    if (period_end - period_start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("The period may cover at most 50 years.", field="period")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# -- engagements -----------------------------------------------------------------------------------


@dataclass
class _Engagement:
    match_id: int
    need_id: int
    need_title: str
    state_iso3: str
    organization_id: int
    stage: Stage
    agreed_amount: Decimal | None
    currency: str | None
    lessons: str | None
    completed_at: datetime | None


def _need_clauses(principal: Principal, scope: _Scope) -> list:
    clauses = [visible_needs(principal), AssistanceNeed.themes.overlap(list(scope.themes))]
    if scope.region_states is not None:
        clauses.append(AssistanceNeed.state_iso3.in_(scope.region_states))
    return clauses


async def _engagements(
    session: AsyncSession, principal: Principal, scope: _Scope, period_start: date, period_end: date
) -> list[_Engagement]:
    """Engagements in the theme, region and period that the caller may see, with their stage
    at the end of the period. Visibility and the period are decided in SQL."""
    t = MatchTransition

    def first(status: MatchStatus):
        return sa.func.min(t.occurred_at).filter(t.to_status == status)

    history = (
        sa.select(
            t.match_id,
            first(MatchStatus.AGREED).label("agreed_at"),
            first(MatchStatus.ACTIVE).label("active_at"),
            first(MatchStatus.COMPLETED).label("completed_at"),
            first(MatchStatus.WITHDRAWN).label("withdrawn_at"),
        )
        .group_by(t.match_id)
        .subquery()
    )

    def fallback(column, statuses: Iterable[MatchStatus]):
        """The dated move, or (no history) `updated_at` when the status says it happened."""
        return sa.func.coalesce(
            column, sa.case((Match.status.in_([s.value for s in statuses]), Match.updated_at), else_=None)
        )

    agreed_at = fallback(history.c.agreed_at, ENGAGED)
    active_at = fallback(history.c.active_at, (MatchStatus.ACTIVE, MatchStatus.COMPLETED))
    completed_at = fallback(history.c.completed_at, (MatchStatus.COMPLETED,))
    # Withdrawn counts only after agreement (a withdrawn proposal was never an engagement).
    withdrawn_at = sa.case(
        (sa.and_(Match.status == MatchStatus.WITHDRAWN, history.c.agreed_at.is_not(None)), history.c.withdrawn_at),
        else_=None,
    )
    ended_at = sa.func.coalesce(completed_at, withdrawn_at)
    start, end = _start_of(period_start), _start_of(period_end + timedelta(days=1))
    rows = (
        await session.execute(
            sa.select(
                Match.id,
                Match.need_id,
                AssistanceNeed.title,
                AssistanceNeed.state_iso3,
                Match.organization_id,
                Match.agreed_amount,
                Match.currency,
                Match.lessons_learned,
                active_at.label("active_at"),
                completed_at.label("completed_at"),
                withdrawn_at.label("withdrawn_at"),
            )
            .select_from(Match)
            .join(AssistanceNeed, AssistanceNeed.id == Match.need_id)
            .outerjoin(history, history.c.match_id == Match.id)
            .where(
                *_need_clauses(principal, scope),
                Match.status.in_([s.value for s in (*ENGAGED, MatchStatus.WITHDRAWN)]),
                agreed_at.is_not(None),
                agreed_at < end,
                sa.or_(ended_at.is_(None), ended_at >= start),
            )
            .order_by(Match.id)
        )
    ).all()
    engagements = []
    for r in rows:
        if r.completed_at is not None and r.completed_at < end:
            stage = Stage.COMPLETED
        elif r.withdrawn_at is not None and r.withdrawn_at < end:
            stage = Stage.WITHDRAWN
        elif r.active_at is not None and r.active_at < end:
            stage = Stage.ACTIVE
        else:
            stage = Stage.AGREED
        engagements.append(
            _Engagement(
                match_id=r.id,
                need_id=r.need_id,
                need_title=r.title,
                state_iso3=r.state_iso3,
                organization_id=r.organization_id,
                stage=stage,
                agreed_amount=r.agreed_amount,
                currency=r.currency,
                lessons=r.lessons_learned,
                completed_at=r.completed_at if stage is Stage.COMPLETED else None,
            )
        )
    return engagements


def _counts(engagements: Sequence[_Engagement]) -> StageCounts:
    by_stage = defaultdict(int)
    for e in engagements:
        by_stage[e.stage] += 1
    return StageCounts(
        agreed=by_stage[Stage.AGREED],
        active=by_stage[Stage.ACTIVE],
        completed=by_stage[Stage.COMPLETED],
        withdrawn=by_stage[Stage.WITHDRAWN],
    )


def _committed(engagements: Sequence[_Engagement]) -> _Sums:
    sums = _Sums()
    for e in engagements:
        if e.stage is not Stage.WITHDRAWN:
            sums.add(e.agreed_amount, e.currency)
    return sums


# -- open needs and gaps ----------------------------------------------------------------------------


async def _open_needs(
    session: AsyncSession, principal: Principal, scope: _Scope, period_end: date, rates: dict[str, CurrencyRate]
) -> tuple[list[OpenNeed], FundingGapSummary]:
    end = _start_of(period_end + timedelta(days=1))
    needs = (
        await session.execute(
            sa.select(
                AssistanceNeed.id,
                AssistanceNeed.state_iso3,
                AssistanceNeed.title,
                AssistanceNeed.status,
                AssistanceNeed.estimated_cost,
                AssistanceNeed.currency,
            )
            .where(
                *_need_clauses(principal, scope),
                AssistanceNeed.status.in_([s.value for s in OPEN_STATUSES]),
                sa.func.coalesce(AssistanceNeed.submitted_at, AssistanceNeed.created_at) < end,
            )
            .order_by(AssistanceNeed.state_iso3, AssistanceNeed.id)
        )
    ).all()
    committed: dict[int, _Sums] = defaultdict(_Sums)
    if needs:
        # The needs are visible (above); their engagements go with them.
        for need_id, currency, amount in (
            await session.execute(
                sa.select(Match.need_id, Match.currency, sa.func.sum(Match.agreed_amount))
                .where(Match.need_id.in_([n.id for n in needs]), Match.status.in_([s.value for s in ENGAGED]))
                .group_by(Match.need_id, Match.currency)
            )
        ).all():
            committed[need_id].add(amount, currency)

    rows: list[OpenNeed] = []
    requested_total, committed_total, gap_total = _Sums(), _Sums(), _Sums()
    without_cost = without_gap = 0
    for n in needs:
        sums = committed[n.id]
        committed_total.extend(sums)
        requested = Amount(n.estimated_cost, n.currency) if n.estimated_cost is not None else None
        gap = None
        if requested is None:
            without_cost += 1
        else:
            requested_total.add(requested.amount, requested.currency)
            covered = _in_currency(sums, requested.currency, rates)
            if covered is None:
                without_gap += 1
            else:
                gap = Amount(max(requested.amount - covered, Decimal(0)).quantize(CENT), requested.currency)
                gap_total.add(gap.amount, gap.currency)
        rows.append(
            OpenNeed(
                need_id=n.id,
                state_iso3=n.state_iso3,
                state_name=n.state_iso3,
                title=n.title,
                status=NeedStatus(n.status),
                requested=requested,
                committed=sums.amounts(rates),
                gap=gap,
            )
        )
    summary = FundingGapSummary(
        open_needs=len(rows),
        requested=requested_total.amounts(rates),
        committed=committed_total.amounts(rates),
        gap=gap_total.amounts(rates),
        needs_without_cost=without_cost,
        needs_without_gap=without_gap,
    )
    return rows, summary


def _in_currency(sums: _Sums, currency: str, rates: dict[str, CurrencyRate]) -> Decimal | None:
    """The sums in one currency: as they are when already in it, converted through USD only
    when both currencies have a rate; None when that is not possible."""
    total = Decimal(0)
    for other, amount in sums.sums.items():
        if other == currency:
            total += amount
        elif other in rates and currency in rates:
            total += amount * rates[other].usd_per_unit / rates[currency].usd_per_unit
        else:
            return None
    return total


def _gap_order(need: OpenNeed, rates: dict[str, CurrencyRate]) -> tuple:
    """Largest gap first, gaps compared in USD (a gap in a currency without a rate, or no gap
    known, after those that compare)."""
    if need.gap is not None and need.gap.currency in rates:
        return (0, -(need.gap.amount * rates[need.gap.currency].usd_per_unit), need.state_iso3, need.need_id)
    return (1 if need.gap is not None else 2, Decimal(0), need.state_iso3, need.need_id)


# -- the report ------------------------------------------------------------------------------------


async def item10_report(
    *,
    session: AsyncSession,
    principal: Principal,
    theme: str,
    period_start: date,
    period_end: date,
    region: str | None = None,
) -> Item10Report:
    """The Item 10 report for a theme (code or cluster), a period (inclusive dates) and,
    optionally, a region, over what the caller may see. Read only."""
    _check_period(period_start, period_end)
    theme_code, theme_name, theme_codes = await _theme_scope(session, theme)
    region_code, region_name, region_states = await _region_scope(session, region)
    scope = _Scope(theme_code, theme_name, theme_codes, region_code, region_name, region_states)

    rates = {r.currency: r for r in (await session.execute(sa.select(CurrencyRate))).scalars()}
    engagements = await _engagements(session, principal, scope, period_start, period_end)
    open_needs, gap = await _open_needs(session, principal, scope, period_end, rates)

    org_ids = sorted({e.organization_id for e in engagements})
    organizations = (
        {
            o.id: o
            for o in (await session.execute(sa.select(Organization).where(Organization.id.in_(org_ids)))).scalars()
        }
        if org_ids
        else {}
    )
    state_codes = sorted({e.state_iso3 for e in engagements} | {n.state_iso3 for n in open_needs})
    state_names = (
        dict((await session.execute(sa.select(State.iso3, State.name_en).where(State.iso3.in_(state_codes)))).all())
        if state_codes
        else {}
    )

    per_org: dict[int, list[_Engagement]] = defaultdict(list)
    per_state: dict[str, list[_Engagement]] = defaultdict(list)
    for e in engagements:
        per_org[e.organization_id].append(e)
        per_state[e.state_iso3].append(e)

    by_organization = [
        OrganizationEngagements(
            organization_id=org_id,
            name=organizations[org_id].name,
            acronym=organizations[org_id].acronym,
            category=organizations[org_id].category.value,
            engagements=_counts(items),
            committed=_committed(items).amounts(rates),
            states=tuple(sorted({e.state_iso3 for e in items})),
        )
        for org_id, items in per_org.items()
    ]
    by_organization.sort(key=lambda o: (-o.engagements.total, o.name, o.organization_id))
    by_state = [
        StateEngagements(
            state_iso3=code,
            name=state_names.get(code, code),
            engagements=_counts(items),
            committed=_committed(items).amounts(rates),
            organizations=tuple(sorted({organizations[e.organization_id].name for e in items})),
        )
        for code, items in per_state.items()
    ]
    by_state.sort(key=lambda s: (-s.engagements.total, s.name))
    lessons = sorted(
        (
            Lesson(
                match_id=e.match_id,
                need_id=e.need_id,
                need_title=e.need_title,
                state_iso3=e.state_iso3,
                state_name=state_names.get(e.state_iso3, e.state_iso3),
                organization_name=organizations[e.organization_id].name,
                completed_on=e.completed_at.date(),
                text=e.lessons,
            )
            for e in engagements
            if e.stage is Stage.COMPLETED and e.lessons and e.completed_at is not None
        ),
        key=lambda lesson: (lesson.completed_on, lesson.match_id),
        reverse=True,
    )
    open_needs = [replace(n, state_name=state_names.get(n.state_iso3, n.state_iso3)) for n in open_needs]
    open_needs.sort(key=lambda n: _gap_order(n, rates))
    used = {a.currency for a in _committed(engagements).amounts(rates).by_currency}
    used |= {a.currency for a in (*gap.requested.by_currency, *gap.committed.by_currency)}
    return Item10Report(
        theme_code=theme_code,
        theme_name=theme_name,
        theme_codes=theme_codes,
        period_start=period_start,
        period_end=period_end,
        region_code=region_code,
        region_name=region_name,
        generated_at=datetime.now(UTC),
        engagements=_counts(engagements),
        committed=_committed(engagements).amounts(rates),
        by_organization=tuple(by_organization),
        by_state=tuple(by_state),
        lessons=tuple(lessons),
        open_needs=tuple(open_needs),
        funding_gap=gap,
        exchange_rates=tuple(
            ExchangeRate(c, rates[c].usd_per_unit, rates[c].as_of) for c in sorted(used) if c in rates
        ),
    )


__all__ = [
    "Amount",
    "Amounts",
    "ExchangeRate",
    "FundingGapSummary",
    "Item10Report",
    "Lesson",
    "OpenNeed",
    "OrganizationEngagements",
    "Stage",
    "StageCounts",
    "StateEngagements",
    "item10_report",
]
