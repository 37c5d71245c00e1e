"""Programmes: donors' bilateral programmes and agencies' projects (IATI activity aligned).

Rules that live here and nowhere else: how programmes are filtered and ordered, who may
create and change them (a DONOR or AGENCY principal of the reporting organization; not
administrators, not NHRIs or civil society), and what a valid programme is. Programmes are
public reads: anyone may list them, so a programme the caller may not edit is FORBIDDEN,
never NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service import audit
from service.access.policy import may_offer
from service.access.principals import Principal
from service.errors import Collector, FieldError, Forbidden, InvalidInput, NotFound, Unauthenticated, ValidationFailed
from service.events import record as event_log
from service.matching import freshness
from service.models import IatiCode, Organization, Programme, ProgrammeParticipant, ProgrammeRecipientState, State
from service.models.enums import ParticipantRole
from service.needs import (
    UNSET,
    _usd_value,
    sdg_targets_matching,
    sector_codes_matching,
    validate_search,
)
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent
from service.vocabulary import check_codes

MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 20_000
MAX_IATI_IDENTIFIER_LENGTH = 150
MAX_AMOUNT = Decimal("1e14")  # money columns are numeric(16, 2)


# -- who may write ---------------------------------------------------------------------------


def require_offering_member(principal: Principal, organization_id: int | None, *, what: str) -> int:
    """The organization a DONOR or AGENCY principal acts for; `organization_id` (when given)
    must be it. Anonymous callers are UNAUTHENTICATED; everyone else FORBIDDEN.

    Shared by programmes and capabilities: an organization's offers are changed only by its
    own donor or agency keys (administrators manage keys, not offers)."""
    if principal.is_anonymous:
        raise Unauthenticated(
            f"Sign in with an API key of a donor or agency (role DONOR or AGENCY) to create or change {what}."
        )
    if not may_offer(principal):
        raise Forbidden(
            f"Only donors and agencies (API keys of role DONOR or AGENCY tied to an organization) "
            f"may create or change {what}."
        )
    if organization_id is not None and principal.organization_id != organization_id:
        raise Forbidden(
            f"Only the owning organization's donor or agency keys may change its {what}; "
            "your key is for another organization."
        )
    return principal.organization_id


def link_confirmed(reporting_organization_id: int, linked_organization_id: int | None) -> bool:
    """Whether a programme's link (to a participating organization, or to a parent programme
    by that programme's reporting organization) is confirmed: only links within the reporting
    organization's own are. Links to other organizations and their programmes are the
    reporter's claim, kept because IATI publishers rightly list their partners, and shown
    as unconfirmed: a donor cannot vouch for another organization."""
    return linked_organization_id == reporting_organization_id


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeFilter:
    """Lists mean "any of"; several fields mean "all of"."""

    organizations: Sequence[int] | None = None  # reporting or participating organization ids
    recipient_states: Sequence[str] | None = None  # ISO3; global programmes match every State
    sectors: Sequence[str] | None = None  # 5-digit codes, or 3-digit categories
    themes: Sequence[str] | None = None
    sdgs: Sequence[str] | None = None  # goals ("16") or targets ("16.3")
    open_to_requests: bool | None = None
    active_on: date | None = None  # start <= d <= end, a missing date being open
    activity_statuses: Sequence[str] | None = None  # IATI ActivityStatus codes
    search: str | None = None
    updated_since: datetime | None = None


class ProgrammeOrderField(str, Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    TITLE = "TITLE"
    START_DATE = "START_DATE"
    BUDGET = "BUDGET"
    RELEVANCE = "RELEVANCE"


@dataclass(frozen=True)
class ProgrammeOrder:
    field: ProgrammeOrderField = ProgrammeOrderField.CREATED_AT
    descending: bool = True


def _search_query(text: str) -> ColumnElement:
    return sa.func.websearch_to_tsquery("english", text)


def filter_clauses(programme_filter: ProgrammeFilter | None) -> list[ColumnElement[bool]]:
    """The filter as SQL clauses over Programme."""
    if programme_filter is None:
        return []
    f = programme_filter
    clauses: list[ColumnElement[bool]] = []
    if f.organizations is not None:
        ids = list(f.organizations)
        clauses.append(
            sa.or_(
                Programme.reporting_organization_id.in_(ids),
                Programme.id.in_(
                    sa.select(ProgrammeParticipant.programme_id).where(ProgrammeParticipant.organization_id.in_(ids))
                ),
            )
        )
    if f.recipient_states is not None:
        codes = [s.strip().upper() for s in f.recipient_states]
        from service.programmes_geography import programme_covers_state_clause

        # Recipient States, States of recipient regions, or global.
        clauses.append(programme_covers_state_clause(codes))
    if f.sectors is not None:
        clauses.append(Programme.sectors.overlap(sector_codes_matching(f.sectors)))
    if f.themes is not None:
        clauses.append(Programme.themes.overlap(list(f.themes)))
    if f.sdgs is not None:
        clauses.append(Programme.sdg_targets.overlap(sdg_targets_matching(f.sdgs)))
    if f.open_to_requests is not None:
        clauses.append(Programme.open_to_requests.is_(f.open_to_requests))
    if f.active_on is not None:
        clauses.append(sa.or_(Programme.start_date.is_(None), Programme.start_date <= f.active_on))
        clauses.append(sa.or_(Programme.end_date.is_(None), Programme.end_date >= f.active_on))
    if f.activity_statuses is not None:
        clauses.append(Programme.activity_status.in_([s.strip() for s in f.activity_statuses]))
    search = validate_search(f.search)
    if search is not None:
        clauses.append(Programme.search_vector.op("@@")(_search_query(search)))
    if f.updated_since is not None:
        clauses.append(Programme.updated_at >= f.updated_since)
    return clauses


def programmes_select(programme_filter: ProgrammeFilter | None = None) -> Select:
    return sa.select(Programme).where(*filter_clauses(programme_filter))


def programme_ordering(order: ProgrammeOrder | None, search: str | None) -> Ordering:
    if order is None:
        order = (
            ProgrammeOrder(ProgrammeOrderField.RELEVANCE, True)
            if search and search.strip()
            else ProgrammeOrder(ProgrammeOrderField.CREATED_AT, True)
        )
    desc = order.descending
    tie = SortKey("id", Programme.id, desc, "int")
    identity = f"programmes:{order.field.value}:{'DESC' if desc else 'ASC'}"
    if order.field is ProgrammeOrderField.RELEVANCE:
        if not (search and search.strip()):
            raise InvalidInput("Ordering by RELEVANCE needs a `search` text in the filter.", field="orderBy")
        rank = sa.func.ts_rank_cd(Programme.search_vector, _search_query(search))
        return Ordering(identity + f":{search}", (SortKey("rank", rank, desc, "float"), tie))
    column, kind = {
        ProgrammeOrderField.CREATED_AT: (Programme.created_at, "datetime"),
        ProgrammeOrderField.UPDATED_AT: (Programme.updated_at, "datetime"),
        ProgrammeOrderField.TITLE: (Programme.title, "str"),
        # Unknown start dates sort first ascending, last descending.
        ProgrammeOrderField.START_DATE: (sa.func.coalesce(Programme.start_date, sa.literal(date.min)), "date"),
        # Compared in USD; unknown budgets sort first ascending, last descending.
        ProgrammeOrderField.BUDGET: (
            sa.func.coalesce(_usd_value(Programme.budget_amount, Programme.currency), -1),
            "decimal",
        ),
    }[order.field]
    return Ordering(identity, (SortKey(order.field.value.lower(), column, desc, kind), tie))


def _search_of(programme_filter: ProgrammeFilter | None) -> str | None:
    return programme_filter.search if programme_filter else None


async def list_programmes(
    *,
    session: AsyncSession,
    programme_filter: ProgrammeFilter | None = None,
    order: ProgrammeOrder | None = None,
    page: PageArgs = PageArgs(),
) -> Page[Programme]:
    ordering = programme_ordering(order, _search_of(programme_filter))
    return await paginate(session, programmes_select(programme_filter), ordering, page)


async def count_programmes(*, session: AsyncSession, programme_filter: ProgrammeFilter | None = None) -> int:
    return await count(session, programmes_select(programme_filter))


async def get_programmes(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, Programme]:
    if not ids:
        return {}
    rows = (await session.execute(sa.select(Programme).where(Programme.id.in_(list(ids))))).scalars()
    return {p.id: p for p in rows}


def _organization_programme_pairs(organization_ids: Sequence[int]):
    """(organization_id, programme_id) for programmes an organization reports or takes part in."""
    ids = list(organization_ids)
    reporting = sa.select(
        Programme.reporting_organization_id.label("organization_id"), Programme.id.label("programme_id")
    ).where(Programme.reporting_organization_id.in_(ids))
    participating = sa.select(
        ProgrammeParticipant.organization_id.label("organization_id"),
        ProgrammeParticipant.programme_id.label("programme_id"),
    ).where(ProgrammeParticipant.organization_id.in_(ids))
    return sa.union(reporting, participating).subquery("organization_programme")


async def programmes_per_organization(
    *,
    session: AsyncSession,
    organization_ids: Sequence[int],
    programme_filter: ProgrammeFilter | None,
    order: ProgrammeOrder | None,
    page: PageArgs,
) -> dict[int, Page[Programme]]:
    """Programmes each organization reports or participates in, one page per organization."""
    pairs = _organization_programme_pairs(organization_ids)
    stmt = programmes_select(programme_filter).join(pairs, pairs.c.programme_id == Programme.id)
    ordering = programme_ordering(order, _search_of(programme_filter))
    return await paginate_per_parent(
        session, stmt, pairs.c.organization_id, organization_ids, ordering, page, Programme
    )


async def count_programmes_per_organization(
    *, session: AsyncSession, organization_ids: Sequence[int], programme_filter: ProgrammeFilter | None
) -> dict[int, int]:
    pairs = _organization_programme_pairs(organization_ids)
    stmt = (
        sa.select(pairs.c.organization_id, sa.func.count())
        .join(Programme, Programme.id == pairs.c.programme_id)
        .where(*filter_clauses(programme_filter))
        .group_by(pairs.c.organization_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {oid: int(counts.get(oid, 0)) for oid in organization_ids}


async def children_per_programme(
    *,
    session: AsyncSession,
    programme_ids: Sequence[int],
    programme_filter: ProgrammeFilter | None = None,
    order: ProgrammeOrder | None = None,
    page: PageArgs = PageArgs(),
) -> dict[int, Page[Programme]]:
    """Child programmes (IATI parent/child relation), one page per parent."""
    ordering = programme_ordering(order, _search_of(programme_filter))
    return await paginate_per_parent(
        session, programmes_select(programme_filter), Programme.parent_id, programme_ids, ordering, page, Programme
    )


async def count_children_per_programme(
    *, session: AsyncSession, programme_ids: Sequence[int], programme_filter: ProgrammeFilter | None = None
) -> dict[int, int]:
    stmt = (
        sa.select(Programme.parent_id, sa.func.count())
        .where(Programme.parent_id.in_(list(programme_ids)), *filter_clauses(programme_filter))
        .group_by(Programme.parent_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {pid: int(counts.get(pid, 0)) for pid in programme_ids}


async def participants_of(
    *, session: AsyncSession, programme_ids: Sequence[int]
) -> dict[int, list[tuple[int, ParticipantRole]]]:
    """Participating organizations of programmes: (organization_id, role), in role order."""
    stmt = (
        sa.select(ProgrammeParticipant)
        .where(ProgrammeParticipant.programme_id.in_(list(programme_ids)))
        .order_by(ProgrammeParticipant.programme_id, ProgrammeParticipant.role, ProgrammeParticipant.organization_id)
    )
    grouped: dict[int, list[tuple[int, ParticipantRole]]] = {pid: [] for pid in programme_ids}
    for row in (await session.execute(stmt)).scalars().all():
        grouped.setdefault(row.programme_id, []).append((row.organization_id, ParticipantRole(row.role)))
    return grouped


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class RecipientStateInput:
    state_iso3: str
    percentage: Decimal | None = None


@dataclass(frozen=True)
class ParticipantInput:
    organization_id: int
    role: ParticipantRole


@dataclass
class ProgrammeFields:
    """The editable fields of a programme. In an update, UNSET means "leave as it is".

    The three amounts share the programme's one currency; lists are replaced whole."""

    iati_identifier: Any = UNSET
    title: Any = UNSET
    description: Any = UNSET
    activity_status: Any = UNSET
    start_date: Any = UNSET
    end_date: Any = UNSET
    budget: Any = UNSET  # Amount | None
    committed: Any = UNSET
    disbursed: Any = UNSET
    open_to_requests: Any = UNSET
    is_global: Any = UNSET
    sectors: Any = UNSET
    themes: Any = UNSET
    sdg_targets: Any = UNSET
    modalities: Any = UNSET
    languages: Any = UNSET
    parent_id: Any = UNSET
    recipient_states: Any = UNSET  # list[RecipientStateInput]
    participants: Any = UNSET  # list[ParticipantInput]

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


