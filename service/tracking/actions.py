"""Implementation actions and their indicators: reading under the caller's visibility, and
the State's own edits.

An action clusters recommendations addressed to its own State, whatever the State's
response (SUPPORTED, NOTED or none yet): States do act on noted recommendations, and NRTD
tracks them too; the roll-ups count only SUPPORTED ones as "accepted".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service import audit
from service.access.principals import Principal
from service.access.visibility import visible_actions, visible_needs
from service.errors import Collector, FieldError, Forbidden, InvalidInput, NotFound, Unauthenticated, ValidationFailed
from service.events.outbox import Kind, emit_scoped
from service.models import (
    ActionNeed,
    ActionRecommendation,
    AssistanceNeed,
    ImplementationAction,
    Indicator,
    Organization,
    ProgressReport,
    Recommendation,
    SupportingInstitution,
)
from service.models.enums import ImplementationStatus, StakeholderKind, Visibility
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent
from service.vocabulary import state_exists

MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 20_000
MAX_NAME_LENGTH = 200
MAX_SEARCH_LENGTH = 500
MAX_SUPPORTING_INSTITUTIONS = 20
MAX_LINKS = 200  # recommendations or needs of one action
MAX_INDICATORS = 50
#: Numeric(20, 4): at most 16 digits before the point, 4 after.
QUANTITY_LIMIT = Decimal("1e16")


class Unset(Enum):
    UNSET = "UNSET"


UNSET = Unset.UNSET


# -- reading -------------------------------------------------------------------------------


def current_status(principal: Principal, action: Any = ImplementationAction) -> ColumnElement:
    """An action's status as the caller sees it: that of its latest progress report the
    caller may see (by date, then ID), NOT_STARTED without one. A hidden report never shows
    through its action's status."""
    own = SimpleNamespace(state_iso3=action.state_iso3, visibility=ProgressReport.visibility)
    latest = (
        sa.select(ProgressReport.status)
        .where(ProgressReport.action_id == action.id, visible_needs(principal, need=own))
        .order_by(ProgressReport.reported_on.desc(), ProgressReport.id.desc())
        .limit(1)
        .correlate(action)
        .scalar_subquery()
    )
    return sa.func.coalesce(latest, ImplementationStatus.NOT_STARTED.value)


@dataclass(frozen=True)
class ActionFilter:
    """Lists mean "any of"; several fields mean "all of"."""

    states: Sequence[str] | None = None
    statuses: Sequence[ImplementationStatus] | None = None  # current status, as the caller sees it
    visibilities: Sequence[Visibility] | None = None
    lead_institution_kinds: Sequence[StakeholderKind] | None = None
    recommendation_ids: Sequence[int] | None = None
    need_ids: Sequence[int] | None = None
    search: str | None = None
    updated_since: datetime | None = None


