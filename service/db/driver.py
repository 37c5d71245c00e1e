"""The database driver's own pooled connections, for the one statement a ready read runs.

A ready read (graphql_schema/ready.py) is one statement of a tenth of a millisecond. Taking a
connection from SQLAlchemy's pool for it (an AsyncConnection, three greenlet switches, the
pool's events and its reset on return) cost the service as much CPU as the rest of the
request: measured under wrk -c16 on node lookups, 320 → 237 µs of server CPU per request
with this pool instead. These connections carry no ORM session and no transaction between
statements; the engine's pool keeps serving everything else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from service.db.engine import SESSION_SETTINGS
from service.db.url import asyncpg_dsn


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """These connections only run single statements in their own transactions (no session
    settings, LISTEN or advisory locks), so nothing outlives a statement; asyncpg's default
    reset would be a round trip (RESET ALL, UNLISTEN *, …) per release. asyncpg still rolls
    back an open transaction before calling this."""


class DriverPool:
    """asyncpg connections opened as needed (none at start), at most `max_size`, each kept
    until idle for five minutes."""

    def __init__(self, url: str, *, max_size: int):
        self.dsn = asyncpg_dsn(url)
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self.max_size,
            max_inactive_connection_lifetime=300,
            reset=_nothing_to_reset,
            server_settings=SESSION_SETTINGS,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for a few statements. One whose statement failed or was cut off (a
        client gone mid-statement) is closed rather than pooled: it may be mid-protocol."""
        if self._pool is None:
            raise RuntimeError("the driver pool is not open")
        async with self._pool.acquire() as connection:
            try:
                yield connection
            except BaseException:
                connection.terminate()
                raise