FIELD_NAMES = {
    "iati_identifier": "iatiIdentifier",
    "activity_status": "activityStatus",
    "start_date": "startDate",
    "end_date": "endDate",
    "open_to_requests": "openToRequests",
    "is_global": "isGlobal",
    "sdg_targets": "sdgTargets",
    "parent_id": "parentId",
    "recipient_states": "recipientStates",
}

AMOUNT_FIELDS = ("budget", "committed", "disbursed")
CODE_LISTS = ("sectors", "themes", "sdg_targets", "modalities", "languages")
COLUMN_FIELDS = (
    "iati_identifier",
    "title",
    "description",
    "activity_status",
    "start_date",
    "end_date",
    "open_to_requests",
    "is_global",
    *CODE_LISTS,
    "parent_id",
)
NOT_NULL = ("iati_identifier", "title", "open_to_requests", "is_global")


def _api_name(name: str) -> str:
    return FIELD_NAMES.get(name, name)


def _dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def normalise_codes(values: dict[str, Any], keys: Sequence[str]) -> None:
    """Code lists stripped and deduplicated (enums by value); languages lower case. In place."""
    for key in keys:
        if key in values and values[key] is not None:
            values[key] = _dedupe([str(v.value if isinstance(v, Enum) else v).strip() for v in values[key]])
    if values.get("languages") is not None:
        values["languages"] = _dedupe([v.lower() for v in values["languages"]])


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    normalise_codes(out, CODE_LISTS)
    for key in ("title", "iati_identifier", "activity_status"):
        if out.get(key) is not None:
            out[key] = out[key].strip()
    if out.get("activity_status") == "":
        out["activity_status"] = None
    for key in AMOUNT_FIELDS:
        if out.get(key) is not None:
            out[key] = Amount(out[key].amount, out[key].currency.strip().upper())
    if out.get("recipient_states") is not None:
        out["recipient_states"] = [
            RecipientStateInput(r.state_iso3.strip().upper(), r.percentage) for r in out["recipient_states"]
        ]
    if out.get("participants") is not None:
        out["participants"] = list(dict.fromkeys(out["participants"]))
    return out


