"""Per-request context: the caller, and one set of DataLoaders for this request only.

An HTTP request reads through one leased connection (`lease_connection=True`): graphql-core
resolves sibling fields concurrently and one AsyncSession cannot serve two queries at once,
so the DataLoader batches take turns on it. Reads are autocommit (no BEGIN/ROLLBACK around
them; each statement sees committed data). A WebSocket connection lives for hours and must
not hold a pooled connection: each of its reads takes a short session instead.

Inside `read_session()` only run statements: awaiting a loader there would wait for the
lease it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from service.access.principals import Principal
from service.events.feed import CHANGES_SCAN_LIMIT


class Context(BaseContext):
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        principal: Principal,
        client_address: str | None = None,
        read_sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        lease_connection: bool = False,
        primary_read_sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        replica_max_wait_seconds: float = 1.0,
    ):
        super().__init__()
        self.sessionmaker = sessionmaker
        self.read_sessionmaker = read_sessionmaker or sessionmaker
        # Set when reads go to a replica (DATABASE_READ_URL): the primary, in autocommit, for
        # the rate-limit charge and for reads the replica has not caught up with.
        self.primary_read_sessionmaker = primary_read_sessionmaker
        self.replica_max_wait_seconds = replica_max_wait_seconds
        # The primary's WAL position the caller's reads must see (its own last write).
        self.min_lsn: str | None = None
        self.principal = principal
        self.client_address = client_address
        self.throttle: Any = None  # set by the cost limiter for `viewer.rateLimit`
        self.over_http = lease_connection  # an HTTP request's context (a WebSocket's serves many operations)
        # The compiled path's plan when it answered every root field (graphql_schema/ready.py).
        self.compiled_plan: Any = None
        # Log rows `changes` may still examine in this operation, and has examined (part of
        # the actual cost); the cost limiter resets both for every operation.
        self.scan_budget = CHANGES_SCAN_LIMIT
        self.rows_scanned = 0
        self._loaders: dict[Hashable, DataLoader] = {}
        self._lease: tuple[AsyncConnection, AsyncSession] | None = None
        self._lease_turn = asyncio.Lock() if lease_connection else None
        self._released = False

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """The session for one read: the request's leased one (one at a time), or a short one.
        Read paths never write; the rate limit's charge (one atomic statement) uses it too."""
        if self._lease_turn is None or self._released:  # after the request, a straggler reads on its own
            async with self.read_sessionmaker() as session:
                yield session
            return
        async with self._lease_turn:
            if self._lease is None:
                # The session is bound to a connection it does not own: its commit (the rate
                # limit's charge) leaves the connection leased instead of returning it.
                sessionmaker = self.read_sessionmaker
                connection = await sessionmaker.kw["bind"].connect()
                if self.primary_read_sessionmaker is not None and self.min_lsn is not None:
                    if not await replica_has_replayed(connection, self.min_lsn, self.replica_max_wait_seconds):
                        await connection.close()  # too far behind: this request reads the primary
                        sessionmaker = self.primary_read_sessionmaker
                        connection = await sessionmaker.kw["bind"].connect()
                self._lease = (connection, sessionmaker(bind=connection))
            connection, session = self._lease
            try:
                yield session
            except BaseException as error:
                # No statement in autocommit; resets the session's state. Its rows go first:
                # a rollback expires them, and a sibling field still reading the rows it
                # loaded here would then lazy-load outside a greenlet (an internal error).
                session.expunge_all()
                if not isinstance(error, Exception):
                    # Cancelled mid-statement (graphql-core cancels the other fields once an
                    # error nulls the whole result): asyncpg closes the connection under it,
                    # and in autocommit the pool's reset would not notice: the next request
                    # would meet a closed connection. It is dropped instead of given back.
                    self._lease = None
                    with contextlib.suppress(Exception):
                        await session.close()
                        await connection.invalidate()
                    raise
                await session.rollback()
                raise

    async def release(self) -> None:
        """Give the leased connection back to the pool (at the end of the request), and drop
        the loaders: each refers back to this context (a reference cycle), so everything
        they loaded would otherwise wait for the cyclic garbage collector."""
        self._loaders = {}
        self._released = True
        if self._lease_turn is None:
            return
        # A read may still be running on the lease: a DataLoader batch whose caller graphql-core
        # cancelled (an error nulled the whole result) goes on in its own task. Given back under
        # it, the connection went to the next request closed or mid-statement.
        async with self._lease_turn:
            await self._give_back_lease()

    async def _give_back_lease(self) -> None:
        if self._lease is not None:
            (connection, session), self._lease = self._lease, None
            await session.close()
            await connection.close()

    @asynccontextmanager
    async def charge_session(self) -> AsyncIterator[AsyncSession]:
        """Where the rate limit is charged: the request's lease, or the primary when reads go to
        a replica (which cannot be written, and whose copy of the bucket may lag)."""
        if self.primary_read_sessionmaker is None:
            async with self.read_session() as session:
                yield session
            return
        async with self.primary_read_sessionmaker() as session:
            yield session

    def reads_after(self, lsn: str | None) -> None:
        """The caller's reads must see the primary's WAL up to `lsn` (its own last write)."""
        if lsn is not None and self.primary_read_sessionmaker is not None:
            self.min_lsn = lsn

    @asynccontextmanager
    async def write_session(self, *, record_write: bool = True) -> AsyncIterator[AsyncSession]:
        """One transaction for one mutation: committed on success, rolled back on any error.
        The leased connection goes back to the pool first (reads after the write lease one
        again): a request holds one connection at a time, so concurrent mutations cannot
        exhaust the pool with leases while they wait for a connection to write on."""
        if self._lease_turn is not None:
            async with self._lease_turn:
                await self._give_back_lease()
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
        if record_write and self.primary_read_sessionmaker is not None:
            # Committed: this caller's next reads, in this request and in its later ones (on
            # any worker), wait for a replica that has replayed this write.
            from graphql_schema.limits import bucket_key
            from service.access.rate_limit import record_write as note_write

            async with self.primary_read_sessionmaker() as session:
                self.min_lsn = await note_write(session, key=bucket_key(self))

    def reset_loaders(self) -> None:
        """Forget cached entities (a subscription does this for every event it sends)."""
        self._loaders = {}

    def loader(
        self,
        name: str,
        batch: Callable[[AsyncSession, list[Any]], Awaitable[Sequence[Any] | dict[Any, Any]]],
        *,
        args: Hashable = None,
        default: Any = None,
    ) -> DataLoader:
        """The request's loader for (name, args). `batch` returns values in key order, or
        a dict by key (missing keys give `default`)."""
        key = (name, args)
        loader = self._loaders.get(key)
        if loader is None:

            async def load(keys: list[Any]) -> list[Any]:
                async with self.read_session() as session:
                    result = await batch(session, keys)
                if isinstance(result, dict):
                    return [result.get(k, default) for k in keys]
                return list(result)

            loader = DataLoader(load_fn=load)
            self._loaders[key] = loader
        return loader


async def replica_has_replayed(connection: AsyncConnection, lsn: str, max_wait_seconds: float) -> bool:
    """Whether the replica behind `connection` has replayed the primary's WAL up to `lsn`,
    waiting up to `max_wait_seconds` for it (polling: a replica has no notification for it)."""
    import sqlalchemy as sa

    query = sa.text("select coalesce(pg_last_wal_replay_lsn() >= cast(cast(:lsn as text) as pg_lsn), true)")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_seconds
    delay = 0.005
    while True:
        if (await connection.execute(query, {"lsn": lsn})).scalar_one():
            return True
        if loop.time() + delay > deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


def info_context(info: Any) -> Context:
    return info.context
