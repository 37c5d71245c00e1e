"""The async engine and session factory, built once per process from the database URL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


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
        connect_args={"server_settings": {"application_name": "tcgraph"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit (no lazy reloads in async).
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read paths on the same pool, in autocommit: no BEGIN/ROLLBACK round trips
    around their statements (each statement is its own snapshot)."""
    return make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))