class ActionOrderField(str, Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    TITLE = "TITLE"
    END_DATE = "END_DATE"


@dataclass(frozen=True)
class ActionOrder:
    field: ActionOrderField = ActionOrderField.CREATED_AT
    descending: bool = True


def _filter_clauses(principal: Principal, f: ActionFilter | None) -> list[ColumnElement[bool]]:
    if f is None:
        return []
    from service.needs import validate_search

    clauses: list[ColumnElement[bool]] = []
    if f.states is not None:
        clauses.append(ImplementationAction.state_iso3.in_([s.strip().upper() for s in f.states]))
    if f.visibilities is not None:
        clauses.append(ImplementationAction.visibility.in_(list(f.visibilities)))
    if f.lead_institution_kinds is not None:
        clauses.append(ImplementationAction.lead_institution_kind.in_(list(f.lead_institution_kinds)))
    if f.statuses is not None:
        clauses.append(current_status(principal).in_([ImplementationStatus(s).value for s in f.statuses]))
    if f.recommendation_ids is not None:
        clauses.append(
            ImplementationAction.id.in_(
                sa.select(ActionRecommendation.action_id).where(
                    ActionRecommendation.recommendation_id.in_(list(f.recommendation_ids))
                )
            )
        )
    if f.need_ids is not None:
        clauses.append(
            ImplementationAction.id.in_(sa.select(ActionNeed.action_id).where(ActionNeed.need_id.in_(list(f.need_ids))))
        )
    search = validate_search(f.search)
    if search is not None:
        clauses.append(ImplementationAction.search_vector.op("@@")(sa.func.websearch_to_tsquery("english", search)))
    if f.updated_since is not None:
        clauses.append(ImplementationAction.updated_at >= f.updated_since)
    return clauses


def visible_actions_select(principal: Principal, action_filter: ActionFilter | None = None) -> Select:
    """Every action read starts here: the caller's visibility, then the filter."""
    return sa.select(ImplementationAction).where(visible_actions(principal), *_filter_clauses(principal, action_filter))


def action_ordering(order: ActionOrder | None) -> Ordering:
    order = order or ActionOrder()
    desc = order.descending
    column, kind = {
        ActionOrderField.CREATED_AT: (ImplementationAction.created_at, "datetime"),
        ActionOrderField.UPDATED_AT: (ImplementationAction.updated_at, "datetime"),
        ActionOrderField.TITLE: (ImplementationAction.title, "str"),
        # Open-ended actions sort as if they ended last.
        ActionOrderField.END_DATE: (
            sa.func.coalesce(ImplementationAction.end_date, sa.literal(date.max, sa.Date)),
            "date",
        ),
    }[order.field]
    return Ordering(
        f"actions:{order.field.value}:{'DESC' if desc else 'ASC'}",
        (SortKey(order.field.value.lower(), column, desc, kind), SortKey("id", ImplementationAction.id, desc, "int")),
    )


async def list_actions(
    *,
    session: AsyncSession,
    principal: Principal,
    action_filter: ActionFilter | None = None,
    order: ActionOrder | None = None,
    page: PageArgs = PageArgs(),
) -> Page[ImplementationAction]:
    return await paginate(session, visible_actions_select(principal, action_filter), action_ordering(order), page)


async def count_actions(
    *, session: AsyncSession, principal: Principal, action_filter: ActionFilter | None = None
) -> int:
    return await count(session, visible_actions_select(principal, action_filter))


async def get_actions(
    *, session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, ImplementationAction]:
    """Actions by id; those the principal may not see are absent, like missing ones."""
    if not ids:
        return {}
    stmt = sa.select(ImplementationAction).where(ImplementationAction.id.in_(list(ids)), visible_actions(principal))
    return {row.id: row for row in (await session.execute(stmt)).scalars().all()}


async def statuses_of(
    *, session: AsyncSession, principal: Principal, action_ids: Sequence[int]
) -> dict[int, ImplementationStatus]:
    """Current status (as the caller sees it) of actions the caller may see."""
    stmt = sa.select(ImplementationAction.id, current_status(principal)).where(
        ImplementationAction.id.in_(list(action_ids)), visible_actions(principal)
    )
    return {aid: ImplementationStatus(status) for aid, status in (await session.execute(stmt)).all()}


async def actions_per_parent(
    *,
    session: AsyncSession,
    principal: Principal,
    link: Any,
    parent_column: Any,
    parent_ids: Sequence[int],
    action_filter: ActionFilter | None,
    order: ActionOrder | None,
    page: PageArgs,
) -> dict[int, Page[ImplementationAction]]:
    """Visible actions under recommendations or needs (`link` is the link table)."""
    stmt = visible_actions_select(principal, action_filter).join(link, link.action_id == ImplementationAction.id)
    return await paginate_per_parent(
        session, stmt, parent_column, parent_ids, action_ordering(order), page, ImplementationAction
    )


async def count_actions_per_parent(
    *,
    session: AsyncSession,
    principal: Principal,
    link: Any,
    parent_column: Any,
    parent_ids: Sequence[int],
    action_filter: ActionFilter | None,
) -> dict[int, int]:
    stmt = (
        sa.select(parent_column, sa.func.count())
        .join(ImplementationAction, ImplementationAction.id == link.action_id)
        .where(
            parent_column.in_(list(parent_ids)), visible_actions(principal), *_filter_clauses(principal, action_filter)
        )
        .group_by(parent_column)
    )
    counts = dict((await session.execute(stmt)).all())
    return {pid: int(counts.get(pid, 0)) for pid in parent_ids}


async def supporting_institutions_of(
    *, session: AsyncSession, action_ids: Sequence[int]
) -> dict[int, list[SupportingInstitution]]:
    """Callers pass only action ids the principal may see."""
    stmt = (
        sa.select(SupportingInstitution)
        .where(SupportingInstitution.action_id.in_(list(action_ids)))
        .order_by(SupportingInstitution.action_id, SupportingInstitution.id)
    )
    grouped: dict[int, list[SupportingInstitution]] = {aid: [] for aid in action_ids}
    for row in (await session.execute(stmt)).scalars().all():
        grouped[row.action_id].append(row)
    return grouped


async def indicators_of(*, session: AsyncSession, action_ids: Sequence[int]) -> dict[int, list[Indicator]]:
    """Callers pass only action ids the principal may see."""
    stmt = (
        sa.select(Indicator)
        .where(Indicator.action_id.in_(list(action_ids)))
        .order_by(Indicator.action_id, Indicator.id)
    )
    grouped: dict[int, list[Indicator]] = {aid: [] for aid in action_ids}
    for row in (await session.execute(stmt)).scalars().all():
        grouped[row.action_id].append(row)
    return grouped


async def get_indicators(*, session: AsyncSession, principal: Principal, ids: Sequence[int]) -> dict[int, Indicator]:
    """Indicators by id, through their action's visibility."""
    stmt = (
        sa.select(Indicator)
        .join(ImplementationAction, ImplementationAction.id == Indicator.action_id)
        .where(Indicator.id.in_(list(ids)), visible_actions(principal))
    )
    return {row.id: row for row in (await session.execute(stmt)).scalars().all()}


async def recommendations_per_action(
    *, session: AsyncSession, action_ids: Sequence[int], page: PageArgs
) -> dict[int, Page[Recommendation]]:
    """The recommendations an action clusters (public), by UPR session; callers pass only
    action ids the principal may see."""
    from service import recommendations as recommendations_service

    stmt = recommendations_service.recommendations_select(None).join(
        ActionRecommendation, ActionRecommendation.recommendation_id == Recommendation.id
    )
    ordering = recommendations_service._ordering(None, None)
    return await paginate_per_parent(
        session, stmt, ActionRecommendation.action_id, action_ids, ordering, page, Recommendation
    )


async def count_recommendations_per_action(*, session: AsyncSession, action_ids: Sequence[int]) -> dict[int, int]:
    stmt = (
        sa.select(ActionRecommendation.action_id, sa.func.count())
        .where(ActionRecommendation.action_id.in_(list(action_ids)))
        .group_by(ActionRecommendation.action_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {aid: int(counts.get(aid, 0)) for aid in action_ids}


async def needs_per_action(
    *, session: AsyncSession, principal: Principal, action_ids: Sequence[int], page: PageArgs
) -> dict[int, Page[AssistanceNeed]]:
    """Needs attached to actions, under the caller's visibility of needs (an action the
    caller sees may be served by a need the caller may not see)."""
    from service.needs import need_ordering, visible_needs_select

    stmt = visible_needs_select(principal).join(ActionNeed, ActionNeed.need_id == AssistanceNeed.id)
    return await paginate_per_parent(
        session, stmt, ActionNeed.action_id, action_ids, need_ordering(None, None), page, AssistanceNeed
    )


async def count_needs_per_action(
    *, session: AsyncSession, principal: Principal, action_ids: Sequence[int]
) -> dict[int, int]:
    stmt = (
        sa.select(ActionNeed.action_id, sa.func.count())
        .join(AssistanceNeed, AssistanceNeed.id == ActionNeed.need_id)
        .where(ActionNeed.action_id.in_(list(action_ids)), visible_needs(principal))
        .group_by(ActionNeed.action_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {aid: int(counts.get(aid, 0)) for aid in action_ids}


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Institution:
    name: str
    kind: StakeholderKind
    organization_id: int | None = None


@dataclass
class ActionFields:
    """The editable fields of an action. In an update, UNSET means "leave as it is"."""

    title: Any = UNSET
    description: Any = UNSET
    lead_institution: Any = UNSET  # Institution
    supporting_institutions: Any = UNSET  # list[Institution]
    start_date: Any = UNSET
    end_date: Any = UNSET
    visibility: Any = UNSET
    recommendation_ids: Any = UNSET
    need_ids: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


def require_focal_point(principal: Principal, state_iso3: str, what: str = "implementation actions") -> None:
    if principal.is_anonymous:
        raise Unauthenticated(f"Sign in with an API key of this State's focal point to change its {what}.")
    if not principal.is_focal_point_of(state_iso3):
        raise Forbidden(f"Only focal points of {state_iso3} may create or change its {what}.")


async def _check_institution(session: AsyncSession, errors: Collector, field: str, institution: Any) -> None:
    name = (institution.name or "").strip() if institution is not None else ""
    if institution is None or not name:
        errors.add(f"{field}.name", "Name the institution.", "REQUIRED")
    elif len(name) > MAX_NAME_LENGTH:
        errors.add(f"{field}.name", f"Keep the institution's name under {MAX_NAME_LENGTH} characters.", "TOO_LONG")
    if institution is not None and institution.organization_id is not None:
        found = (
            await session.execute(sa.select(Organization.id).where(Organization.id == institution.organization_id))
        ).scalar_one_or_none()
        if found is None:
            errors.add(f"{field}.organizationId", "No such organization.", "NOT_FOUND")


async def _check_links(session: AsyncSession, errors: Collector, state_iso3: str, values: dict[str, Any]) -> None:
    for key, api_name, model, what in (
        ("recommendation_ids", "recommendationIds", Recommendation, "recommendation"),
        ("need_ids", "needIds", AssistanceNeed, "need"),
    ):
        ids = values.get(key)
        if not ids:
            continue
        if len(ids) > MAX_LINKS:
            errors.add(api_name, f"Link at most {MAX_LINKS} {what}s to one action; got {len(ids)}.", "TOO_MANY")
            continue
        found = dict(
            (await session.execute(sa.select(model.id, model.state_iso3).where(model.id.in_(list(ids))))).all()
        )
        missing = [i for i in ids if i not in found]
        foreign = [i for i in ids if i in found and found[i] != state_iso3]
        if missing:
            errors.add(api_name, f"No such {what}(s): {missing}.", "NOT_FOUND")
        if foreign:
            # Only the action's State's own records: a need of another State is not told apart
            # from a missing one (its existence may be private).
            errors.add(api_name, f"An action can only link {what}s of its own State ({state_iso3}).", "OTHER_STATE")


async def _validate(session: AsyncSession, *, state_iso3: str, values: dict[str, Any], merged: dict[str, Any]) -> None:
    errors = Collector()
    if "title" in values:
        title = values["title"] or ""
        if not title:
            errors.add("title", "An action needs a title.", "REQUIRED")
        elif len(title) > MAX_TITLE_LENGTH:
            errors.add("title", f"Keep the title under {MAX_TITLE_LENGTH} characters.", "TOO_LONG")
    if "description" in values and len(values["description"] or "") > MAX_DESCRIPTION_LENGTH:
        errors.add("description", f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters.", "TOO_LONG")
    if "lead_institution" in values:
        await _check_institution(session, errors, "leadInstitution", values["lead_institution"])
    supporting = values.get("supporting_institutions") or []
    if len(supporting) > MAX_SUPPORTING_INSTITUTIONS:
        errors.add(
            "supportingInstitutions", f"Name at most {MAX_SUPPORTING_INSTITUTIONS} supporting institutions.", "TOO_MANY"
        )
    else:
        for i, institution in enumerate(supporting):
            await _check_institution(session, errors, f"supportingInstitutions.{i}", institution)
    start, end = merged.get("start_date"), merged.get("end_date")
    if start is not None and end is not None and end < start:
        errors.add("endDate", f"The end date {end} is before the start date {start}.", "DATE_ORDER")
    await _check_links(session, errors, state_iso3, values)
    errors.raise_if_any()


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("title", "description"):
        if key in out and out[key] is not None:
            out[key] = out[key].strip()
    for key in ("recommendation_ids", "need_ids"):
        if key in out:
            out[key] = list(dict.fromkeys(out[key] or []))
    return out


async def _replace_links(session: AsyncSession, action_id: int, values: dict[str, Any]) -> None:
    if "recommendation_ids" in values:
        await session.execute(sa.delete(ActionRecommendation).where(ActionRecommendation.action_id == action_id))
        for rid in values["recommendation_ids"]:
            session.add(ActionRecommendation(action_id=action_id, recommendation_id=rid))
    if "need_ids" in values:
        await session.execute(sa.delete(ActionNeed).where(ActionNeed.action_id == action_id))
        for nid in values["need_ids"]:
            session.add(ActionNeed(action_id=action_id, need_id=nid))
    if "supporting_institutions" in values:
        await session.execute(sa.delete(SupportingInstitution).where(SupportingInstitution.action_id == action_id))
        for s in values["supporting_institutions"] or []:
            session.add(
                SupportingInstitution(
                    action_id=action_id, name=s.name.strip(), kind=s.kind, organization_id=s.organization_id
                )
            )


async def _links_snapshot(session: AsyncSession, action: ImplementationAction) -> dict[str, Any]:
    """The action as the audit trail keeps it: columns, links and supporting institutions."""
    recs = (
        (
            await session.execute(
                sa.select(ActionRecommendation.recommendation_id)
                .where(ActionRecommendation.action_id == action.id)
                .order_by(ActionRecommendation.recommendation_id)
            )
        )
        .scalars()
        .all()
    )
    needs = (
        (
            await session.execute(
                sa.select(ActionNeed.need_id).where(ActionNeed.action_id == action.id).order_by(ActionNeed.need_id)
            )
        )
        .scalars()
        .all()
    )
    supporting = (await supporting_institutions_of(session=session, action_ids=[action.id]))[action.id]
    return audit.snapshot(action) | {
        "recommendation_ids": list(recs),
        "need_ids": list(needs),
        "supporting_institutions": [
            {"name": s.name, "kind": s.kind, "organization_id": s.organization_id} for s in supporting
        ],
    }


def action_event(session: AsyncSession, action: ImplementationAction, kind: str) -> None:
    emit_scoped(session, kind, "ImplementationAction", action.id, state=action.state_iso3, visibility=action.visibility)


COLUMN_FIELDS = ("title", "description", "start_date", "end_date", "visibility")


def _lead_columns(values: dict[str, Any]) -> dict[str, Any]:
    lead = values.get("lead_institution")
    if lead is None:
        return {}
    return {
        "lead_institution": lead.name.strip(),
        "lead_institution_kind": lead.kind,
        "lead_organization_id": lead.organization_id,
    }


async def create_action(
    *, session: AsyncSession, principal: Principal, state_iso3: str, values: ActionFields
) -> ImplementationAction:
    state_iso3 = (state_iso3 or "").strip().upper()
    if not await state_exists(session, state_iso3):
        raise ValidationFailed(
            errors=[
                FieldError(
                    "state",
                    f"Unknown State code {state_iso3!r}: use an ISO 3166 alpha-3 code such as KEN.",
                    "UNKNOWN_CODE",
                )
            ]
        )
    require_focal_point(principal, state_iso3)
    given = _normalise(values.given())
    given.setdefault("title", "")
    given.setdefault("lead_institution", None)
    await _validate(session, state_iso3=state_iso3, values=given, merged=given)
    action = ImplementationAction(
        state_iso3=state_iso3,
        **{k: v for k, v in given.items() if k in COLUMN_FIELDS and v is not None},
        **_lead_columns(given),
    )
    session.add(action)
    await session.flush()
    await _replace_links(session, action.id, given)
    await session.flush()
    await session.refresh(action)
    await audit.record(
        session,
        principal=principal,
        entity_type="ImplementationAction",
        entity_id=action.id,
        action="create",
        after=await _links_snapshot(session, action),
    )
    action_event(session, action, Kind.ACTION_CREATED)
    return action


async def load_action_for_change(
    session: AsyncSession, principal: Principal, action_id: int, *, field: str = "id"
) -> ImplementationAction:
    """The action, locked; NOT_FOUND when the caller may not see it, FORBIDDEN when the
    caller sees it but is not its State's focal point."""
    stmt = (
        sa.select(ImplementationAction)
        .where(ImplementationAction.id == action_id, visible_actions(principal))
        .with_for_update()
    )
    action = (await session.execute(stmt)).scalar_one_or_none()
    if action is None:
        if principal.is_anonymous:
            raise Unauthenticated(
                "Sign in with an API key of this State's focal point to change its implementation actions."
            )
        raise NotFound("No implementation action with this id.", field=field)
    require_focal_point(principal, action.state_iso3)
    return action


async def update_action(
    *, session: AsyncSession, principal: Principal, action_id: int, values: ActionFields
) -> ImplementationAction:
    action = await load_action_for_change(session, principal, action_id)
    given = _normalise(values.given())
    for key in ("title", "lead_institution"):
        if key in given and given[key] is None:
            given[key] = "" if key == "title" else None
    before = await _links_snapshot(session, action)
    merged = {k: getattr(action, k) for k in COLUMN_FIELDS} | given
    await _validate(session, state_iso3=action.state_iso3, values=given, merged=merged)
    for key, value in given.items():
        if key not in COLUMN_FIELDS:
            continue
        if value is None and key == "description":
            value = ""
        if value is None and key == "visibility":
            continue
        setattr(action, key, value)
    for key, value in _lead_columns(given).items():
        setattr(action, key, value)
    action.updated_at = sa.func.now()
    await _replace_links(session, action.id, given)
    await session.flush()
    await session.refresh(action)
    after = await _links_snapshot(session, action)
    await audit.record(
        session,
        principal=principal,
        entity_type="ImplementationAction",
        entity_id=action.id,
        action="update",
        before=before,
        after=after,
    )
    action_event(session, action, Kind.ACTION_UPDATED)
    return action


# -- indicators ----------------------------------------------------------------------------


@dataclass
class IndicatorFields:
    name: Any = UNSET
    unit: Any = UNSET
    baseline: Any = UNSET
    target: Any = UNSET
    due_date: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


def check_quantity(errors: Collector, field: str, value: Decimal | None) -> None:
    if value is None:
        return
    if not value.is_finite():
        errors.add(field, "Give a finite number.", "INVALID")
    elif abs(value) >= QUANTITY_LIMIT:
        errors.add(field, "The number is too large (at most 16 digits before the decimal point).", "TOO_LARGE")
    elif value != value.quantize(Decimal("0.0001")):
        errors.add(field, "Give the number with at most 4 decimals.", "INVALID")


def _validate_indicator(values: dict[str, Any]) -> None:
    errors = Collector()
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            errors.add("name", "An indicator needs a name.", "REQUIRED")
        elif len(name) > MAX_TITLE_LENGTH:
            errors.add("name", f"Keep the name under {MAX_TITLE_LENGTH} characters.", "TOO_LONG")
    if values.get("unit") is not None and len(values["unit"]) > MAX_NAME_LENGTH:
        errors.add("unit", f"Keep the unit under {MAX_NAME_LENGTH} characters.", "TOO_LONG")
    for key in ("baseline", "target"):
        check_quantity(errors, key, values.get(key))
    errors.raise_if_any()


async def create_indicator(
    *, session: AsyncSession, principal: Principal, action_id: int, values: IndicatorFields
) -> Indicator:
    action = await load_action_for_change(session, principal, action_id, field="actionId")
    given = values.given()
    given.setdefault("name", "")
    _validate_indicator(given)
    existing = (await session.execute(sa.select(sa.func.count()).where(Indicator.action_id == action.id))).scalar_one()
    if existing >= MAX_INDICATORS:
        raise ValidationFailed(
            errors=[FieldError("actionId", f"An action has at most {MAX_INDICATORS} indicators.", "TOO_MANY")]
        )
    indicator = Indicator(
        action_id=action.id,
        name=given["name"].strip(),
        unit=(given.get("unit") or "").strip() or None,
        baseline=given.get("baseline"),
        target=given.get("target"),
        due_date=given.get("due_date"),
    )
    session.add(indicator)
    action.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(indicator)
    await session.refresh(action)
    await audit.record(
        session,
        principal=principal,
        entity_type="Indicator",
        entity_id=indicator.id,
        action="create",
        after=audit.snapshot(indicator),
    )
    action_event(session, action, Kind.ACTION_UPDATED)
    return indicator


async def update_indicator(
    *, session: AsyncSession, principal: Principal, indicator_id: int, values: IndicatorFields
) -> Indicator:
    indicator = (
        await session.execute(
            sa.select(Indicator)
            .join(ImplementationAction, ImplementationAction.id == Indicator.action_id)
            .where(Indicator.id == indicator_id, visible_actions(principal))
            .with_for_update(of=Indicator)
        )
    ).scalar_one_or_none()
    if indicator is None:
        if principal.is_anonymous:
            raise Unauthenticated("Sign in with an API key of this State's focal point to change its indicators.")
        raise NotFound("No indicator with this id.", field="id")
    action = await load_action_for_change(session, principal, indicator.action_id)
    given = values.given()
    if "name" in given and given["name"] is None:
        given["name"] = ""
    _validate_indicator(given)
    before = audit.snapshot(indicator)
    for key, value in given.items():
        if key == "name":
            value = value.strip()
        if key == "unit":
            value = (value or "").strip() or None
        setattr(indicator, key, value)
    indicator.updated_at = sa.func.now()
    action.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(indicator)
    await session.refresh(action)
    await audit.record(
        session,
        principal=principal,
        entity_type="Indicator",
        entity_id=indicator.id,
        action="update",
        before=before,
        after=audit.snapshot(indicator),
    )
    action_event(session, action, Kind.ACTION_UPDATED)
    return indicator


__all__ = [
    "ActionFields",
    "ActionFilter",
    "ActionOrder",
    "ActionOrderField",
    "IndicatorFields",
    "Institution",
    "UNSET",
    "InvalidInput",
]
