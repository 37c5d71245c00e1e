"""Fund rounds, criteria versions, applications, scoring, the allocation proposal and its
approval. Plain async functions over the database, like every domain module.

Who sees what:
- A DRAFT round: Fund administrators and administrators only; from OPEN on, everyone.
- Applications are the applying State's data: until the round is ALLOCATED only that State's
  focal points, Fund administrators and administrators see them (and their scores). Once a
  Fund administrator approves the allocation, every application, its decision and its scores
  are public: the decision report.
- Linked needs are shown through the caller's need visibility (graphql_schema loads them with
  `visible_needs`); scoring counts only linked needs visible to partners, and explanations
  give counts and sums, never a need's title, so a PRIVATE need leaks through no fund path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from service import audit
from service.access.policy import NeedAccess, approves_allocations, manages_fund, need_access
from service.access.principals import Principal
from service.errors import Collector, Forbidden, NotFound, Unauthenticated
from service.events.outbox import Kind, emit
from service.fund import allocation
from service.fund.criteria import CRITERIA, CRITERIA_BY_KEY, ApplicationFacts, default_weights, score_application
from service.matching.lifecycle import FUNDED
from service.models import (
    AssistanceNeed,
    CurrencyRate,
    FundApplication,
    FundApplicationNeed,
    FundCriteriaVersion,
    FundRound,
    FundRoundStatus,
    FundScore,
    NeedRecommendation,
    Recommendation,
    State,
)
from service.models.enums import RecommendationResponse, Visibility
from service.models.matching import Match
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate

MAX_NAME = 200
MAX_TITLE = 300
MAX_TEXT = 20_000
MAX_NOTE = 10_000
MAX_AMOUNT = Decimal("99999999999999.99")  # numeric(16, 2)
MAX_LINKED_NEEDS = 50


# -- who may do what --------------------------------------------------------------------------


def is_fund_manager(principal: Principal) -> bool:
    """Fund administrators and administrators see every round and application."""
    return manages_fund(principal)


def _require_manager(principal: Principal, what: str) -> None:
    if principal.is_anonymous:
        raise Unauthenticated(f"{what} is for Fund administrators; sign in with a Fund administrator key.")
    if not is_fund_manager(principal):
        raise Forbidden(f"Only Fund administrators (and administrators) may {what[0].lower() + what[1:]}.")


def visible_rounds(principal: Principal) -> ColumnElement[bool]:
    if is_fund_manager(principal):
        return sa.true()
    return FundRound.status != FundRoundStatus.DRAFT


def visible_applications(principal: Principal) -> ColumnElement[bool]:
    """The State's data until the round is allocated; public after (the decision report).
    Composed with a join to fund_round."""
    if is_fund_manager(principal):
        return sa.true()
    allocated = FundRound.status == FundRoundStatus.ALLOCATED
    if need_access(principal) is NeedAccess.OWN_STATE:  # a State's focal points: their own applications
        return sa.or_(allocated, FundApplication.state_iso3 == principal.state_iso3)
    return allocated


# -- validation helpers ------------------------------------------------------------------------


def _amount(errors: Collector, field: str, value: Decimal | None, *, positive: bool) -> Decimal | None:
    if value is None:
        return None
    try:
        value = Decimal(value)
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, TypeError, ValueError):
        errors.add(field, "Give a decimal amount, e.g. 50000.00.", "INVALID")
        return None
    if value < 0 or (positive and value == 0):
        errors.add(
            field, "The amount must be greater than 0." if positive else "The amount cannot be negative.", "NEGATIVE"
        )
        return None
    if value != value.quantize(Decimal("0.01")):
        errors.add(field, "At most 2 decimals.", "INVALID")
        return None
    if value > MAX_AMOUNT:
        errors.add(field, f"At most {MAX_AMOUNT}.", "TOO_LARGE")
        return None
    return value


def _text(errors: Collector, field: str, value: str | None, maximum: int, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        errors.add(field, "Required.", "REQUIRED")
    elif len(value) > maximum:
        errors.add(field, f"At most {maximum} characters; got {len(value)}.", "TOO_LONG")
    return value


async def _currency(session: AsyncSession, errors: Collector, field: str, code: str | None) -> str | None:
    code = (code or "").strip().upper()
    if not code:
        errors.add(field, "Give an ISO 4217 currency code, e.g. USD.", "REQUIRED")
        return None
    if len(code) != 3 or await session.get(CurrencyRate, code) is None:
        errors.add(
            field,
            f"Unknown currency {code[:10]!r} (an ISO 4217 code with a rate in the rate table, e.g. USD).",
            "UNKNOWN_CODE",
        )
        return None
    return code


def validate_weights(errors: Collector, field: str, weights: dict[str, float]) -> dict[str, float]:
    """Every published criterion gets a weight (0 to switch one off); at least one is positive."""
    unknown = sorted(set(weights) - set(CRITERIA_BY_KEY))
    if unknown:
        errors.add(
            field,
            f"Unknown criteria {', '.join(unknown)}; the criteria are {', '.join(CRITERIA_BY_KEY)}.",
            "UNKNOWN_CODE",
        )
    missing = [c.key for c in CRITERIA if c.key not in weights]
    if missing:
        errors.add(
            field,
            f"Give a weight for every criterion (0 to switch one off); missing: {', '.join(missing)}.",
            "REQUIRED",
        )
    bad = sorted(k for k, v in weights.items() if not isinstance(v, (int, float)) or v != v or v < 0 or v > 1000)
    if bad:
        errors.add(field, f"Weights are numbers from 0 to 1000; not {', '.join(bad)}.", "INVALID")
    if not unknown and not missing and not bad and sum(weights.values()) <= 0:
        errors.add(field, "At least one weight must be greater than 0.", "INVALID")
    return {c.key: float(weights.get(c.key, 0.0)) for c in CRITERIA}


async def _round_for_update(session: AsyncSession, principal: Principal, round_id: int) -> FundRound:
    row = await session.get(FundRound, round_id, with_for_update=True)
    if row is None or (row.status is FundRoundStatus.DRAFT and not is_fund_manager(principal)):
        raise NotFound(f"No Fund round with ID {round_id} (or you may not see it).", field="roundId")
    return row


def _emit_round(session: AsyncSession, row: FundRound, kind: str, **payload) -> None:
    """Rounds are public from OPEN on: their events carry no State and no application."""
    emit(
        session,
        kind,
        "FundRound",
        row.id,
        payload={"status": row.status.value, "criteria_version": row.criteria_version, **payload},
    )


# -- rounds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundFields:
    name: str
    budget: Decimal
    currency: str
    opens_on: date
    closes_on: date
    description: str = ""
    min_partial_share: Decimal | None = None
    weights: dict[str, float] | None = None
    note: str = ""


async def create_round(*, session: AsyncSession, principal: Principal, values: RoundFields) -> FundRound:
    """A DRAFT round with criteria version 1 (the given weights, or the defaults)."""
    _require_manager(principal, "Creating Fund rounds")
    errors = Collector()
    name = _text(errors, "name", values.name, MAX_NAME, required=True)
    description = _text(errors, "description", values.description, MAX_TEXT, required=False)
    note = _text(errors, "note", values.note, MAX_NOTE, required=False)
    budget = _amount(errors, "budget.amount", values.budget, positive=True)
    currency = await _currency(session, errors, "budget.currency", values.currency)
    if values.closes_on < values.opens_on:
        errors.add("closesOn", "The window closes before it opens.", "INVALID")
    share = Decimal(values.min_partial_share) if values.min_partial_share is not None else Decimal("0.5")
    if not share.is_finite() or not Decimal(0) < share <= Decimal(1) or share != share.quantize(Decimal("0.001")):
        errors.add("minPartialShare", "A share above 0 and at most 1, with at most 3 decimals (e.g. 0.5).", "INVALID")
    weights = validate_weights(errors, "weights", values.weights) if values.weights is not None else default_weights()
    if name:
        # Two creations of the same name wait for each other here, so the second gets DUPLICATE
        # rather than a unique violation.
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("fund_round:" + name))))
    if name and await session.scalar(sa.select(sa.exists().where(FundRound.name == name))):
        errors.add("name", f"A round named {name!r} already exists.", "DUPLICATE")
    errors.raise_if_any()
    row = FundRound(
        name=name,
        description=description,
        budget=budget,
        currency=currency,
        opens_on=values.opens_on,
        closes_on=values.closes_on,
        min_partial_share=Decimal(share),
        criteria_version=1,
    )
    session.add(row)
    await session.flush()
    session.add(
        FundCriteriaVersion(
            round_id=row.id, version=1, weights=weights, note=note or "initial criteria", created_by=principal.actor
        )
    )
    await session.flush()
    await audit.record(
        session,
        principal=principal,
        entity_type="FundRound",
        entity_id=row.id,
        action="create",
        after={**audit.snapshot(row), "weights": weights},
    )
    return row


TRANSITIONS = {FundRoundStatus.OPEN: FundRoundStatus.DRAFT, FundRoundStatus.CLOSED: FundRoundStatus.OPEN}


async def change_round_status(
    *, session: AsyncSession, principal: Principal, round_id: int, to: FundRoundStatus
) -> FundRound:
    """DRAFT → OPEN → CLOSED (ALLOCATED only by approval). Closing rescores every application
    under the criteria in force, on the data of that moment: the proposal ranks those scores."""
    _require_manager(principal, "Opening and closing Fund rounds")
    row = await _round_for_update(session, principal, round_id)
    if TRANSITIONS.get(to) is not row.status:
        errors = Collector()
        errors.add(
            "roundId",
            f"A {row.status.value} round cannot become {to.value} "
            f"(DRAFT → OPEN → CLOSED; ALLOCATED by approving the allocation).",
            "INVALID_TRANSITION",
        )
        errors.raise_if_any()
    before = row.status
    row.status = to
    row.updated_at = datetime.now(UTC)
    if to is FundRoundStatus.CLOSED:
        await rescore(session=session, fund_round=row, version=row.criteria_version)
    await session.flush()
    await audit.record(
        session,
        principal=principal,
        entity_type="FundRound",
        entity_id=row.id,
        action="status",
        before={"status": before},
        after={"status": to},
    )
    _emit_round(session, row, Kind.FUND_ROUND_OPENED if to is FundRoundStatus.OPEN else Kind.FUND_ROUND_CLOSED)
    return row


@dataclass(frozen=True)
class Movement:
    application_id: int
    state_iso3: str
    previous_rank: int | None
    rank: int
    previous_score: float | None
    score: float

    @property
    def moved(self) -> int | None:
        """Places gained (positive) or lost; None when it was not ranked before."""
        return None if self.previous_rank is None else self.previous_rank - self.rank


async def set_weights(
    *,
    session: AsyncSession,
    principal: Principal,
    round_id: int,
    weights: dict[str, float],
    note: str,
) -> tuple[FundRound, FundCriteriaVersion, list[Movement]]:
    """Publish a new criteria version: every application is rescored under it, and what moved
    is reported (rank and score under the previous version and this one)."""
    _require_manager(principal, "Changing the Fund's criteria")
    row = await _round_for_update(session, principal, round_id)
    errors = Collector()
    clean = validate_weights(errors, "weights", weights)
    note = _text(errors, "note", note, MAX_NOTE, required=True)
    if row.status is FundRoundStatus.ALLOCATED:
        errors.add("roundId", "The round is allocated: its criteria are final.", "ROUND_ALLOCATED")
    errors.raise_if_any()
    current = await criteria_version(session=session, round_id=row.id, version=row.criteria_version)
    if current is not None and current.weights == clean:
        errors.add("weights", f"These are the weights of version {row.criteria_version} already.", "UNCHANGED")
        errors.raise_if_any()
    previous = row.criteria_version
    row.criteria_version = previous + 1
    row.updated_at = datetime.now(UTC)
    version = FundCriteriaVersion(
        round_id=row.id, version=row.criteria_version, weights=clean, note=note, created_by=principal.actor
    )
    session.add(version)
    await session.flush()
    await rescore(session=session, fund_round=row, version=row.criteria_version)
    moved = await movements(session=session, round_id=row.id, from_version=previous, to_version=row.criteria_version)
    await audit.record(
        session,
        principal=principal,
        entity_type="FundRound",
        entity_id=row.id,
        action="criteria",
        before={"version": previous, "weights": current.weights if current else None},
        after={"version": row.criteria_version, "weights": clean, "note": note},
        reason=note,
    )
    if row.status is not FundRoundStatus.DRAFT:
        _emit_round(session, row, Kind.FUND_CRITERIA_CHANGED)
    return row, version, moved


async def criteria_version(*, session: AsyncSession, round_id: int, version: int) -> FundCriteriaVersion | None:
    return (
        await session.execute(
            sa.select(FundCriteriaVersion).where(
                FundCriteriaVersion.round_id == round_id, FundCriteriaVersion.version == version
            )
        )
    ).scalar_one_or_none()


async def criteria_versions(*, session: AsyncSession, round_ids: Sequence[int]) -> dict[int, list[FundCriteriaVersion]]:
    rows = (
        (
            await session.execute(
                sa.select(FundCriteriaVersion)
                .where(FundCriteriaVersion.round_id.in_(list(round_ids)))
                .order_by(FundCriteriaVersion.round_id, FundCriteriaVersion.version)
            )
        )
        .scalars()
        .all()
    )
    result: dict[int, list[FundCriteriaVersion]] = {}
    for r in rows:
        result.setdefault(r.round_id, []).append(r)
    return result


def _round_select(principal: Principal):
    return sa.select(FundRound).where(visible_rounds(principal))


def round_ordering() -> Ordering:
    return Ordering(
        "fundRounds:OPENS_ON:DESC",
        (SortKey("opens", FundRound.opens_on, True, "date"), SortKey("id", FundRound.id, True, "int")),
    )


async def list_rounds(
    *,
    session: AsyncSession,
    principal: Principal,
    statuses: Sequence[FundRoundStatus] | None = None,
    page: PageArgs = PageArgs(),
) -> Page[FundRound]:
    stmt = _round_select(principal)
    if statuses is not None:
        stmt = stmt.where(FundRound.status.in_(list(statuses)))
    return await paginate(session, stmt, round_ordering(), page)


async def count_rounds(
    *, session: AsyncSession, principal: Principal, statuses: Sequence[FundRoundStatus] | None = None
) -> int:
    stmt = _round_select(principal)
    if statuses is not None:
        stmt = stmt.where(FundRound.status.in_(list(statuses)))
    return await count(session, stmt)


async def get_rounds(*, session: AsyncSession, principal: Principal, ids: Sequence[int]) -> dict[int, FundRound]:
    rows = (await session.execute(_round_select(principal).where(FundRound.id.in_(list(ids))))).scalars().all()
    return {r.id: r for r in rows}


async def find_round(*, session: AsyncSession, principal: Principal, key: str) -> FundRound:
    """A round by ID number or exact name (the CLI's ROUND argument)."""
    stmt = _round_select(principal)
    stmt = (
        stmt.where(FundRound.id == int(key)) if key.isdigit() and len(key) <= 18 else stmt.where(FundRound.name == key)
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No Fund round {key!r} (or you may not see it).")
    return row


# -- applications ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationFields:
    round_id: int
    state_iso3: str
    title: str
    requested: Decimal
    currency: str
    co_financing: Decimal = Decimal(0)
    summary: str = ""
    need_ids: Sequence[int] = ()


async def submit_application(
    *, session: AsyncSession, principal: Principal, values: ApplicationFields
) -> FundApplication:
    """A State's focal point applies for its own State, while the round is OPEN and within its
    window; one application per State and round. It is scored at once under the criteria in force."""
    if principal.is_anonymous:
        raise Unauthenticated("Applying to the Fund is for State focal points; sign in with a focal point key.")
    state = (values.state_iso3 or "").strip().upper()
    if not principal.is_focal_point_of(state):
        raise Forbidden("Only a focal point of the applying State may apply for it.")
    row = await _round_for_update(session, principal, values.round_id)
    errors = Collector()
    title = _text(errors, "title", values.title, MAX_TITLE, required=True)
    summary = _text(errors, "summary", values.summary, MAX_TEXT, required=False)
    requested = _amount(errors, "requested.amount", values.requested, positive=True)
    co_financing = _amount(errors, "coFinancing", values.co_financing, positive=False)
    currency = (values.currency or "").strip().upper()
    if currency != row.currency:
        errors.add("requested.currency", f"Apply in the round's currency, {row.currency}.", "CURRENCY_MISMATCH")
    today = datetime.now(UTC).date()
    if row.status is not FundRoundStatus.OPEN:
        errors.add(
            "roundId", f"The round is {row.status.value}: applications are taken while it is OPEN.", "ROUND_NOT_OPEN"
        )
    elif not row.opens_on <= today <= row.closes_on:
        errors.add("roundId", f"Applications are taken from {row.opens_on} to {row.closes_on}.", "OUTSIDE_WINDOW")
    need_ids = sorted(set(values.need_ids))
    if len(need_ids) > MAX_LINKED_NEEDS:
        errors.add("needIds", f"Link at most {MAX_LINKED_NEEDS} needs.", "TOO_MANY")
    elif need_ids:
        own = set(
            (
                await session.execute(
                    sa.select(AssistanceNeed.id).where(
                        AssistanceNeed.id.in_(need_ids), AssistanceNeed.state_iso3 == state
                    )
                )
            ).scalars()
        )
        if set(need_ids) - own:
            # Another State's need is reported as unknown: its existence is not ours to confirm.
            errors.add("needIds", f"{len(set(need_ids) - own)} of the needs are not needs of {state}.", "UNKNOWN_NEED")
    if await session.scalar(
        sa.select(sa.exists().where(FundApplication.round_id == row.id, FundApplication.state_iso3 == state))
    ):
        errors.add("roundId", f"{state} has already applied to this round.", "DUPLICATE")
    errors.raise_if_any()
    application = FundApplication(
        round_id=row.id,
        state_iso3=state,
        title=title,
        summary=summary,
        requested_amount=requested,
        co_financing=co_financing or Decimal(0),
        currency=row.currency,
    )
    session.add(application)
    await session.flush()
    for need_id in need_ids:
        session.add(FundApplicationNeed(application_id=application.id, need_id=need_id))
    await session.flush()
    await rescore(session=session, fund_round=row, version=row.criteria_version, application_ids=[application.id])
    # Audited, but no event: until the allocation the application is the State's data, and
    # events without a need are delivered to every subscriber.
    await audit.record(
        session,
        principal=principal,
        entity_type="FundApplication",
        entity_id=application.id,
        action="create",
        after={**audit.snapshot(application), "need_ids": need_ids},
    )
    return application


def _application_select(principal: Principal):
    return (
        sa.select(FundApplication)
        .join(FundRound, FundRound.id == FundApplication.round_id)
        .where(visible_rounds(principal), visible_applications(principal))
    )


async def get_applications(
    *, session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, FundApplication]:
    rows = (
        (await session.execute(_application_select(principal).where(FundApplication.id.in_(list(ids))))).scalars().all()
    )
    return {r.id: r for r in rows}


def _current_score():
    """The score under the round's criteria in force (the list joins fund_round)."""
    return (
        sa.select(FundScore.score)
        .where(FundScore.application_id == FundApplication.id, FundScore.criteria_version == FundRound.criteria_version)
        .correlate(FundApplication, FundRound)
        .scalar_subquery()
    )


def application_ordering() -> Ordering:
    """Rank order: the score under the criteria in force, ties by the earlier application."""
    score = sa.func.coalesce(_current_score(), 0.0)
    return Ordering(
        "fundApplications:SCORE:DESC",
        (SortKey("score", score, True, "float"), SortKey("id", FundApplication.id, False, "int")),
    )


async def list_applications(
    *,
    session: AsyncSession,
    principal: Principal,
    round_ids: Sequence[int] | None = None,
    states: Sequence[str] | None = None,
    page: PageArgs = PageArgs(),
) -> Page[FundApplication]:
    return await paginate(session, _filtered_applications(principal, round_ids, states), application_ordering(), page)


async def count_applications(
    *,
    session: AsyncSession,
    principal: Principal,
    round_ids: Sequence[int] | None = None,
    states: Sequence[str] | None = None,
) -> int:
    return await count(session, _filtered_applications(principal, round_ids, states))


def _filtered_applications(principal: Principal, round_ids, states):
    stmt = _application_select(principal)
    if round_ids is not None:
        stmt = stmt.where(FundApplication.round_id.in_(list(round_ids)))
    if states is not None:
        stmt = stmt.where(FundApplication.state_iso3.in_([s.upper() for s in states]))
    return stmt


async def scores_of(
    *, session: AsyncSession, application_ids: Sequence[int], version: int | None = None
) -> dict[int, FundScore]:
    """Each application's score under `version`, or under its round's version in force.
    Callers pass applications already loaded under the caller's visibility."""
    stmt = (
        sa.select(FundScore)
        .join(FundApplication, FundApplication.id == FundScore.application_id)
        .where(FundScore.application_id.in_(list(application_ids)))
    )
    if version is None:
        stmt = stmt.join(FundRound, FundRound.id == FundApplication.round_id).where(
            FundScore.criteria_version == FundRound.criteria_version
        )
    else:
        stmt = stmt.where(FundScore.criteria_version == version)
    return {s.application_id: s for s in (await session.execute(stmt)).scalars()}


async def linked_need_ids(*, session: AsyncSession, application_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = (
        await session.execute(
            sa.select(FundApplicationNeed.application_id, FundApplicationNeed.need_id)
            .where(FundApplicationNeed.application_id.in_(list(application_ids)))
            .order_by(FundApplicationNeed.need_id)
        )
    ).all()
    result: dict[int, list[int]] = {}
    for application_id, need_id in rows:
        result.setdefault(application_id, []).append(need_id)
    return result


# -- scoring -----------------------------------------------------------------------------------


def _rate(currency) -> ColumnElement:
    return sa.select(CurrencyRate.usd_per_unit).where(CurrencyRate.currency == currency).scalar_subquery()


async def gather_facts(
    *, session: AsyncSession, fund_round: FundRound, applications: Sequence[FundApplication]
) -> dict[int, ApplicationFacts]:
    """Everything the criteria need, in one query per kind of fact."""
    states = sorted({a.state_iso3 for a in applications})
    ids = [a.id for a in applications]
    state_rows = {s.iso3: s for s in (await session.execute(sa.select(State).where(State.iso3.in_(states)))).scalars()}
    shared = AssistanceNeed.visibility.in_([Visibility.PARTNERS, Visibility.PUBLIC])
    funded_link = sa.exists().where(
        NeedRecommendation.recommendation_id == Recommendation.id,
        AssistanceNeed.id == NeedRecommendation.need_id,
        shared,
        sa.exists().where(Match.need_id == AssistanceNeed.id, Match.status.in_(list(FUNDED))),
    )
    recs = {
        r.state_iso3: (r.accepted, r.unsupported)
        for r in (
            await session.execute(
                sa.select(
                    Recommendation.state_iso3,
                    sa.func.count().label("accepted"),
                    sa.func.count().filter(~funded_link).label("unsupported"),
                )
                .where(
                    Recommendation.state_iso3.in_(states), Recommendation.response == RecommendationResponse.SUPPORTED
                )
                .group_by(Recommendation.state_iso3)
            )
        )
    }
    funded_usd = sa.func.coalesce(
        sa.select(sa.func.sum(Match.agreed_amount * _rate(Match.currency)))
        .where(Match.need_id == AssistanceNeed.id, Match.status.in_(list(FUNDED)))
        .scalar_subquery(),
        0,
    )
    cost_usd = AssistanceNeed.estimated_cost * _rate(AssistanceNeed.currency)
    counted = sa.and_(shared, cost_usd.is_not(None))
    needs = {
        r.application_id: r
        for r in (
            await session.execute(
                sa.select(
                    FundApplicationNeed.application_id,
                    sa.func.count().filter(counted).label("counted"),
                    sa.func.count().filter(~counted | cost_usd.is_(None)).label("not_counted"),
                    sa.func.coalesce(sa.func.sum(cost_usd).filter(counted), 0).label("cost"),
                    sa.func.coalesce(sa.func.sum(sa.func.greatest(cost_usd - funded_usd, 0)).filter(counted), 0).label(
                        "gap"
                    ),
                )
                .join(AssistanceNeed, AssistanceNeed.id == FundApplicationNeed.need_id)
                .where(FundApplicationNeed.application_id.in_(ids))
                .group_by(FundApplicationNeed.application_id)
            )
        )
    }
    prior = dict(
        (
            await session.execute(
                sa.select(
                    FundApplication.state_iso3,
                    sa.func.coalesce(
                        sa.func.sum(FundApplication.allocated_amount * _rate(FundApplication.currency)), 0
                    ),
                )
                .join(FundRound, FundRound.id == FundApplication.round_id)
                .where(
                    FundApplication.state_iso3.in_(states),
                    FundRound.status == FundRoundStatus.ALLOCATED,
                    FundRound.id != fund_round.id,
                    FundRound.opens_on < fund_round.opens_on,
                )
                .group_by(FundApplication.state_iso3)
            )
        ).all()
    )
    budget_usd = (
        await session.scalar(sa.select(sa.literal(fund_round.budget) * _rate(fund_round.currency)))
    ) or Decimal(0)
    facts = {}
    for a in applications:
        state = state_rows[a.state_iso3]
        accepted, unsupported = recs.get(a.state_iso3, (0, 0))
        linked = needs.get(a.id)
        facts[a.id] = ApplicationFacts(
            state_name=state.name_en,
            is_ldc=state.is_ldc,
            is_sids=state.is_sids,
            is_lldc=state.is_lldc,
            accepted_recommendations=accepted,
            unsupported_recommendations=unsupported,
            linked_cost_usd=Decimal(linked.cost) if linked else Decimal(0),
            linked_gap_usd=Decimal(linked.gap) if linked else Decimal(0),
            needs_counted=linked.counted if linked else 0,
            needs_not_counted=linked.not_counted if linked else 0,
            prior_support_usd=Decimal(prior.get(a.state_iso3, 0)),
            round_budget_usd=Decimal(budget_usd),
            requested=a.requested_amount,
            co_financing=a.co_financing,
            currency=a.currency,
        )
    return facts


async def rescore(
    *, session: AsyncSession, fund_round: FundRound, version: int, application_ids: Sequence[int] | None = None
) -> None:
    """Score the round's applications (or some of them) under `version` and store the result
    (replacing an earlier score under the same version)."""
    stmt = sa.select(FundApplication).where(FundApplication.round_id == fund_round.id)
    if application_ids is not None:
        stmt = stmt.where(FundApplication.id.in_(list(application_ids)))
    applications = list((await session.execute(stmt)).scalars())
    if not applications:
        return
    weights = (await criteria_version(session=session, round_id=fund_round.id, version=version)).weights
    facts = await gather_facts(session=session, fund_round=fund_round, applications=applications)
    await session.execute(
        sa.delete(FundScore).where(
            FundScore.criteria_version == version, FundScore.application_id.in_([a.id for a in applications])
        )
    )
    for a in applications:
        score, breakdown = score_application(facts[a.id], weights)
        session.add(FundScore(application_id=a.id, criteria_version=version, score=score, breakdown=breakdown))
    await session.flush()


async def _ranking(session: AsyncSession, round_id: int, version: int) -> dict[int, tuple[int, float, str]]:
    rows = (
        await session.execute(
            sa.select(FundApplication.id, FundApplication.state_iso3, FundScore.score)
            .join(FundScore, FundScore.application_id == FundApplication.id)
            .where(FundApplication.round_id == round_id, FundScore.criteria_version == version)
        )
    ).all()
    ranked = allocation.rank([allocation.Candidate(r.id, r.score, Decimal(0)) for r in rows])
    states = {r.id: r.state_iso3 for r in rows}
    return {
        c.application_id: (position, c.score, states[c.application_id]) for position, c in enumerate(ranked, start=1)
    }


async def movements(*, session: AsyncSession, round_id: int, from_version: int, to_version: int) -> list[Movement]:
    """Rank and score of each application under two criteria versions, in the new rank order."""
    before = await _ranking(session, round_id, from_version)
    after = await _ranking(session, round_id, to_version)
    result = []
    for application_id, (position, score, state) in sorted(after.items(), key=lambda item: item[1][0]):
        old = before.get(application_id)
        result.append(
            Movement(application_id, state, old[0] if old else None, position, old[1] if old else None, score)
        )
    return result


async def criteria_changes(
    *, session: AsyncSession, principal: Principal, fund_round: FundRound, from_version: int, to_version: int
) -> list[Movement]:
    """What moved between two versions: rankings name States, so before the allocation only
    Fund managers see them."""
    if fund_round.status is not FundRoundStatus.ALLOCATED:
        _require_manager(principal, "Comparing rankings before the allocation")
    versions = set(
        (
            await session.execute(
                sa.select(FundCriteriaVersion.version).where(FundCriteriaVersion.round_id == fund_round.id)
            )
        ).scalars()
    )
    errors = Collector()
    for field, value in (("fromVersion", from_version), ("toVersion", to_version)):
        if value not in versions:
            errors.add(
                field,
                f"The round has criteria versions {', '.join(map(str, sorted(versions)))}; not {value}.",
                "NOT_FOUND",
            )
    if errors.errors:
        from service.errors import InvalidInput

        raise InvalidInput(errors.errors[0].message, field=errors.errors[0].field)
    return await movements(session=session, round_id=fund_round.id, from_version=from_version, to_version=to_version)


# -- allocation ---------------------------------------------------------------------------------


async def proposal(
    *, session: AsyncSession, principal: Principal, fund_round: FundRound
) -> list[allocation.Allocation]:
    """The ranked allocation within the budget, from the scores under the criteria in force.
    Before approval it is the Fund managers'; after, it is the decisions as approved (public)."""
    if fund_round.status is FundRoundStatus.ALLOCATED:
        rows = (
            (
                await session.execute(
                    sa.select(FundApplication)
                    .where(FundApplication.round_id == fund_round.id)
                    .order_by(FundApplication.final_rank, FundApplication.id)
                )
            )
            .scalars()
            .all()
        )
        return [
            allocation.Allocation(
                r.id,
                r.final_rank,
                r.final_score,
                r.requested_amount,
                r.decision,
                r.allocated_amount,
                r.decision_reason or "",
            )
            for r in rows
        ]
    _require_manager(principal, "Seeing the allocation proposal")
    rows = (
        await session.execute(
            sa.select(FundApplication.id, FundApplication.requested_amount, FundScore.score)
            .join(
                FundScore,
                sa.and_(
                    FundScore.application_id == FundApplication.id,
                    FundScore.criteria_version == fund_round.criteria_version,
                ),
            )
            .where(FundApplication.round_id == fund_round.id)
        )
    ).all()
    return allocation.allocate(
        [allocation.Candidate(r.id, r.score, r.requested_amount) for r in rows],
        budget=fund_round.budget,
        min_partial_share=fund_round.min_partial_share,
        currency=fund_round.currency,
    )


async def approve_allocation(
    *, session: AsyncSession, principal: Principal, round_id: int, criteria_version: int, note: str = ""
) -> FundRound:
    """A Fund administrator approves the proposal for a CLOSED round, naming the criteria
    version they reviewed (a proposal under other weights is not approved by mistake). Every
    decision, with its rank, score and reason, is written and becomes public."""
    if principal.is_anonymous:
        raise Unauthenticated(
            "Approving an allocation is for Fund administrators; sign in with a Fund administrator key."
        )
    if not approves_allocations(principal):
        raise Forbidden("Only a Fund administrator may approve an allocation.")
    row = await _round_for_update(session, principal, round_id)
    errors = Collector()
    note = _text(errors, "note", note, MAX_NOTE, required=False)
    if row.status is not FundRoundStatus.CLOSED:
        errors.add(
            "roundId", f"The round is {row.status.value}; close it before approving its allocation.", "ROUND_NOT_CLOSED"
        )
    elif criteria_version != row.criteria_version:
        errors.add(
            "criteriaVersion",
            f"The criteria in force are version {row.criteria_version}, not {criteria_version}: "
            "review the proposal under them, then approve.",
            "STALE_CRITERIA",
        )
    errors.raise_if_any()
    decisions = await proposal(session=session, principal=principal, fund_round=row)
    for d in decisions:
        application = await session.get(FundApplication, d.application_id)
        application.decision = d.decision
        application.allocated_amount = d.amount
        application.final_rank = d.rank
        application.final_score = d.score
        application.decision_reason = d.reason
        application.updated_at = datetime.now(UTC)
    row.status = FundRoundStatus.ALLOCATED
    row.approved_at = datetime.now(UTC)
    row.approved_by = principal.actor
    row.approval_note = note or None
    row.updated_at = row.approved_at
    await session.flush()
    total = sum((d.amount for d in decisions), Decimal(0))
    await audit.record(
        session,
        principal=principal,
        entity_type="FundRound",
        entity_id=row.id,
        action="approve",
        before={"status": FundRoundStatus.CLOSED},
        after={
            "status": row.status,
            "criteria_version": row.criteria_version,
            "allocated": total,
            "decisions": [
                {
                    "application_id": d.application_id,
                    "rank": d.rank,
                    "score": d.score,
                    "decision": d.decision,
                    "amount": d.amount,
                }
                for d in decisions
            ],
        },
        reason=note or None,
    )
    _emit_round(session, row, Kind.FUND_ALLOCATION_APPROVED, allocated=str(total))
    return row


# -- the public decision report ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    application: FundApplication
    state_name: str
    score: FundScore | None


@dataclass(frozen=True)
class DecisionReport:
    fund_round: FundRound
    criteria: FundCriteriaVersion
    lines: list[ReportLine]

    @property
    def allocated(self) -> Decimal:
        return sum((line.application.allocated_amount or Decimal(0) for line in self.lines), Decimal(0))


async def decision_report(*, session: AsyncSession, principal: Principal, fund_round: FundRound) -> DecisionReport:
    """Every decision of an allocated round with its scores (public); before approval only
    Fund managers may preview it (decisions are then empty)."""
    if fund_round.status is not FundRoundStatus.ALLOCATED:
        _require_manager(principal, "Seeing the decision report before approval")
    criteria = await criteria_version(session=session, round_id=fund_round.id, version=fund_round.criteria_version)
    applications = list(
        (
            await session.execute(
                sa.select(FundApplication)
                .where(FundApplication.round_id == fund_round.id)
                .order_by(sa.func.coalesce(FundApplication.final_rank, 1_000_000), FundApplication.id)
            )
        ).scalars()
    )
    scores = await scores_of(
        session=session, application_ids=[a.id for a in applications], version=fund_round.criteria_version
    )
    names = (
        dict(
            (
                await session.execute(
                    sa.select(State.iso3, State.name_en).where(State.iso3.in_({a.state_iso3 for a in applications}))
                )
            ).all()
        )
        if applications
        else {}
    )
    return DecisionReport(
        fund_round,
        criteria,
        [ReportLine(a, names.get(a.state_iso3, a.state_iso3), scores.get(a.id)) for a in applications],
    )
