"""The async engine and session factory, built once per process from the database URL."""

from __future__ import annotations

import errno
import socket

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# Planner settings for this service's sessions (not the server's: other clients keep theirs).
# The working set is in memory, so a random page costs about what a sequential one does
# (1.1, not 4): with 4 the planner scans small tables (States, reviews, organizations) in
# full once per row of a page instead of looking up one row by its key, which made a
# partner page 1.6x slower. JIT compiling pays off only for long analytical queries; for
# the API's short ones its compile time would be the whole cost.
SESSION_SETTINGS = {"application_name": "tcgraph", "random_page_cost": "1.1", "jit": "off"}


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No ping per checkout (it cost BEGIN; ";"; ROLLBACK each time): a connection the server
        # closed fails its next statement, and SQLAlchemy then discards it and the pool's
        # other connections of that age (disconnect handling).
        pool_pre_ping=False,
        # asyncpg's statement cache keeps prepared plans per connection.
        connect_args={"server_settings": SESSION_SETTINGS},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit (no lazy reloads in async).
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read paths on the same pool, in autocommit: no BEGIN/ROLLBACK round trips
    around their statements (each statement is its own snapshot)."""
    return make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


def is_database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` says the database could not be reached or dropped the connection (as
    opposed to a fault in a statement). SQLAlchemy recognises a lost connection and then
    invalidates the pool's older connections, so the next checkout opens a fresh one."""
    for _ in range(16):  # the cause chain, not forever
        if error is None:
            return False
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(
            error,
            (
                asyncpg.exceptions.ConnectionDoesNotExistError,
                asyncpg.exceptions.CannotConnectNowError,
                asyncpg.exceptions.TooManyConnectionsError,
                asyncpg.exceptions.AdminShutdownError,
                ConnectionError,
                TimeoutError,
                socket.gaierror,
            ),
        ):
            return True
        if isinstance(error, OSError) and error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED):
            return True
        error = error.__cause__ or error.__context__
    return False
