"""Server-level chores: create a database if missing (embedded set-up, tests)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    sa_url = make_url(url).set(drivername="postgresql")
    if database is not None:
        sa_url = sa_url.set(database=database)
    return sa_url.render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    name = make_url(url).database
    assert name
    conn = await asyncpg.connect(_asyncpg_dsn(url, "postgres"))
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