async def check_language_codes(session: AsyncSession, errors: Collector, languages: list[str] | None) -> None:
    """ISO 639-1 codes, reported on the field `languages` (check_codes names it otherwise)."""
    if not languages:
        return
    found = Collector()
    await check_codes(session, found, languages=languages)
    for error in found.errors:
        errors.add("languages", error.message, error.code)


def check_amount(errors: Collector, field: str, amount: Decimal) -> None:
    if amount < 0:
        errors.add(field, f"An amount cannot be negative; got {amount}.", "NEGATIVE")
    elif amount >= MAX_AMOUNT:
        errors.add(field, "The amount is too large.", "TOO_LARGE")
    elif amount != amount.quantize(Decimal("0.01")):
        errors.add(field, "Give amounts with at most 2 decimals.", "INVALID")


def _merged_currency(errors: Collector, values: dict[str, Any], merged: dict[str, Any]) -> str | None:
    """The one currency of the programme's amounts, or None when it has none."""
    currencies = {a.currency for key in AMOUNT_FIELDS if (a := merged.get(key)) is not None and a.currency}
    if len(currencies) > 1:
        given = [key for key in AMOUNT_FIELDS if values.get(key) is not None]
        errors.add(
            f"{given[0] if given else 'budget'}.currency",
            f"A programme keeps its budget, committed and disbursed amounts in one currency; "
            f"got {', '.join(sorted(currencies))}. Give all amounts in the same currency.",
            "CURRENCY_MISMATCH",
        )
        return None
    return currencies.pop() if currencies else None


