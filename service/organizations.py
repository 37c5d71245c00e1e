"""Organizations: donors, UN agencies and funds, regional bodies, NHRIs, civil society.
Public reads (they are created by administrators and importers, not through the API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service.models import Organization
from service.models.enums import OrganizationCategory
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate
from service.states import escape_like

MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True)
class OrganizationFilter:
    """Lists mean "any of"; several fields mean "all of"."""

    categories: Sequence[OrganizationCategory] | None = None
    states: Sequence[str] | None = None  # ISO3 of the State an organization is linked to
    search: str | None = None  # part of the name or acronym, case-insensitive


class OrganizationOrderField(str, Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"


@dataclass(frozen=True)
class OrganizationOrder:
    field: OrganizationOrderField = OrganizationOrderField.NAME
    descending: bool = False


def filter_clauses(organization_filter: OrganizationFilter | None) -> list[ColumnElement[bool]]:
    if organization_filter is None:
        return []
    f = organization_filter
    clauses: list[ColumnElement[bool]] = []
    if f.categories is not None:
        clauses.append(Organization.category.in_(list(f.categories)))
    if f.states is not None:
        clauses.append(Organization.state_iso3.in_([s.strip().upper() for s in f.states]))
    if f.search is not None:
        if len(f.search) > MAX_SEARCH_LENGTH:
            from service.errors import InvalidInput

            raise InvalidInput(f"`search` is longer than {MAX_SEARCH_LENGTH} characters.", field="search")
        text = f.search.strip()
        if text:
            pattern = f"%{escape_like(text)}%"
            clauses.append(
                sa.or_(
                    Organization.name.ilike(pattern, escape="\\"),
                    Organization.acronym.ilike(pattern, escape="\\"),
                )
            )
    return clauses


def organizations_select(organization_filter: OrganizationFilter | None = None) -> Select:
    return sa.select(Organization).where(*filter_clauses(organization_filter))


def organization_ordering(order: OrganizationOrder | None) -> Ordering:
    order = order or OrganizationOrder()
    desc = order.descending
    identity = f"organizations:{order.field.value}:{'DESC' if desc else 'ASC'}"
    tie = SortKey("id", Organization.id, desc, "int")
    if order.field is OrganizationOrderField.CREATED_AT:
        return Ordering(identity, (SortKey("created_at", Organization.created_at, desc, "datetime"), tie))
    return Ordering(identity, (SortKey("name", Organization.name, desc, "str"), tie))


async def list_organizations(
    *,
    session: AsyncSession,
    organization_filter: OrganizationFilter | None = None,
    order: OrganizationOrder | None = None,
    page: PageArgs = PageArgs(),
) -> Page[Organization]:
    return await paginate(session, organizations_select(organization_filter), organization_ordering(order), page)


async def count_organizations(*, session: AsyncSession, organization_filter: OrganizationFilter | None = None) -> int:
    return await count(session, organizations_select(organization_filter))


async def get_organizations(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, Organization]:
    if not ids:
        return {}
    rows = (await session.execute(sa.select(Organization).where(Organization.id.in_(list(ids))))).scalars()
    return {o.id: o for o in rows}
