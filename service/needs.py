"""Assistance needs: listing under the caller's visibility, and the State's own edits.

Rules that live here and nowhere else: who may see a need (through `visible_needs`), who
may change it (its State's focal points), what a valid need is, and how its status moves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service import audit
from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.errors import Collector, Forbidden, InvalidInput, NotFound
from service.events import record as event_log
from service.matching import freshness
from service.models import (
    AssistanceNeed,
    CurrencyRate,
    DacSector,
    NeedPledge,
    NeedRecommendation,
    NeedStakeholder,
    Pledge,
    Recommendation,
    SdgTarget,
    State,
)
from service.models.enums import NeedStatus, RegionalGroup, StakeholderKind, Visibility
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent
from service.vocabulary import check_codes, state_exists

MAX_SEARCH_LENGTH = 500
MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 20_000


class Unset(Enum):
    UNSET = "UNSET"


UNSET = Unset.UNSET


# -- status lifecycle ----------------------------------------------------------------------

#: The one transition table: from each status, where a need may go next.
TRANSITIONS: dict[NeedStatus, frozenset[NeedStatus]] = {
    NeedStatus.DRAFT: frozenset({NeedStatus.SUBMITTED, NeedStatus.WITHDRAWN}),
    NeedStatus.SUBMITTED: frozenset({NeedStatus.MATCHED, NeedStatus.WITHDRAWN}),
    NeedStatus.MATCHED: frozenset({NeedStatus.IN_PROGRESS, NeedStatus.WITHDRAWN}),
    NeedStatus.IN_PROGRESS: frozenset({NeedStatus.COMPLETED, NeedStatus.WITHDRAWN}),
    NeedStatus.COMPLETED: frozenset(),
    NeedStatus.WITHDRAWN: frozenset({NeedStatus.DRAFT}),  # reopen
}


def allowed_transitions(status: NeedStatus) -> frozenset[NeedStatus]:
    return TRANSITIONS[status]


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostRange:
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class NeedFilter:
    """Lists mean "any of"; several fields mean "all of"."""

    states: Sequence[str] | None = None
    regions: Sequence[str] | None = None  # M49 region, sub-region or intermediate region
    regional_groups: Sequence[str] | None = None
    themes: Sequence[str] | None = None
    sectors: Sequence[str] | None = None  # 5-digit codes, or 3-digit categories
    sdgs: Sequence[str] | None = None  # goals ("16") or targets ("16.3")
    statuses: Sequence[NeedStatus] | None = None
    visibilities: Sequence[Visibility] | None = None
    cost: CostRange | None = None
    search: str | None = None
    updated_since: datetime | None = None
    recommendation_ids: Sequence[int] | None = None


class NeedOrderField(str, Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    TITLE = "TITLE"
    ESTIMATED_COST = "ESTIMATED_COST"
    RELEVANCE = "RELEVANCE"


@dataclass(frozen=True)
class NeedOrder:
    field: NeedOrderField = NeedOrderField.CREATED_AT
    descending: bool = True


def _search_query(text: str) -> ColumnElement:
    return sa.func.websearch_to_tsquery("english", text)


def validate_search(search: str | None) -> str | None:
    if search is None:
        return None
    if len(search) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"`search` is longer than {MAX_SEARCH_LENGTH} characters.", field="search")
    if not search.strip():
        return None
    if not re.search(r"\w", search):
        raise InvalidInput(
            "`search` has no words to search for; operators alone (such as & | ! : *) "
            'are not a query. Use plain words, "quoted phrases", OR and -exclusions.',
            field="search",
        )
    return search


def amount_parameter(amount: Decimal) -> ColumnElement:
    """A filter's amount as an unconstrained NUMERIC: multiplied by a rate column it would
    otherwise be sent as that column's NUMERIC(20, 10), which overflows from 1e10."""
    return sa.literal(amount, sa.Numeric())