async def _validate(
    session: AsyncSession, *, programme_id: int | None, values: dict[str, Any], merged: dict[str, Any]
) -> str | None:
    """Check the given values, and the merged result for cross-field rules. Returns the
    programme's currency after the change."""
    errors = Collector()
    for key in NOT_NULL:
        if key in values and values[key] is None:
            errors.add(_api_name(key), f"`{_api_name(key)}` cannot be null.", "REQUIRED")
    title = values.get("title")
    if "title" in values and title is not None:
        if not title:
            errors.add("title", "A programme needs a title.", "REQUIRED")
        elif len(title) > MAX_TITLE_LENGTH:
            errors.add("title", f"Keep the title under {MAX_TITLE_LENGTH} characters.", "TOO_LONG")
    if "description" in values and len(values["description"] or "") > MAX_DESCRIPTION_LENGTH:
        errors.add("description", f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters.", "TOO_LONG")
    identifier = values.get("iati_identifier")
    if "iati_identifier" in values and identifier is not None:
        if not identifier:
            errors.add(
                "iatiIdentifier",
                "A programme needs its IATI activity identifier, e.g. XM-DAC-41128-GLOZ91.",
                "REQUIRED",
            )
        elif len(identifier) > MAX_IATI_IDENTIFIER_LENGTH or any(c.isspace() for c in identifier):
            errors.add(
                "iatiIdentifier",
                f"An IATI identifier has no spaces and at most {MAX_IATI_IDENTIFIER_LENGTH} characters.",
                "INVALID",
            )
        else:
            taken = sa.select(Programme.id).where(Programme.iati_identifier == identifier)
            if programme_id is not None:
                taken = taken.where(Programme.id != programme_id)
            if (await session.execute(taken.limit(1))).first() is not None:
                errors.add(
                    "iatiIdentifier",
                    f"Another programme already has the IATI identifier {identifier!r}.",
                    "DUPLICATE",
                )
    await check_codes(
        session,
        errors,
        themes=values.get("themes"),
        sectors=values.get("sectors"),
        sdg_targets=values.get("sdg_targets"),
        modalities=values.get("modalities"),
    )
    await check_language_codes(session, errors, values.get("languages"))
    if values.get("activity_status"):
        known = (
            await session.execute(
                sa.select(IatiCode.code).where(
                    IatiCode.codelist == "ActivityStatus", IatiCode.code == values["activity_status"]
                )
            )
        ).first()
        if known is None:
            errors.add(
                "activityStatus",
                f"Unknown IATI ActivityStatus code {values['activity_status']!r}: use 1 (pipeline), "
                "2 (implementation), 3 (finalisation), 4 (closed), 5 (cancelled) or 6 (suspended).",
                "UNKNOWN_CODE",
            )
    for key in AMOUNT_FIELDS:
        if values.get(key) is not None:
            check_amount(errors, key, values[key].amount)
    currency = _merged_currency(errors, values, merged)
    given_amounts = [key for key in AMOUNT_FIELDS if values.get(key) is not None]
    if currency is not None and given_amounts:
        await check_codes(session, errors, currency=currency, field_prefix=f"{given_amounts[0]}.")
    start, end = merged.get("start_date"), merged.get("end_date")
    if start is not None and end is not None and end < start:
        errors.add("endDate", f"The end date {end} is before the start date {start}.", "DATE_ORDER")
    await _validate_recipients(session, errors, values.get("recipient_states"))
    await _validate_participants(session, errors, values.get("participants"))
    if values.get("parent_id") is not None:
        await _validate_parent(session, errors, programme_id, values["parent_id"])
    errors.raise_if_any()
    return currency


async def _validate_recipients(
    session: AsyncSession, errors: Collector, recipients: list[RecipientStateInput] | None
) -> None:
    if not recipients:
        return
    codes = [r.state_iso3 for r in recipients]
    known = set((await session.execute(sa.select(State.iso3).where(State.iso3.in_(codes)))).scalars().all())
    seen: set[str] = set()
    total = Decimal(0)
    for i, r in enumerate(recipients):
        if r.state_iso3 not in known:
            errors.add(
                f"recipientStates.{i}.state",
                f"Unknown State code {r.state_iso3!r}: use an ISO 3166 alpha-3 code such as KEN.",
                "UNKNOWN_CODE",
            )
        elif r.state_iso3 in seen:
            errors.add(f"recipientStates.{i}.state", f"{r.state_iso3} is listed twice.", "DUPLICATE")
        seen.add(r.state_iso3)
        if r.percentage is not None:
            if not Decimal(0) <= r.percentage <= Decimal(100):
                errors.add(
                    f"recipientStates.{i}.percentage",
                    f"A percentage is between 0 and 100; got {r.percentage}.",
                    "OUT_OF_RANGE",
                )
            elif r.percentage != r.percentage.quantize(Decimal("0.01")):
                errors.add(f"recipientStates.{i}.percentage", "Give percentages with at most 2 decimals.", "INVALID")
            else:
                total += r.percentage
    if total > 100:
        errors.add(
            "recipientStates",
            f"The recipient States' percentages add up to {total}, over 100.",
            "RECIPIENT_PERCENTAGES",
        )


async def _validate_participants(
    session: AsyncSession, errors: Collector, participants: list[ParticipantInput] | None
) -> None:
    if not participants:
        return
    ids = [p.organization_id for p in participants]
    known = set((await session.execute(sa.select(Organization.id).where(Organization.id.in_(ids)))).scalars().all())
    for i, p in enumerate(participants):
        if p.organization_id not in known:
            errors.add(f"participants.{i}.organizationId", "No organization with this ID.", "NOT_FOUND")


async def _validate_parent(session: AsyncSession, errors: Collector, programme_id: int | None, parent_id: int) -> None:
    if programme_id is not None and parent_id == programme_id:
        errors.add("parentId", "A programme cannot be its own parent.", "SELF_PARENT")
        return
    exists = (await session.execute(sa.select(Programme.id).where(Programme.id == parent_id))).first()
    if exists is None:
        errors.add("parentId", "No programme with this ID.", "NOT_FOUND")
        return
    if programme_id is None:
        return  # a new programme has no descendants
    ancestors = (
        sa.select(Programme.id, Programme.parent_id).where(Programme.id == parent_id).cte("ancestors", recursive=True)
    )
    ancestors = ancestors.union(
        sa.select(Programme.id, Programme.parent_id).join(ancestors, Programme.id == ancestors.c.parent_id)
    )
    cycle = (await session.execute(sa.select(ancestors.c.id).where(ancestors.c.id == programme_id))).first()
    if cycle is not None:
        errors.add("parentId", "This parent is a descendant of the programme: that would make a cycle.", "CYCLE")


async def _replace_links(session: AsyncSession, programme_id: int, values: dict[str, Any]) -> None:
    if "recipient_states" in values:
        await session.execute(
            sa.delete(ProgrammeRecipientState).where(ProgrammeRecipientState.programme_id == programme_id)
        )
        for r in values["recipient_states"] or []:
            session.add(
                ProgrammeRecipientState(programme_id=programme_id, state_iso3=r.state_iso3, percentage=r.percentage)
            )
    if "participants" in values:
        await session.execute(sa.delete(ProgrammeParticipant).where(ProgrammeParticipant.programme_id == programme_id))
        for p in values["participants"] or []:
            session.add(ProgrammeParticipant(programme_id=programme_id, organization_id=p.organization_id, role=p.role))


async def _snapshot(session: AsyncSession, programme: Programme) -> dict[str, Any]:
    """The programme's columns with its recipient States and participants, for the audit trail."""
    recipients = (
        await session.execute(
            sa.select(ProgrammeRecipientState.state_iso3, ProgrammeRecipientState.percentage)
            .where(ProgrammeRecipientState.programme_id == programme.id)
            .order_by(ProgrammeRecipientState.state_iso3)
        )
    ).all()
    participants = (await participants_of(session=session, programme_ids=[programme.id]))[programme.id]
    return audit.snapshot(programme) | {
        "recipient_states": [{"state": s, "percentage": p} for s, p in recipients],
        "participants": [{"organization_id": o, "role": r.value} for o, r in participants],
    }


def _apply(programme: Programme, given: dict[str, Any], currency: str | None) -> None:
    for key, value in given.items():
        if key not in COLUMN_FIELDS:
            continue
        if value is None and key in CODE_LISTS:
            value = []
        if value is None and key == "description":
            value = ""
        setattr(programme, key, value)
    for key in AMOUNT_FIELDS:
        if key in given:
            setattr(programme, f"{key}_amount", given[key].amount if given[key] is not None else None)
    if any(key in given for key in AMOUNT_FIELDS):
        programme.currency = currency


async def _flush(session: AsyncSession) -> None:
    """Flush; a concurrent insert of the same IATI identifier becomes the same user error."""
    try:
        await session.flush()
    except IntegrityError as error:
        if "iati_identifier" in str(error.orig):
            raise ValidationFailed(
                errors=[
                    FieldError("iatiIdentifier", "Another programme already has this IATI identifier.", "DUPLICATE")
                ]
            ) from None
        raise


async def create_programme(*, session: AsyncSession, principal: Principal, values: ProgrammeFields) -> Programme:
    """A new programme reported by the caller's own organization (DONOR or AGENCY keys only)."""
    organization_id = require_offering_member(principal, None, what="programmes")
    given = _normalise(values.given())
    given.setdefault("title", "")
    given.setdefault("iati_identifier", "")
    currency = await _validate(session, programme_id=None, values=given, merged=given)
    programme = Programme(
        reporting_organization_id=organization_id,
        iati_identifier=given["iati_identifier"],
        title=given["title"],
    )
    _apply(programme, given, currency)
    session.add(programme)
    await _flush(session)
    await _replace_links(session, programme.id, given)
    await _flush(session)
    await session.refresh(programme)
    await audit.record(
        session,
        principal=principal,
        entity_type="Programme",
        entity_id=programme.id,
        action="create",
        after=await _snapshot(session, programme),
    )
    await event_log.programme_changed(session, programme, created=True)
    await freshness.programme_changed(session, programme.id)
    return programme


async def update_programme(
    *, session: AsyncSession, principal: Principal, programme_id: int, values: ProgrammeFields
) -> Programme:
    """Change a programme of the caller's own organization; omitted fields stay as they are."""
    require_offering_member(principal, None, what="programmes")  # who may write at all, before any lookup
    stmt = sa.select(Programme).where(Programme.id == programme_id).with_for_update()
    programme = (await session.execute(stmt)).scalar_one_or_none()
    if programme is None:
        raise NotFound("No programme with this id.", field="id")
    require_offering_member(principal, programme.reporting_organization_id, what="programmes")
    given = _normalise(values.given())
    before = await _snapshot(session, programme)
    merged: dict[str, Any] = {
        "start_date": programme.start_date,
        "end_date": programme.end_date,
        **{
            key: Amount(amount, programme.currency)
            if (amount := getattr(programme, f"{key}_amount")) is not None
            else None
            for key in AMOUNT_FIELDS
        },
    } | given
    currency = await _validate(session, programme_id=programme.id, values=given, merged=merged)
    _apply(programme, given, currency)
    programme.updated_at = sa.func.now()
    await _replace_links(session, programme.id, given)
    await _flush(session)
    await session.refresh(programme)
    await audit.record(
        session,
        principal=principal,
        entity_type="Programme",
        entity_id=programme.id,
        action="update",
        before=before,
        after=await _snapshot(session, programme),
    )
    await event_log.programme_changed(session, programme, created=False)
    await freshness.programme_changed(session, programme.id)
    return programme


# -- IATI details (budgets, transactions, recipient regions) ------------------------------------


async def _grouped(
    session: AsyncSession, model: Any, programme_ids: Sequence[int], *order: Any
) -> dict[int, list[Any]]:
    stmt = sa.select(model).where(model.programme_id.in_(list(programme_ids))).order_by(model.programme_id, *order)
    grouped: dict[int, list[Any]] = {pid: [] for pid in programme_ids}
    for row in (await session.execute(stmt)).scalars():
        grouped[row.programme_id].append(row)
    return grouped


async def recipient_regions_of(*, session: AsyncSession, programme_ids: Sequence[int]) -> dict[int, list[Any]]:
    from service.models.programmes import ProgrammeRecipientRegion

    return await _grouped(session, ProgrammeRecipientRegion, programme_ids, ProgrammeRecipientRegion.region_code)


async def budgets_of(*, session: AsyncSession, programme_ids: Sequence[int]) -> dict[int, list[Any]]:
    from service.models.programmes import ProgrammeBudget

    return await _grouped(session, ProgrammeBudget, programme_ids, ProgrammeBudget.period_start, ProgrammeBudget.id)


async def transactions_of(*, session: AsyncSession, programme_ids: Sequence[int]) -> dict[int, list[Any]]:
    from service.models.programmes import ProgrammeTransaction

    return await _grouped(
        session, ProgrammeTransaction, programme_ids, ProgrammeTransaction.value_date, ProgrammeTransaction.id
    )
