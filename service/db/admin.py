"""Server-level chores: create a database if missing (embedded set-up, tests)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from service.db.url import asyncpg_dsn


async def ensure_database(url: str) -> None:
    name = make_url(url).database
    assert name
    conn = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
