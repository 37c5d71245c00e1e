"""The Alembic chain against a real PostgreSQL: round trip, no drift, one head, reference data."""

from __future__ import annotations

import asyncio
from pprint import pformat

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

import service.models  # noqa: F401  (registers every table)
from service.db import migrate
from service.models import (
    CurrencyRate,
    DacSector,
    DacSectorCategory,
    IatiCode,
    SdgGoal,
    SdgTarget,
    State,
    Theme,
)
from service.models.base import metadata
from service.reference import sources
from service.reference.load import IATI_CODELISTS_KEPT, load_reference

EXPECTED_TABLES = set(metadata.tables)


async def _catalog(conn: AsyncConnection) -> dict[str, set[str]]:
    """What lives in the public schema, by kind."""

    async def names(sql: str) -> set[str]:
        return set((await conn.exec_driver_sql(sql)).scalars())

    return {
        "tables": await names(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        ),
        "indexes": await names(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('i', 'I')"
        ),
        "sequences": await names(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind = 'S'"
        ),
        # (PG 18 lists NOT NULL constraints here too; alembic_version's own are not ours.)
        "constraints": await names(
            "select con.conname from pg_constraint con join pg_namespace n on n.oid = con.connamespace "
            "left join pg_class c on c.oid = con.conrelid "
            "where n.nspname = 'public' and coalesce(c.relname, '') <> 'alembic_version'"
        ),
        "types": await names(
            # user-defined types other than the row types of tables
            "select t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace "
            "left join pg_class c on c.oid = t.typrelid "
            "where n.nspname = 'public' and t.typelem = 0 and (c.oid is null or c.relkind = 'c')"
        ),
        "functions": await names(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'"
        ),
        "extensions": await names("select extname from pg_extension where extname <> 'plpgsql'"),
    }


async def _inspect(url: str) -> dict[str, set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await _catalog(conn)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str) -> None:
    url = empty_database_url
    assert (await _inspect(url))["tables"] == set()

    await asyncio.to_thread(migrate.upgrade, url)
    after_upgrade = await _inspect(url)
    assert after_upgrade["tables"] == EXPECTED_TABLES | {"alembic_version"}
    assert await migrate.current_revision(url) == migrate.head_revision()

    await asyncio.to_thread(migrate.downgrade, url, "base")
    left = await _inspect(url)
    assert left["tables"] <= {"alembic_version"}, left["tables"]
    assert left["indexes"] <= {"alembic_version_pkc"}, left["indexes"]
    assert left["constraints"] == set(), left["constraints"]
    assert left["sequences"] == set(), left["sequences"]
    assert left["types"] == set(), left["types"]
    assert left["functions"] == set(), left["functions"]
    assert left["extensions"] <= after_upgrade["extensions"]  # extensions may stay installed
    assert await migrate.current_revision(url) is None

    await asyncio.to_thread(migrate.upgrade, url)
    again = await _inspect(url)
    assert again == after_upgrade
    assert await migrate.current_revision(url) == migrate.head_revision()


def _compare(sync_conn: sa.Connection) -> list:
    # Same options as migrations/env.py, so "no drift" means autogenerate would write nothing.
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, metadata)


async def test_models_and_migrations_do_not_drift(engine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_compare)
    assert diff == [], "models differ from the migrated schema:\n" + pformat(diff)


def test_migration_chain_has_a_single_head_and_base() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql+asyncpg://unused/x"))
    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()
    revisions = list(script.walk_revisions())
    assert revisions[0].revision == script.get_current_head()
    assert len({r.revision for r in revisions}) == len(revisions)


async def test_template_is_at_head(template_database, database_url: str) -> None:
    assert template_database.revision == migrate.head_revision()
    assert await migrate.current_revision(database_url) == migrate.head_revision()


def _expected_reference_counts() -> dict[type, int]:
    categories = {c.code for c in sources.read_dac_sector_categories()}
    return {
        State: len(sources.read_states()),
        Theme: len(sources.read_themes()),
        SdgGoal: len(sources.read_sdg_goals()),
        SdgTarget: len(sources.read_sdg_targets()),
        DacSectorCategory: len(categories),
        DacSector: sum(1 for s in sources.read_dac_sectors() if s.category_code in categories),
        IatiCode: sum(len(sources.read_iati_codes(c)) for c in IATI_CODELISTS_KEPT),
        CurrencyRate: len(sources.read_currency_rates()),
    }


async def _counts(session: AsyncSession) -> dict[type, int]:
    result = {}
    for model in _expected_reference_counts():
        result[model] = (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()
    return result


async def test_reference_data_is_in_the_template(session: AsyncSession) -> None:
    counts = await _counts(session)
    assert counts == _expected_reference_counts()
    assert counts[State] == 195
    assert counts[Theme] == 54
    assert counts[SdgGoal] == 17
    assert counts[SdgTarget] == 169
    members = (
        await session.execute(sa.select(sa.func.count()).select_from(State).where(State.un_membership == "MEMBER"))
    ).scalar_one()
    assert members == 193


async def test_loading_reference_data_again_is_idempotent(session: AsyncSession) -> None:
    before = await _counts(session)
    loaded = await load_reference(session)
    await session.commit()
    assert await _counts(session) == before
    assert loaded["state"] == before[State]
    assert loaded["theme"] == before[Theme]


async def test_each_test_gets_its_own_database(session: AsyncSession, database_url: str, template_database) -> None:
    """Writes in a test's database reach neither the template nor other tests."""
    assert database_url != template_database.url
    await session.execute(sa.delete(SdgTarget))
    await session.commit()
    assert (await session.execute(sa.select(sa.func.count()).select_from(SdgTarget))).scalar_one() == 0


async def test_previous_test_did_not_leak(session: AsyncSession) -> None:
    count = (await session.execute(sa.select(sa.func.count()).select_from(SdgTarget))).scalar_one()
    assert count == 169


@pytest.mark.pg_min_version(13)
async def test_server_is_recent_enough(pg_server) -> None:
    assert pg_server.version >= 130000
