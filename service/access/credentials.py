"""Is a credential accepted once authenticated still accepted? For connections (WebSockets)
that authenticate once and stay open: a revoked or expired key, or an expired token, loses
its power over them too."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.access.keys import live_api_key_ids
from service.access.principals import Principal


def expired(principal: Principal) -> bool:
    return principal.expires_at is not None and principal.expires_at <= datetime.now(UTC)


async def still_accepted(session: AsyncSession, principal: Principal) -> bool:
    """False once the principal's API key is revoked or expired, or its token expired.
    Anonymous and unexpiring token principals stay accepted; a key costs one lookup."""
    if expired(principal):
        return False
    if principal.api_key_id is None:
        return True
    return principal.api_key_id in await live_api_key_ids(session, [principal.api_key_id])
