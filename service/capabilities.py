"""Capabilities: what an organization can offer without a funded programme yet.

Public reads. Only DONOR or AGENCY principals of the owning organization may create or
change a capability (the same rule as programmes, `programmes.require_offering_member`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service import audit
from service.access.principals import Principal
from service.errors import Collector, InvalidInput, NotFound
from service.events import record as event_log
from service.matching import freshness
from service.models import Capability, State
from service.needs import UNSET, sector_codes_matching, validate_search
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate, paginate_per_parent
from service.programmes import check_language_codes, normalise_codes, require_offering_member
from service.vocabulary import check_codes

MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 20_000
WORLD = "001"


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapabilityFilter:
    """Lists mean "any of"; several fields mean "all of"."""

    organizations: Sequence[int] | None = None
    themes: Sequence[str] | None = None
    sectors: Sequence[str] | None = None  # 5-digit codes, or 3-digit categories
    modalities: Sequence[str] | None = None
    regions_served: Sequence[str] | None = None  # M49 codes; see `regions_served_clause`
    search: str | None = None
    updated_since: datetime | None = None


class CapabilityOrderField(str, Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    TITLE = "TITLE"
    RELEVANCE = "RELEVANCE"


@dataclass(frozen=True)
class CapabilityOrder:
    field: CapabilityOrderField = CapabilityOrderField.CREATED_AT
    descending: bool = True


def _state_in_regions(codes: list[str]) -> ColumnElement[bool]:
    return sa.or_(
        State.region_code.in_(codes),
        State.sub_region_code.in_(codes),
        State.intermediate_region_code.in_(codes),
        sa.literal(WORLD).in_(codes),
    )


def regions_served_clause(codes: Sequence[str]) -> ColumnElement[bool]:
    """Capabilities serving any of these M49 regions: serving the region itself, the world
    ("001"), or any region that shares a State with it (a wider or a narrower one: a
    capability serving Africa serves Sub-Saharan Africa, and asking for Africa finds one
    serving Eastern Africa)."""
    codes = [c.strip() for c in codes]
    served = Capability.regions_served
    shares_a_state = sa.exists(
        sa.select(sa.literal(1))
        .select_from(State)
        .where(
            _state_in_regions(codes),
            sa.or_(
                State.region_code == sa.any_(served),
                State.sub_region_code == sa.any_(served),
                State.intermediate_region_code == sa.any_(served),
            ),
        )
    )
    return sa.or_(served.overlap(codes + [WORLD]), shares_a_state)


def filter_clauses(capability_filter: CapabilityFilter | None) -> list[ColumnElement[bool]]:
    if capability_filter is None:
        return []
    f = capability_filter
    clauses: list[ColumnElement[bool]] = []
    if f.organizations is not None:
        clauses.append(Capability.organization_id.in_(list(f.organizations)))
    if f.themes is not None:
        clauses.append(Capability.themes.overlap(list(f.themes)))
    if f.sectors is not None:
        clauses.append(Capability.sectors.overlap(sector_codes_matching(f.sectors)))
    if f.modalities is not None:
        clauses.append(Capability.modalities.overlap([str(getattr(m, "value", m)) for m in f.modalities]))
    if f.regions_served is not None:
        clauses.append(regions_served_clause(f.regions_served))
    search = validate_search(f.search)
    if search is not None:
        clauses.append(Capability.search_vector.op("@@")(sa.func.websearch_to_tsquery("english", search)))
    if f.updated_since is not None:
        clauses.append(Capability.updated_at >= f.updated_since)
    return clauses


def capabilities_select(capability_filter: CapabilityFilter | None = None) -> Select:
    return sa.select(Capability).where(*filter_clauses(capability_filter))


def capability_ordering(order: CapabilityOrder | None, search: str | None) -> Ordering:
    if order is None:
        order = (
            CapabilityOrder(CapabilityOrderField.RELEVANCE, True)
            if search and search.strip()
            else CapabilityOrder(CapabilityOrderField.CREATED_AT, True)
        )
    desc = order.descending
    tie = SortKey("id", Capability.id, desc, "int")
    identity = f"capabilities:{order.field.value}:{'DESC' if desc else 'ASC'}"
    if order.field is CapabilityOrderField.RELEVANCE:
        if not (search and search.strip()):
            raise InvalidInput("Ordering by RELEVANCE needs a `search` text in the filter.", field="orderBy")
        rank = sa.func.ts_rank_cd(Capability.search_vector, sa.func.websearch_to_tsquery("english", search))
        return Ordering(identity + f":{search}", (SortKey("rank", rank, desc, "float"), tie))
    column, kind = {
        CapabilityOrderField.CREATED_AT: (Capability.created_at, "datetime"),
        CapabilityOrderField.UPDATED_AT: (Capability.updated_at, "datetime"),
        CapabilityOrderField.TITLE: (Capability.title, "str"),
    }[order.field]
    return Ordering(identity, (SortKey(order.field.value.lower(), column, desc, kind), tie))


def _search_of(capability_filter: CapabilityFilter | None) -> str | None:
    return capability_filter.search if capability_filter else None


async def list_capabilities(
    *,
    session: AsyncSession,
    capability_filter: CapabilityFilter | None = None,
    order: CapabilityOrder | None = None,
    page: PageArgs = PageArgs(),
) -> Page[Capability]:
    ordering = capability_ordering(order, _search_of(capability_filter))
    return await paginate(session, capabilities_select(capability_filter), ordering, page)


async def count_capabilities(*, session: AsyncSession, capability_filter: CapabilityFilter | None = None) -> int:
    return await count(session, capabilities_select(capability_filter))


async def get_capabilities(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, Capability]:
    if not ids:
        return {}
    rows = (await session.execute(sa.select(Capability).where(Capability.id.in_(list(ids))))).scalars()
    return {c.id: c for c in rows}


async def capabilities_per_organization(
    *,
    session: AsyncSession,
    organization_ids: Sequence[int],
    capability_filter: CapabilityFilter | None,
    order: CapabilityOrder | None,
    page: PageArgs,
) -> dict[int, Page[Capability]]:
    ordering = capability_ordering(order, _search_of(capability_filter))
    return await paginate_per_parent(
        session,
        capabilities_select(capability_filter),
        Capability.organization_id,
        organization_ids,
        ordering,
        page,
        Capability,
    )


async def count_capabilities_per_organization(
    *, session: AsyncSession, organization_ids: Sequence[int], capability_filter: CapabilityFilter | None
) -> dict[int, int]:
    stmt = (
        sa.select(Capability.organization_id, sa.func.count())
        .where(Capability.organization_id.in_(list(organization_ids)), *filter_clauses(capability_filter))
        .group_by(Capability.organization_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {oid: int(counts.get(oid, 0)) for oid in organization_ids}


# -- writing -------------------------------------------------------------------------------


@dataclass
class CapabilityFields:
    """The editable fields of a capability. In an update, UNSET means "leave as it is";
    lists are replaced whole."""

    title: Any = UNSET
    description: Any = UNSET
    themes: Any = UNSET
    sectors: Any = UNSET
    modalities: Any = UNSET
    regions_served: Any = UNSET
    languages: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


CODE_LISTS = ("themes", "sectors", "modalities", "regions_served", "languages")
COLUMN_FIELDS = ("title", "description", *CODE_LISTS)


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    normalise_codes(out, CODE_LISTS)
    if out.get("title") is not None:
        out["title"] = out["title"].strip()
    return out


async def known_region_codes(session: AsyncSession, codes: Sequence[str]) -> set[str]:
    """Which of these are UN M49 region, sub-region or intermediate region codes (or 001)."""
    codes = list(codes)
    known = {WORLD} & set(codes)
    for column in (State.region_code, State.sub_region_code, State.intermediate_region_code):
        known |= set((await session.execute(sa.select(column).where(column.in_(codes)).distinct())).scalars().all())
    return known


async def _validate(session: AsyncSession, values: dict[str, Any]) -> None:
    errors = Collector()
    if "title" in values:
        title = values["title"] or ""
        if not title:
            errors.add("title", "A capability needs a title.", "REQUIRED")
        elif len(title) > MAX_TITLE_LENGTH:
            errors.add("title", f"Keep the title under {MAX_TITLE_LENGTH} characters.", "TOO_LONG")
    if "description" in values and len(values["description"] or "") > MAX_DESCRIPTION_LENGTH:
        errors.add("description", f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters.", "TOO_LONG")
    await check_codes(
        session,
        errors,
        themes=values.get("themes"),
        sectors=values.get("sectors"),
        modalities=values.get("modalities"),
    )
    await check_language_codes(session, errors, values.get("languages"))
    regions = values.get("regions_served")
    if regions:
        known = await known_region_codes(session, regions)
        unknown = [r for r in regions if r not in known]
        if unknown:
            errors.add(
                "regionsServed",
                f"Unknown UN M49 region code(s): {', '.join(sorted(unknown))}. Use codes such as 001 (World), "
                "002 (Africa), 202 (Sub-Saharan Africa), 419 (Latin America and the Caribbean).",
                "UNKNOWN_CODE",
            )
    errors.raise_if_any()


def _apply(capability: Capability, given: dict[str, Any]) -> None:
    for key, value in given.items():
        if key not in COLUMN_FIELDS:
            continue
        if value is None and key in CODE_LISTS:
            value = []
        if value is None and key == "description":
            value = ""
        setattr(capability, key, value)


async def create_capability(*, session: AsyncSession, principal: Principal, values: CapabilityFields) -> Capability:
    """A new capability of the caller's own organization (DONOR or AGENCY keys only)."""
    organization_id = require_offering_member(principal, None, what="capabilities")
    given = _normalise(values.given())
    given.setdefault("title", "")
    await _validate(session, given)
    capability = Capability(organization_id=organization_id, title=given["title"])
    _apply(capability, given)
    session.add(capability)
    await session.flush()
    await session.refresh(capability)
    await audit.record(
        session,
        principal=principal,
        entity_type="Capability",
        entity_id=capability.id,
        action="create",
        after=audit.snapshot(capability),
    )
    event_log.capability_changed(session, capability, created=True)
    await freshness.capability_changed(session, capability.id)
    return capability


async def update_capability(
    *, session: AsyncSession, principal: Principal, capability_id: int, values: CapabilityFields
) -> Capability:
    """Change a capability of the caller's own organization; omitted fields stay as they are."""
    require_offering_member(principal, None, what="capabilities")  # who may write at all, before any lookup
    stmt = sa.select(Capability).where(Capability.id == capability_id).with_for_update()
    capability = (await session.execute(stmt)).scalar_one_or_none()
    if capability is None:
        raise NotFound("No capability with this id.", field="id")
    require_offering_member(principal, capability.organization_id, what="capabilities")
    given = _normalise(values.given())
    before = audit.snapshot(capability)
    await _validate(session, given)
    _apply(capability, given)
    capability.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(capability)
    await audit.record(
        session,
        principal=principal,
        entity_type="Capability",
        entity_id=capability.id,
        action="update",
        before=before,
        after=audit.snapshot(capability),
    )
    event_log.capability_changed(session, capability, created=False)
    await freshness.capability_changed(session, capability.id)
    return capability
