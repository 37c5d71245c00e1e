"""Per-principal rate limit over query cost: a leaky bucket stored in PostgreSQL.

The bucket drains at `restore_rate` points per second up to `capacity`. A request is
admitted only if its cost still fits; the check and the charge are one atomic statement,
so concurrent requests on several worker processes cannot overspend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

_CHARGE = sa.text(
    """
    insert into rate_limit_bucket as b (key, level, updated_at)
    values (:key, :cost, now())
    on conflict (key) do update
       set level = greatest(0, b.level - greatest(0, extract(epoch from (now() - b.updated_at))) * :rate) + :cost,
           updated_at = greatest(b.updated_at, now())
     where greatest(0, b.level - greatest(0, extract(epoch from (now() - b.updated_at))) * :rate) + :cost <= :capacity
    returning level
    """
)

# now() is the transaction's start: a transaction that waited on the row lock behind a later
# one sees a negative elapsed time, which must not count as "more drained".
_PEEK = sa.text(
    "select greatest(0, level - greatest(0, extract(epoch from (now() - updated_at))) * :rate) "
    "from rate_limit_bucket where key = :key"
)


@dataclass(frozen=True)
class Throttle:
    admitted: bool
    capacity: float
    available: float
    restore_rate: float
    retry_after_seconds: float = 0.0

    @property
    def reset_seconds(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.capacity - self.available) / self.restore_rate if self.restore_rate else 0.0


async def charge(session: AsyncSession, *, key: str, cost: float, capacity: float, restore_rate: float) -> Throttle:
    """Admit and charge `cost`, or refuse with the wait after which it would fit. A cost over
    the capacity would never fit: callers refuse it before (QUERY_TOO_COMPLEX)."""
    if cost > capacity:
        raise ValueError(f"cost {cost} exceeds the bucket's capacity {capacity}")
    level = (
        await session.execute(_CHARGE, {"key": key, "cost": cost, "rate": restore_rate, "capacity": capacity})
    ).scalar_one_or_none()
    await session.commit()
    if level is not None:
        return Throttle(True, capacity, max(0.0, capacity - level), restore_rate)
    current = (await session.execute(_PEEK, {"key": key, "rate": restore_rate})).scalar_one_or_none() or 0.0
    retry = (current + cost - capacity) / restore_rate if restore_rate else math.inf
    return Throttle(False, capacity, max(0.0, capacity - current), restore_rate, max(retry, 0.0))


async def peek(session: AsyncSession, *, key: str, capacity: float, restore_rate: float) -> Throttle:
    current = (await session.execute(_PEEK, {"key": key, "rate": restore_rate})).scalar_one_or_none() or 0.0
    return Throttle(True, capacity, max(0.0, capacity - current), restore_rate)