def _usd_value(amount: ColumnElement, currency: ColumnElement) -> ColumnElement:
    rate = sa.select(CurrencyRate.usd_per_unit).where(CurrencyRate.currency == currency).scalar_subquery()
    return amount * rate


def _text_array(subquery: ColumnElement) -> ColumnElement:
    """ARRAY(subquery) as text[], comparable with our text[] code columns."""
    from sqlalchemy.dialects.postgresql import ARRAY

    return sa.cast(sa.func.array(subquery), ARRAY(sa.Text()))


def sector_codes_matching(codes: Sequence[str]) -> ColumnElement:
    """DAC codes given as 5-digit codes or 3-digit categories, as an array subquery."""
    five = [c for c in codes if len(c) == 5]
    three = [c for c in codes if len(c) == 3]
    return _text_array(
        sa.select(DacSector.code)
        .where(sa.or_(DacSector.code.in_(five), DacSector.category_code.in_(three)))
        .scalar_subquery()
    )


def sdg_targets_matching(codes: Sequence[str]) -> ColumnElement:
    targets = [c for c in codes if "." in c]
    goals = [c for c in codes if "." not in c]
    return _text_array(
        sa.select(SdgTarget.code)
        .where(sa.or_(SdgTarget.code.in_(targets), SdgTarget.goal_code.in_(goals)))
        .scalar_subquery()
    )


def states_in_regions(regions: Sequence[str]) -> Select:
    return sa.select(State.iso3).where(
        sa.or_(
            State.region_code.in_(regions),
            State.sub_region_code.in_(regions),
            State.intermediate_region_code.in_(regions),
            sa.literal("001").in_(list(regions)),
        )
    )


def _regional_groups(values: Sequence[str]) -> list[RegionalGroup]:
    """The filter's group names as the enum (an unknown name is the caller's mistake, not a
    failed bind in the database driver)."""
    try:
        return [RegionalGroup(value.upper()) for value in values]
    except ValueError:
        known = ", ".join(group.value for group in RegionalGroup)
        raise InvalidInput(f"Unknown UN regional group; use one of {known}.", field="regionalGroups") from None


def filter_clauses(need_filter: NeedFilter | None) -> list[ColumnElement[bool]]:
    """The filter as SQL clauses over AssistanceNeed (visibility is added separately)."""
    if need_filter is None:
        return []
    f = need_filter
    clauses: list[ColumnElement[bool]] = []
    if f.states is not None:
        clauses.append(AssistanceNeed.state_iso3.in_([s.upper() for s in f.states]))
    if f.regions is not None:
        clauses.append(AssistanceNeed.state_iso3.in_(states_in_regions(f.regions)))
    if f.regional_groups is not None:
        clauses.append(
            AssistanceNeed.state_iso3.in_(
                sa.select(State.iso3).where(State.regional_group.in_(_regional_groups(f.regional_groups)))
            )
        )
    if f.themes is not None:
        clauses.append(AssistanceNeed.themes.overlap(list(f.themes)))
    if f.sectors is not None:
        clauses.append(AssistanceNeed.sectors.overlap(sector_codes_matching(f.sectors)))
    if f.sdgs is not None:
        clauses.append(AssistanceNeed.sdg_targets.overlap(sdg_targets_matching(f.sdgs)))
    if f.statuses is not None:
        clauses.append(AssistanceNeed.status.in_(list(f.statuses)))
    if f.visibilities is not None:
        clauses.append(AssistanceNeed.visibility.in_(list(f.visibilities)))
    if f.cost is not None:
        usd = _usd_value(AssistanceNeed.estimated_cost, AssistanceNeed.currency)
        per_unit = (
            sa.select(CurrencyRate.usd_per_unit).where(CurrencyRate.currency == f.cost.currency).scalar_subquery()
        )
        if f.cost.minimum is not None:
            clauses.append(usd >= amount_parameter(f.cost.minimum) * per_unit)
        if f.cost.maximum is not None:
            clauses.append(usd <= amount_parameter(f.cost.maximum) * per_unit)
    search = validate_search(f.search)
    if search is not None:
        clauses.append(AssistanceNeed.search_vector.op("@@")(_search_query(search)))
    if f.updated_since is not None:
        clauses.append(AssistanceNeed.updated_at >= f.updated_since)
    if f.recommendation_ids is not None:
        clauses.append(
            AssistanceNeed.id.in_(
                sa.select(NeedRecommendation.need_id).where(
                    NeedRecommendation.recommendation_id.in_(list(f.recommendation_ids))
                )
            )
        )
    return clauses


