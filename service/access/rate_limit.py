"""Per-principal rate limit over query cost: a leaky bucket stored in PostgreSQL.

The bucket drains at `restore_rate` points per second up to `capacity`. A request is
admitted only if its cost still fits; the check and the charge are one atomic statement,
so concurrent requests on several worker processes cannot overspend.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

# The charge commits without waiting for its WAL to reach disk (synchronous_commit off for
# this statement's own transaction only): a crash may forget the last few milliseconds of
# charges, which only refills buckets a little, and no request waits on a disk flush while
# it holds the bucket's row lock (every anonymous caller behind one address shares that row).
#
# `returned`: points a worker leased earlier and did not use (service/access/rate_lease.py),
# given back in the same write; 0 for an ordinary charge.
CHARGE_SQL = """
    insert into rate_limit_bucket as b (key, level, updated_at)
    select :key, greatest(0, cast(:cost as float8) - cast(:returned as float8)), now()
      from (select set_config('synchronous_commit', 'off', true)) as asynchronous
    on conflict (key) do update
       set level = greatest(0, greatest(0, b.level - greatest(0, extract(epoch from (now() - b.updated_at))) * :rate)
                                + :cost - :returned),
           updated_at = greatest(b.updated_at, now())
     where greatest(0, b.level - greatest(0, extract(epoch from (now() - b.updated_at))) * :rate) + :cost - :returned
           <= :capacity
    returning level, written_lsn
    """
_CHARGE = sa.text(CHARGE_SQL)

# With a read replica: the primary's WAL insert position after a principal's write (not the
# write position, which trails a commit under synchronous_commit=off), so that its
# next reads wait until the replica has replayed it (read-your-writes, on every worker).
_RECORD_WRITE = sa.text(
    """
    insert into rate_limit_bucket as b (key, level, updated_at, written_lsn)
    values (:key, 0, now(), pg_current_wal_insert_lsn()::text)
    on conflict (key) do update set written_lsn = excluded.written_lsn
    returning written_lsn
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
    # The primary's WAL position after the principal's last write (set only with a replica).
    written_lsn: str | None = None

    @property
    def reset_seconds(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.capacity - self.available) / self.restore_rate if self.restore_rate else 0.0


async def charge(session: AsyncSession, *, key: str, cost: float, capacity: float, restore_rate: float) -> Throttle:
    """Admit and charge `cost`, or refuse with the wait after which it would fit. A cost over
    the capacity would never fit: callers refuse it before (QUERY_TOO_COMPLEX)."""
    if cost > capacity:
        raise ValueError(f"cost {cost} exceeds the bucket's capacity {capacity}")
    row = (
        await session.execute(
            _CHARGE, {"key": key, "cost": cost, "rate": restore_rate, "capacity": capacity, "returned": 0.0}
        )
    ).one_or_none()
    await session.commit()
    if row is not None:
        return Throttle(True, capacity, max(0.0, capacity - row.level), restore_rate, written_lsn=row.written_lsn)
    current = (await session.execute(_PEEK, {"key": key, "rate": restore_rate})).scalar_one_or_none() or 0.0
    retry = (current + cost - capacity) / restore_rate if restore_rate else math.inf
    return Throttle(False, capacity, max(0.0, capacity - current), restore_rate, max(retry, 0.0))


async def peek(session: AsyncSession, *, key: str, capacity: float, restore_rate: float) -> Throttle:
    current = (await session.execute(_PEEK, {"key": key, "rate": restore_rate})).scalar_one_or_none() or 0.0
    return Throttle(True, capacity, max(0.0, capacity - current), restore_rate)


async def record_write(session: AsyncSession, *, key: str) -> str:
    """Note that `key`'s principal has just committed a write; returns the WAL position its
    later reads must see on a replica."""
    lsn = (await session.execute(_RECORD_WRITE, {"key": key})).scalar_one()
    await session.commit()
    return lsn


def positional_charge(first: int = 1) -> str:
    """The charge with positional parameters from `$first` on: key, cost, restore rate,
    capacity, returned points (for the driver's own connection; it returns the level, null
    when refused)."""
    names = {"key": 0, "cost": 1, "rate": 2, "capacity": 3, "returned": 4}
    return re.sub(
        r":(key|cost|rate|capacity|returned)\b", lambda m: f"${first + names[m.group(1)]}", CHARGE_SQL
    ).strip()


def charge_before(statement: str, parameter_count: int) -> str:
    """One statement that charges the bucket, then runs `statement` (a SELECT of one value with
    parameters $1…$n) only if the charge was admitted: one round trip and one commit instead
    of two. Its parameters are `statement`'s, then key, cost, restore rate, capacity and
    returned points; it returns (the bucket's level after the charge, the statement's value), both null when
    refused (nothing is charged then). The bucket's row stays locked until the statement
    ends: only for statements that take well under a millisecond."""
    return (
        f"with charge as ({positional_charge(parameter_count + 1)})\n"
        f"select (select level from charge), case when exists (select from charge) then ({statement}) end"
    )
