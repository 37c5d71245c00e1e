"""Checks of codes against the reference tables (themes, sectors, SDGs, currencies, States)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import Collector
from service.models import DacSector, IatiCode, SdgTarget, State, Theme
from service.models.enums import Modality, RightsDimension

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


async def _known(session: AsyncSession, column, values: Iterable[str], *extra) -> set[str]:
    values = list(values)
    if not values:
        return set()
    stmt = sa.select(column).where(column.in_(values), *extra)
    return set((await session.execute(stmt)).scalars().all())


async def check_codes(
    session: AsyncSession,
    errors: Collector,
    *,
    themes: list[str] | None = None,
    sectors: list[str] | None = None,
    sdg_targets: list[str] | None = None,
    rights_dimensions: list[str] | None = None,
    modalities: list[str] | None = None,
    languages: list[str] | None = None,
    currency: str | None = None,
    states: list[str] | None = None,
    field_prefix: str = "",
) -> None:
    """Add one error per unknown code, naming the field and the offending values."""

    def report(field: str, unknown: list[str], what: str) -> None:
        if unknown:
            errors.add(
                f"{field_prefix}{field}",
                f"Unknown {what}: {', '.join(sorted(unknown))}.",
                "UNKNOWN_CODE",
            )

    if themes:
        report("themes", [t for t in themes if t not in await _known(session, Theme.code, themes)], "theme code(s)")
    if sectors:
        known = await _known(session, DacSector.code, sectors, DacSector.withdrawn.is_(False))
        report("sectors", [s for s in sectors if s not in known], "or withdrawn DAC 5-digit sector code(s)")
    if sdg_targets:
        known = await _known(session, SdgTarget.code, sdg_targets)
        report("sdgTargets", [s for s in sdg_targets if s not in known], "SDG target(s) (use codes such as 16.3)")
    if rights_dimensions:
        allowed = {d.value for d in RightsDimension}
        report("rightsDimensions", [d for d in rights_dimensions if d not in allowed], "rights dimension(s)")
    if modalities:
        allowed = {m.value for m in Modality}
        report("modalities", [m for m in modalities if m not in allowed], "modality value(s)")
    if languages:
        report(
            "workingLanguages" if field_prefix == "" else "languages",
            [lang for lang in languages if not LANGUAGE_CODE.match(lang)],
            "language code(s) (use ISO 639-1 codes such as en, fr, ar)",
        )
    if currency is not None:
        known = await _known(session, IatiCode.code, [currency], IatiCode.codelist == "Currency")
        if currency not in known:
            errors.add(
                f"{field_prefix}currency",
                f"Unknown currency {currency!r}: use an ISO 4217 code such as USD, EUR, CHF.",
                "UNKNOWN_CODE",
            )
    if states:
        known = await _known(session, State.iso3, states)
        report("states", [s for s in states if s not in known], "State code(s) (ISO 3166 alpha-3)")


async def state_exists(session: AsyncSession, iso3: str) -> bool:
    return bool(await _known(session, State.iso3, [iso3]))