def visible_needs_select(principal: Principal, need_filter: NeedFilter | None = None) -> Select:
    """Every need read starts here: the caller's visibility, then the filter."""
    return sa.select(AssistanceNeed).where(visible_needs(principal), *filter_clauses(need_filter))


def need_ordering(order: NeedOrder | None, search: str | None) -> Ordering:
    if order is None:
        order = (
            NeedOrder(NeedOrderField.RELEVANCE, True)
            if search and search.strip()
            else NeedOrder(NeedOrderField.CREATED_AT, True)
        )
    desc = order.descending
    tie = SortKey("id", AssistanceNeed.id, desc, "int")
    identity = f"needs:{order.field.value}:{'DESC' if desc else 'ASC'}"
    if order.field is NeedOrderField.RELEVANCE:
        if not (search and search.strip()):
            raise InvalidInput("Ordering by RELEVANCE needs a `search` text in the filter.", field="orderBy")
        rank = sa.func.ts_rank_cd(AssistanceNeed.search_vector, _search_query(search))
        return Ordering(identity + f":{search}", (SortKey("rank", rank, desc, "float"), tie))
    column, kind = {
        NeedOrderField.CREATED_AT: (AssistanceNeed.created_at, "datetime"),
        NeedOrderField.UPDATED_AT: (AssistanceNeed.updated_at, "datetime"),
        NeedOrderField.TITLE: (AssistanceNeed.title, "str"),
        NeedOrderField.ESTIMATED_COST: (
            sa.func.coalesce(_usd_value(AssistanceNeed.estimated_cost, AssistanceNeed.currency), -1),
            "decimal",
        ),
    }[order.field]
    return Ordering(identity, (SortKey(order.field.value.lower(), column, desc, kind), tie))


async def list_needs(
    *,
    session: AsyncSession,
    principal: Principal,
    need_filter: NeedFilter | None = None,
    order: NeedOrder | None = None,
    page: PageArgs = PageArgs(),
) -> Page[AssistanceNeed]:
    stmt = visible_needs_select(principal, need_filter)
    ordering = need_ordering(order, need_filter.search if need_filter else None)
    return await paginate(session, stmt, ordering, page)


async def count_needs(*, session: AsyncSession, principal: Principal, need_filter: NeedFilter | None = None) -> int:
    return await count(session, visible_needs_select(principal, need_filter))


async def get_needs(*, session: AsyncSession, principal: Principal, ids: Sequence[int]) -> dict[int, AssistanceNeed]:
    """Needs by id; ids the principal may not see are simply absent (like missing ones)."""
    if not ids:
        return {}
    stmt = sa.select(AssistanceNeed).where(AssistanceNeed.id.in_(list(ids)), visible_needs(principal))
    return {need.id: need for need in (await session.execute(stmt)).scalars().all()}


def recommendation_needs_select(principal: Principal, need_filter: NeedFilter | None) -> Select:
    """Visible needs with the recommendations they implement (`NeedRecommendation.recommendation_id`)."""
    return visible_needs_select(principal, need_filter).join(
        NeedRecommendation, NeedRecommendation.need_id == AssistanceNeed.id
    )


async def needs_per_recommendation(
    *,
    session: AsyncSession,
    principal: Principal,
    recommendation_ids: Sequence[int],
    need_filter: NeedFilter | None,
    order: NeedOrder | None,
    page: PageArgs,
) -> dict[int, Page[AssistanceNeed]]:
    stmt = recommendation_needs_select(principal, need_filter)
    ordering = need_ordering(order, need_filter.search if need_filter else None)
    return await paginate_per_parent(
        session, stmt, NeedRecommendation.recommendation_id, recommendation_ids, ordering, page, AssistanceNeed
    )


