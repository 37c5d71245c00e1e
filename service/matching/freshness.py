"""Keep suggestions fresh: a change to a need or an offer recomputes only its matches, in
the same transaction as the change (so they are current the moment it commits)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.matching import engine
from service.models.matching import OfferKind


async def need_changed(session: AsyncSession, need_id: int) -> None:
    await engine.rematch_needs(session, [need_id])


async def programme_changed(session: AsyncSession, programme_id: int) -> None:
    await engine.rematch_offer(session, OfferKind.PROGRAMME, programme_id)


async def capability_changed(session: AsyncSession, capability_id: int) -> None:
    await engine.rematch_offer(session, OfferKind.CAPABILITY, capability_id)
