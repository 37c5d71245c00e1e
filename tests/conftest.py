"""Test infrastructure: one PostgreSQL server per session, one migrated template database with
the reference data, and a fresh clone of it for every test that asks for a database.

Server: ``TEST_DATABASE_URL`` or ``DATABASE_URL`` (any postgres:// / postgresql+asyncpg:// URL;
its database is used as the maintenance database, ``postgres`` when it names none), otherwise
the tests' own embedded cluster in ``.data/test/pg`` (never ``.data/pg``, the one ``make run``
uses). E.g. the machine's PostgreSQL 15::

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres .venv/bin/python -m pytest

Fixtures (all async ones share the session's event loop):

``pg_server``            session  PgServer: ``.url``, ``.kind`` ("embedded"|"external"),
                                  ``.version`` (server_version_num), ``.url_for(db)``,
                                  ``await .create_database(name, template=…)``, ``.drop_database``
``template_database``    session  TemplateDatabase: ``.name``, ``.url``, ``.revision``,
                                  ``.reference_counts`` — migrated to head + reference data.
                                  Never connect to it from a test (cloning needs it idle).
``database_url``         function URL of a fresh clone of the template (dropped after the test)
``empty_database_url``   function URL of a fresh, empty database (no migrations, no data)
``engine``               function AsyncEngine on ``database_url`` (disposed after)
``sessionmaker``         function async_sessionmaker (expire_on_commit=False, like the service)
``session``              function AsyncSession; the test may commit, whatever is left open is
                                  rolled back
``app_settings``         function None (the service's settings); override in a module/conftest
``app``                  function FastAPI app from ``service.app.create_app`` with its lifespan
                                  running, on ``database_url``
``app_client``           function httpx.AsyncClient(ASGITransport(app), base_url="http://test")
``gql``                  function the ``tests.support.gql`` helper, for tests that prefer a
                                  fixture: ``await gql(app_client, query, variables, token=…)``

Markers: ``@pytest.mark.pg_min_version(16)`` skips on older servers;
``@pytest.mark.embedded_only`` / ``@pytest.mark.external_only`` skip on the other kind.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

# Tests import their helpers as `tests.support` (also when run as `.venv/bin/pytest`, where the
# working directory is not on sys.path).
_PROJECT_ROOT = str(Path(__file__).resolve().parents[1])
if _PROJECT_ROOT not in sys.path:
    sys.path.insert(0, _PROJECT_ROOT)

from tests.support import gql as _gql  # noqa: E402
from tests.support.db import (  # noqa: E402
    TEST_DATA_DIR,
    EmbeddedTestCluster,
    PgServer,
    external_url_from_env,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pg_min_version(major): skip on PostgreSQL older than major")
    config.addinivalue_line("markers", "embedded_only: only against the tests' embedded cluster")
    config.addinivalue_line("markers", "external_only: only against TEST_DATABASE_URL/DATABASE_URL")


def pytest_report_header(config: pytest.Config) -> str:
    url = external_url_from_env()
    if url:
        return f"tcgraph database: external {make_url(url).render_as_string(hide_password=True)}"
    return f"tcgraph database: embedded cluster in {TEST_DATA_DIR / 'pg'}"


@pytest.fixture(autouse=True)
def _pg_markers(request: pytest.FixtureRequest) -> None:
    """Apply the pg_* markers (only tests that carry one start the server for it)."""
    node = request.node
    min_version = node.get_closest_marker("pg_min_version")
    embedded_only = node.get_closest_marker("embedded_only")
    external_only = node.get_closest_marker("external_only")
    if embedded_only and external_url_from_env():
        pytest.skip("needs the embedded cluster (TEST_DATABASE_URL/DATABASE_URL is set)")
    if external_only and not external_url_from_env():
        pytest.skip("needs TEST_DATABASE_URL or DATABASE_URL")
    if min_version:
        server: PgServer = request.getfixturevalue("pg_server")
        wanted = int(min_version.args[0])
        if server.version < wanted * 10000:
            pytest.skip(f"needs PostgreSQL >= {wanted} (server is {server.version})")


# ------------------------------------------------------------------ server & template


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_server() -> AsyncIterator[PgServer]:
    cluster: EmbeddedTestCluster | None = None
    url = external_url_from_env()
    if url:
        server = PgServer(url=url, kind="external")
    else:
        cluster = EmbeddedTestCluster()
        url, started_here = await asyncio.to_thread(cluster.start)
        server = PgServer(url=url, kind="embedded", started_here=started_here)
    try:
        await server.connect()
        await server.drop_stale()
        yield server
    finally:
        try:
            await server.drop_created()
            await server.close()
        finally:
            if cluster is not None:
                await asyncio.to_thread(cluster.stop)


@dataclass(frozen=True)
class TemplateDatabase:
    name: str
    url: str
    revision: str
    reference_counts: dict[str, int]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(pg_server: PgServer) -> AsyncIterator[TemplateDatabase]:
    from service.db.engine import make_engine, make_sessionmaker
    from service.db.migrate import head_revision, upgrade
    from service.reference.load import load_reference

    name = pg_server.new_name("tpl")
    url = await pg_server.create_database(name)
    try:
        # Alembic's env.py calls asyncio.run(): run it outside this loop.
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            async with make_sessionmaker(engine)() as session:
                counts = await load_reference(session)
                await session.commit()
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE")
        finally:
            await engine.dispose()
        # Cloning fails while anyone is connected to the template.
        await pg_server.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
            name,
        )
        yield TemplateDatabase(name=name, url=url, revision=head_revision(), reference_counts=counts)
    finally:
        await pg_server.discard_spares()  # an in-flight clone would block dropping the template
        await pg_server.drop_database(name)


# ------------------------------------------------------------------ per-test databases


@pytest_asyncio.fixture
async def database_url(pg_server: PgServer, template_database: TemplateDatabase) -> AsyncIterator[str]:
    name = await pg_server.clone(template_database.name)
    try:
        yield pg_server.url_for(name)
    finally:
        await pg_server.drop_database(name)


@pytest_asyncio.fixture
async def empty_database_url(pg_server: PgServer) -> AsyncIterator[str]:
    name = pg_server.new_name("e")
    url = await pg_server.create_database(name)
    try:
        yield url
    finally:
        await pg_server.drop_database(name)


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    from service.db.engine import make_engine

    engine = make_engine(database_url, pool_size=5, max_overflow=5)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from service.db.engine import make_sessionmaker

    return make_sessionmaker(engine)


@pytest_asyncio.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        try:
            yield session
        finally:
            if session.in_transaction():
                await session.rollback()


# ------------------------------------------------------------------ the application


@pytest.fixture
def app_settings() -> Any:
    """Settings handed to create_app; None means the service's own. Override to change."""
    return None


@pytest_asyncio.fixture
async def app(database_url: str, app_settings: Any) -> AsyncIterator[Any]:
    from service.app import create_app  # imported lazily: the app may not import yet

    application = create_app(database_url=database_url, settings=app_settings)
    threshold = gc.get_threshold()
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        # The service's start-up freezes the GC generations for the process' lifetime;
        # one app per test would pile every test's objects into the permanent generation.
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest_asyncio.fixture
async def app_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
def gql() -> Any:
    return _gql