async def count_needs_per_recommendation(
    *, session: AsyncSession, principal: Principal, recommendation_ids: Sequence[int], need_filter: NeedFilter | None
) -> dict[int, int]:
    stmt = (
        sa.select(NeedRecommendation.recommendation_id, sa.func.count())
        .join(AssistanceNeed, AssistanceNeed.id == NeedRecommendation.need_id)
        .where(
            NeedRecommendation.recommendation_id.in_(list(recommendation_ids)),
            visible_needs(principal),
            *filter_clauses(need_filter),
        )
        .group_by(NeedRecommendation.recommendation_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {rid: int(counts.get(rid, 0)) for rid in recommendation_ids}


async def needs_per_state(
    *,
    session: AsyncSession,
    principal: Principal,
    state_codes: Sequence[str],
    need_filter: NeedFilter | None,
    order: NeedOrder | None,
    page: PageArgs,
) -> dict[str, Page[AssistanceNeed]]:
    stmt = visible_needs_select(principal, need_filter)
    ordering = need_ordering(order, need_filter.search if need_filter else None)
    return await paginate_per_parent(
        session, stmt, AssistanceNeed.state_iso3, state_codes, ordering, page, AssistanceNeed
    )


async def count_needs_per_state(
    *, session: AsyncSession, principal: Principal, state_codes: Sequence[str], need_filter: NeedFilter | None
) -> dict[str, int]:
    stmt = (
        sa.select(AssistanceNeed.state_iso3, sa.func.count())
        .where(AssistanceNeed.state_iso3.in_(list(state_codes)), visible_needs(principal), *filter_clauses(need_filter))
        .group_by(AssistanceNeed.state_iso3)
    )
    counts = dict((await session.execute(stmt)).all())
    return {code: int(counts.get(code, 0)) for code in state_codes}


async def stakeholders_of(*, session: AsyncSession, need_ids: Sequence[int]) -> dict[int, list[NeedStakeholder]]:
    """Stakeholders of needs the caller already may see (callers pass visible need ids)."""
    stmt = (
        sa.select(NeedStakeholder)
        .where(NeedStakeholder.need_id.in_(list(need_ids)))
        .order_by(NeedStakeholder.need_id, NeedStakeholder.id)
    )
    grouped: dict[int, list[NeedStakeholder]] = {nid: [] for nid in need_ids}
    for row in (await session.execute(stmt)).scalars().all():
        grouped[row.need_id].append(row)
    return grouped


async def pledge_ids_of(*, session: AsyncSession, need_ids: Sequence[int]) -> dict[int, list[int]]:
    stmt = sa.select(NeedPledge.need_id, NeedPledge.pledge_id).where(NeedPledge.need_id.in_(list(need_ids)))
    grouped: dict[int, list[int]] = {nid: [] for nid in need_ids}
    for need_id, pledge_id in (await session.execute(stmt)).all():
        grouped[need_id].append(pledge_id)
    return grouped


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StakeholderInput:
    name: str
    kind: StakeholderKind
    organization_id: int | None = None


@dataclass
class NeedFields:
    """The editable fields of a need. In an update, UNSET means "leave as it is"."""

    title: Any = UNSET
    description: Any = UNSET
    themes: Any = UNSET
    sectors: Any = UNSET
    sdg_targets: Any = UNSET
    rights_dimensions: Any = UNSET
    modalities: Any = UNSET
    working_languages: Any = UNSET
    estimated_cost: Any = UNSET
    currency: Any = UNSET
    start_date: Any = UNSET
    end_date: Any = UNSET
    visibility: Any = UNSET
    national_stakeholders: Any = UNSET
    recommendation_ids: Any = UNSET
    pledge_ids: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


FIELD_NAMES = {
    "sdg_targets": "sdgTargets",
    "rights_dimensions": "rightsDimensions",
    "working_languages": "workingLanguages",
    "estimated_cost": "estimatedCost",
    "start_date": "startDate",
    "end_date": "endDate",
    "national_stakeholders": "nationalStakeholders",
    "recommendation_ids": "recommendationIds",
    "pledge_ids": "pledgeIds",
}


def _api_name(name: str) -> str:
    return FIELD_NAMES.get(name, name)


def _dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def _validate(session: AsyncSession, *, state_iso3: str, values: dict[str, Any], merged: dict[str, Any]) -> None:
    """Check the given values, and the merged result for cross-field rules."""
    errors = Collector()
    if "title" in values:
        title = (values["title"] or "").strip()
        if not title:
            errors.add("title", "A need needs a title.", "REQUIRED")
        elif len(title) > MAX_TITLE_LENGTH:
            errors.add("title", f"Keep the title under {MAX_TITLE_LENGTH} characters.", "TOO_LONG")
    if "description" in values and len(values["description"] or "") > MAX_DESCRIPTION_LENGTH:
        errors.add("description", f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters.", "TOO_LONG")
    await check_codes(
        session,
        errors,
        themes=values.get("themes"),
        sectors=values.get("sectors"),
        sdg_targets=values.get("sdg_targets"),
        rights_dimensions=values.get("rights_dimensions"),
        modalities=values.get("modalities"),
        languages=values.get("working_languages"),
        currency=values.get("currency"),
    )
    cost, currency = merged.get("estimated_cost"), merged.get("currency")
    if cost is not None:
        if cost < 0:
            errors.add("estimatedCost", f"The estimated cost cannot be negative; got {cost}.", "NEGATIVE")
        elif cost >= Decimal("1e14"):
            errors.add("estimatedCost", "The estimated cost is too large.", "TOO_LARGE")
        elif cost != cost.quantize(Decimal("0.01")):
            errors.add("estimatedCost", "Give the estimated cost with at most 2 decimals.", "INVALID")
        if currency is None:
            errors.add("currency", "An estimated cost needs its ISO 4217 currency.", "REQUIRED")
    elif currency is not None and "currency" in values:
        errors.add("estimatedCost", "A currency was given without an estimated cost.", "REQUIRED")
    start, end = merged.get("start_date"), merged.get("end_date")
    if start is not None and end is not None and end < start:
        errors.add("endDate", f"The end date {end} is before the start date {start}.", "DATE_ORDER")
    stakeholders = values.get("national_stakeholders") or []
    for i, s in enumerate(stakeholders):
        if not s.name.strip():
            errors.add(f"nationalStakeholders.{i}.name", "A stakeholder needs a name.", "REQUIRED")
    for key, model, what in (
        ("recommendation_ids", Recommendation, "recommendation"),
        ("pledge_ids", Pledge, "pledge"),
    ):
        ids = values.get(key)
        if ids:
            rows = (await session.execute(sa.select(model.id, model.state_iso3).where(model.id.in_(list(ids))))).all()
            found = dict(rows)
            missing = [i for i in ids if i not in found]
            foreign = [i for i in ids if i in found and found[i] != state_iso3]
            if missing:
                errors.add(_api_name(key), f"No such {what}(s): {missing}.", "NOT_FOUND")
            if foreign:
                errors.add(
                    _api_name(key),
                    f"A need can only serve {what}s addressed to its own State ({state_iso3}).",
                    "OTHER_STATE",
                )
    errors.raise_if_any()


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("themes", "sectors", "sdg_targets", "rights_dimensions", "modalities", "working_languages"):
        if key in out and out[key] is not None:
            out[key] = _dedupe([str(v.value if isinstance(v, Enum) else v).strip() for v in out[key]])
    if "working_languages" in out and out["working_languages"] is not None:
        out["working_languages"] = [v.lower() for v in out["working_languages"]]
    if "currency" in out and out["currency"] is not None:
        out["currency"] = out["currency"].strip().upper()
    if "title" in out and out["title"] is not None:
        out["title"] = out["title"].strip()
    for key in ("recommendation_ids", "pledge_ids"):
        if key in out and out[key] is not None:
            out[key] = list(dict.fromkeys(out[key]))
    return out


def _require_focal_point(principal: Principal, state_iso3: str) -> None:
    if principal.is_anonymous:
        from service.errors import Unauthenticated

        raise Unauthenticated("Sign in with an API key of this State's focal point to change its needs.")
    if not principal.is_focal_point_of(state_iso3):
        raise Forbidden(f"Only focal points of {state_iso3} may create or change its needs.")


async def _replace_links(session: AsyncSession, need_id: int, values: dict[str, Any]) -> None:
    if "recommendation_ids" in values:
        await session.execute(sa.delete(NeedRecommendation).where(NeedRecommendation.need_id == need_id))
        for rid in values["recommendation_ids"] or []:
            session.add(NeedRecommendation(need_id=need_id, recommendation_id=rid))
    if "pledge_ids" in values:
        await session.execute(sa.delete(NeedPledge).where(NeedPledge.need_id == need_id))
        for pid in values["pledge_ids"] or []:
            session.add(NeedPledge(need_id=need_id, pledge_id=pid))
    if "national_stakeholders" in values:
        await session.execute(sa.delete(NeedStakeholder).where(NeedStakeholder.need_id == need_id))
        for s in values["national_stakeholders"] or []:
            session.add(
                NeedStakeholder(need_id=need_id, name=s.name.strip(), kind=s.kind, organization_id=s.organization_id)
            )


COLUMN_FIELDS = (
    "title",
    "description",
    "themes",
    "sectors",
    "sdg_targets",
    "rights_dimensions",
    "modalities",
    "working_languages",
    "estimated_cost",
    "currency",
    "start_date",
    "end_date",
    "visibility",
)


async def create_need(
    *, session: AsyncSession, principal: Principal, state_iso3: str, values: NeedFields
) -> AssistanceNeed:
    state_iso3 = state_iso3.strip().upper()
    if not await state_exists(session, state_iso3):
        from service.errors import FieldError, ValidationFailed

        raise ValidationFailed(
            errors=[
                FieldError(
                    "state",
                    f"Unknown State code {state_iso3!r}: use an ISO 3166 alpha-3 code such as KEN.",
                    "UNKNOWN_CODE",
                )
            ]
        )
    _require_focal_point(principal, state_iso3)
    given = _normalise(values.given())
    if "title" not in given:
        given["title"] = ""
    await _validate(session, state_iso3=state_iso3, values=given, merged=given)
    need = AssistanceNeed(
        state_iso3=state_iso3,
        status=NeedStatus.DRAFT,
        **{k: v for k, v in given.items() if k in COLUMN_FIELDS and v is not None},
    )
    session.add(need)
    await session.flush()
    await _replace_links(session, need.id, given)
    await session.flush()
    await session.refresh(need)
    await audit.record(
        session, principal=principal, entity_type="Need", entity_id=need.id, action="create", after=audit.snapshot(need)
    )
    event_log.need_created(session, need)
    await freshness.need_changed(session, need.id)
    return need


async def _load_for_change(session: AsyncSession, principal: Principal, need_id: int) -> AssistanceNeed:
    """The need, locked for update; NOT_FOUND when the caller may not see it."""
    stmt = sa.select(AssistanceNeed).where(AssistanceNeed.id == need_id, visible_needs(principal)).with_for_update()
    need = (await session.execute(stmt)).scalar_one_or_none()
    if need is None:
        raise NotFound("No need with this id.", field="id")
    _require_focal_point(principal, need.state_iso3)
    return need


async def update_need(
    *, session: AsyncSession, principal: Principal, need_id: int, values: NeedFields
) -> AssistanceNeed:
    need = await _load_for_change(session, principal, need_id)
    given = _normalise(values.given())
    if need.status in (NeedStatus.COMPLETED, NeedStatus.WITHDRAWN):
        raise InvalidInput(f"A {need.status.value} need cannot be edited; reopen a withdrawn need first.", field="id")
    before = audit.snapshot(need)
    merged = {k: getattr(need, k) for k in COLUMN_FIELDS} | given
    for required in ("title",):
        if required in given and given[required] is None:
            given[required] = ""
    await _validate(session, state_iso3=need.state_iso3, values=given, merged=merged)
    for key, value in given.items():
        if key in COLUMN_FIELDS:
            if value is None and key in (
                "themes",
                "sectors",
                "sdg_targets",
                "rights_dimensions",
                "modalities",
                "working_languages",
            ):
                value = []
            if value is None and key in ("description",):
                value = ""
            if value is None and key == "visibility":
                continue
            setattr(need, key, value)
    need.updated_at = sa.func.now()
    await _replace_links(session, need.id, given)
    await session.flush()
    await session.refresh(need)
    await audit.record(
        session,
        principal=principal,
        entity_type="Need",
        entity_id=need.id,
        action="update",
        before=before,
        after=audit.snapshot(need),
    )
    event_log.need_updated(session, need, before_visibility=before["visibility"])
    await freshness.need_changed(session, need.id)
    return need


async def transition_need(
    *, session: AsyncSession, principal: Principal, need_id: int, to: NeedStatus, reason: str | None = None
) -> AssistanceNeed:
    need = await _load_for_change(session, principal, need_id)
    if to not in TRANSITIONS[need.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[need.status])) or "none"
        from service.errors import FieldError, ValidationFailed

        raise ValidationFailed(
            errors=[
                FieldError(
                    "status",
                    f"A need cannot go from {need.status.value} to {to.value}; allowed next: {allowed}.",
                    "INVALID_TRANSITION",
                )
            ]
        )
    if to is NeedStatus.SUBMITTED:
        errors = Collector()
        if not need.description.strip():
            errors.add("description", "Describe the need before submitting it.", "REQUIRED")
        if not need.themes:
            errors.add("themes", "Give at least one theme before submitting.", "REQUIRED")
        errors.raise_if_any()
    before = audit.snapshot(need)
    need.status = to
    if to is NeedStatus.SUBMITTED:
        need.submitted_at = sa.func.now()
    need.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(need)
    await audit.record(
        session,
        principal=principal,
        entity_type="Need",
        entity_id=need.id,
        action=f"status:{to.value}",
        before=before,
        after=audit.snapshot(need),
        reason=reason,
    )
    event_log.need_status_changed(session, need, previous=before["status"])
    await freshness.need_changed(session, need.id)
    return need


async def link_recommendations(
    *, session: AsyncSession, principal: Principal, need_id: int, recommendation_ids: Sequence[int], link: bool
) -> AssistanceNeed:
    need = await _load_for_change(session, principal, need_id)
    ids = list(dict.fromkeys(recommendation_ids))
    if link:
        await _validate(session, state_iso3=need.state_iso3, values={"recommendation_ids": ids}, merged={})
        existing = set(
            (
                await session.execute(
                    sa.select(NeedRecommendation.recommendation_id).where(NeedRecommendation.need_id == need.id)
                )
            )
            .scalars()
            .all()
        )
        for rid in ids:
            if rid not in existing:
                session.add(NeedRecommendation(need_id=need.id, recommendation_id=rid))
    else:
        await session.execute(
            sa.delete(NeedRecommendation).where(
                NeedRecommendation.need_id == need.id, NeedRecommendation.recommendation_id.in_(ids)
            )
        )
    need.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(need)
    await audit.record(
        session,
        principal=principal,
        entity_type="Need",
        entity_id=need.id,
        action="link_recommendations" if link else "unlink_recommendations",
        after={"recommendation_ids": ids},
    )
    event_log.need_updated(session, need, before_visibility=need.visibility)
    await freshness.need_changed(session, need.id)
    return need
