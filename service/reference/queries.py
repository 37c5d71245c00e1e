"""Reads of the reference taxonomies: themes, SDG goals and targets, DAC sectors and
categories, IATI codelists. Public; bounded lists (themes are paginated anyway)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from service.errors import InvalidInput
from service.models import DacSector, DacSectorCategory, IatiCode, SdgGoal, SdgTarget, Theme
from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate
from service.reference.load import IATI_CODELISTS_KEPT
from service.states import escape_like

MAX_SEARCH_LENGTH = 200


def natural_key(code: str) -> tuple:
    """Sort "2" before "10" and "16.2" before "16.10" (then letters: "16.a")."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\-]", code))


# -- themes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeFilter:
    clusters: Sequence[str] | None = None
    rights_dimensions: Sequence[str] | None = None
    search: str | None = None  # part of the code, name or UPR Info issue


def themes_select(f: ThemeFilter | None) -> Select:
    stmt = sa.select(Theme)
    if f is None:
        return stmt
    if f.clusters is not None:
        stmt = stmt.where(Theme.cluster.in_([c.strip().upper() for c in f.clusters]))
    if f.rights_dimensions is not None:
        stmt = stmt.where(Theme.rights_dimensions.overlap([str(getattr(d, "value", d)) for d in f.rights_dimensions]))
    if f.search is not None:
        if len(f.search) > MAX_SEARCH_LENGTH:
            raise InvalidInput(f"`search` is longer than {MAX_SEARCH_LENGTH} characters.", field="search")
        text = f.search.strip()
        if text:
            pattern = f"%{escape_like(text)}%"
            stmt = stmt.where(
                sa.or_(
                    Theme.name.ilike(pattern, escape="\\"),
                    Theme.code.ilike(pattern, escape="\\"),
                    Theme.upr_info_issue.ilike(pattern, escape="\\"),
                )
            )
    return stmt


THEME_ORDERING = Ordering(
    "themes:NAME:ASC", (SortKey("name", Theme.name, False, "str"), SortKey("code", Theme.code, False, "str"))
)


async def list_themes(
    *, session: AsyncSession, theme_filter: ThemeFilter | None = None, page: PageArgs = PageArgs()
) -> Page[Theme]:
    return await paginate(session, themes_select(theme_filter), THEME_ORDERING, page)


async def count_themes(*, session: AsyncSession, theme_filter: ThemeFilter | None = None) -> int:
    return await count(session, themes_select(theme_filter))


async def get_themes(*, session: AsyncSession, codes: Sequence[str]) -> dict[str, Theme]:
    rows = (await session.execute(sa.select(Theme).where(Theme.code.in_(list(codes))))).scalars()
    return {t.code: t for t in rows}


# -- SDGs ------------------------------------------------------------------------------------


async def list_sdg_goals(*, session: AsyncSession) -> list[SdgGoal]:
    rows = (await session.execute(sa.select(SdgGoal))).scalars().all()
    return sorted(rows, key=lambda g: natural_key(g.code))


async def list_sdg_targets(*, session: AsyncSession, goal: str | None = None) -> list[SdgTarget]:
    stmt = sa.select(SdgTarget)
    if goal is not None:
        stmt = stmt.where(SdgTarget.goal_code == goal.strip())
    rows = (await session.execute(stmt)).scalars().all()
    return sorted(rows, key=lambda t: natural_key(t.code))


async def sdg_targets_per_goal(*, session: AsyncSession, goal_codes: Sequence[str]) -> dict[str, list[SdgTarget]]:
    rows = (await session.execute(sa.select(SdgTarget).where(SdgTarget.goal_code.in_(list(goal_codes))))).scalars()
    grouped: dict[str, list[SdgTarget]] = {code: [] for code in goal_codes}
    for row in sorted(rows, key=lambda t: natural_key(t.code)):
        grouped.setdefault(row.goal_code, []).append(row)
    return grouped


async def get_sdg_goals(*, session: AsyncSession, codes: Sequence[str]) -> dict[str, SdgGoal]:
    rows = (await session.execute(sa.select(SdgGoal).where(SdgGoal.code.in_(list(codes))))).scalars()
    return {g.code: g for g in rows}


# -- DAC sectors -----------------------------------------------------------------------------


async def list_dac_sector_categories(
    *, session: AsyncSession, include_withdrawn: bool = False
) -> list[DacSectorCategory]:
    stmt = sa.select(DacSectorCategory).order_by(DacSectorCategory.code)
    if not include_withdrawn:
        stmt = stmt.where(DacSectorCategory.withdrawn.is_(False))
    return list((await session.execute(stmt)).scalars().all())


async def list_dac_sectors(
    *, session: AsyncSession, category: str | None = None, include_withdrawn: bool = False
) -> list[DacSector]:
    stmt = sa.select(DacSector).order_by(DacSector.code)
    if category is not None:
        stmt = stmt.where(DacSector.category_code == category.strip())
    if not include_withdrawn:
        stmt = stmt.where(DacSector.withdrawn.is_(False))
    return list((await session.execute(stmt)).scalars().all())


async def get_dac_sector_categories(*, session: AsyncSession, codes: Sequence[str]) -> dict[str, DacSectorCategory]:
    rows = (
        await session.execute(sa.select(DacSectorCategory).where(DacSectorCategory.code.in_(list(codes))))
    ).scalars()
    return {c.code: c for c in rows}


# -- IATI codelists --------------------------------------------------------------------------


def _known_codelist(name: str) -> str:
    if name not in IATI_CODELISTS_KEPT:
        raise InvalidInput(f"Unknown IATI codelist {name!r}; kept: {', '.join(IATI_CODELISTS_KEPT)}.", field="name")
    return name


async def list_codelist(*, session: AsyncSession, name: str, include_withdrawn: bool = False) -> list[IatiCode]:
    """The entries of one IATI codelist (OrganisationType, OrganisationRole, ActivityStatus,
    Currency, Region), in natural code order."""
    stmt = sa.select(IatiCode).where(IatiCode.codelist == _known_codelist(name))
    if not include_withdrawn:
        stmt = stmt.where(IatiCode.withdrawn.is_(False))
    rows = (await session.execute(stmt)).scalars().all()
    return sorted(rows, key=lambda c: natural_key(c.code))


async def get_iati_codes(*, session: AsyncSession, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], IatiCode]:
    """Codelist entries by (codelist, code), e.g. ("ActivityStatus", "2")."""
    if not keys:
        return {}
    stmt = sa.select(IatiCode).where(sa.tuple_(IatiCode.codelist, IatiCode.code).in_([tuple(k) for k in keys]))
    return {(c.codelist, c.code): c for c in (await session.execute(stmt)).scalars()}
