"""Database plumbing for the test suite: which server, and throwaway databases on it.

One PostgreSQL server per test session: ``TEST_DATABASE_URL`` / ``DATABASE_URL`` when set,
otherwise the tests' own embedded cluster in ``.data/test/pg`` (never the ``.data/pg`` one
that ``make run`` uses). On that server the session creates a migrated template database
with the reference data, and every test gets a clone of it (``CREATE DATABASE … TEMPLATE``),
which is dropped after the test. Every database name carries the creating process id, so
concurrent sessions never collide, and databases left by a crashed session on this machine
are dropped by the next one.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import re
import secrets
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import asyncpg
from sqlalchemy.engine import make_url

from service.db.url import normalise_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# EmbeddedPostgres(data_dir) keeps the cluster in data_dir / "pg": this is .data/test/pg.
TEST_DATA_DIR = PROJECT_ROOT / ".data" / "test"
STARTED_MARKER = ".started-by-tests"
SESSIONS_LOCK = ".sessions.lock"

PREFIX = "tcgraph_"
_NAME = re.compile(r"^tcgraph_(?:tpl|t|e)_(\d+)_[0-9a-f]+(?:_\d+)?$")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None, ""}


def external_url_from_env() -> str | None:
    """The server the tests must use, if one is given (TEST_DATABASE_URL wins)."""
    for var in ("TEST_DATABASE_URL", "DATABASE_URL"):
        value = os.environ.get(var, "").strip()
        if value:
            return normalise_url(value)
    return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class PgServer:
    """The session's PostgreSQL server and an admin connection to its maintenance database.

    ``url_for(name)`` gives the SQLAlchemy (``postgresql+asyncpg://``) URL of a database on it.
    """

    url: str  # postgresql+asyncpg:// URL of the maintenance database
    kind: Literal["embedded", "external"]
    started_here: bool = False
    version: int = 0  # server_version_num, e.g. 150020 or 180001
    session_tag: str = field(default_factory=lambda: f"{os.getpid()}_{secrets.token_hex(3)}")
    created: set[str] = field(default_factory=set)
    _conn: asyncpg.Connection | None = None
    _lock: asyncio.Lock | None = None
    _spare_conn: asyncpg.Connection | None = None
    _spare: dict[str, asyncio.Task[str]] = field(default_factory=dict)  # template -> clone
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- urls -------------------------------------------------------------------
    def url_for(self, database: str) -> str:
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def _dsn(self) -> str:
        sa_url = make_url(self.url)
        if not sa_url.database:
            sa_url = sa_url.set(database="postgres")
        return sa_url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def maintenance_database(self) -> str:
        return make_url(self.url).database or "postgres"

    @property
    def is_local(self) -> bool:
        return self.kind == "embedded" or make_url(self.url).host in _LOCAL_HOSTS

    def new_name(self, kind: Literal["tpl", "t", "e"]) -> str:
        name = f"{PREFIX}{kind}_{self.session_tag}"
        return name if kind == "tpl" else f"{name}_{next(self._counter)}"

    # -- admin connection -------------------------------------------------------
    async def connect(self) -> None:
        self._conn = await asyncpg.connect(self._dsn())
        self._lock = asyncio.Lock()
        self.version = int(await self._conn.fetchval("show server_version_num"))

    async def _admin(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            await self.connect()
        assert self._conn is not None
        return self._conn

    async def close(self) -> None:
        for conn in (self._conn, self._spare_conn):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._conn = self._spare_conn = None

    async def execute(self, sql: str, *args: object) -> str:
        conn = await self._admin()
        assert self._lock is not None
        async with self._lock:
            return await conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await self._admin()
        assert self._lock is not None
        async with self._lock:
            return await conn.fetch(sql, *args)

    # -- databases --------------------------------------------------------------
    def _create_sql(self, name: str, template: str | None) -> str:
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {quote_ident(template)}"
            if self.version >= 150000:
                # WAL_LOG (the PG 15+ default) avoids the two checkpoints FILE_COPY costs:
                # measured as fast on the embedded cluster and ~2x faster on a durable PG 15.
                sql += " STRATEGY WAL_LOG"
        return sql

    async def create_database(self, name: str, *, template: str | None = None) -> str:
        """CREATE DATABASE (optionally a clone of `template`); returns its URL. Remembered,
        so the session drops it at the end even if the test's own teardown did not run."""
        self.created.add(name)
        await self.execute(self._create_sql(name, template))
        return self.url_for(name)

    async def _create_spare(self, template: str) -> str:
        if self._spare_conn is None or self._spare_conn.is_closed():
            self._spare_conn = await asyncpg.connect(self._dsn())
        name = self.new_name("t")
        self.created.add(name)
        await self._spare_conn.execute(self._create_sql(name, template))
        return name

    async def clone(self, template: str) -> str:
        """A fresh clone of `template` (its name). Cloning takes ~50-400 ms here (it creates
        ~300 files), so the next clone is started in the background right away, on its own
        connection, while the test runs; a test that outlasts it finds its database ready."""
        task = self._spare.pop(template, None)
        try:
            name = await task if task is not None else await self._create_spare(template)
        except Exception:  # a failed spare: try once more in the foreground
            name = await self._create_spare(template)
        self._spare[template] = asyncio.ensure_future(self._create_spare(template))
        await asyncio.sleep(0)  # let the spare's CREATE DATABASE reach the server
        return name

    async def discard_spares(self) -> None:
        tasks, self._spare = list(self._spare.values()), {}
        for task in tasks:
            with suppress(BaseException):
                await task

    async def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        if self.version >= 130000:
            await self.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        else:  # pragma: no cover - PG 12 and older
            await self.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
                name,
            )
            await self.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        self.created.discard(name)

    async def drop_created(self) -> None:
        await self.discard_spares()
        for name in sorted(self.created, key=lambda n: n.startswith(PREFIX + "tpl_")):
            with suppress(Exception):
                await self.drop_database(name)

    async def drop_stale(self) -> list[str]:
        """Drop the test databases of earlier sessions on this machine whose process is gone."""
        if not self.is_local:
            return []
        rows = await self.fetch(
            "select datname from pg_database where datname like 'tcgraph\\_%' and not datistemplate"
        )
        dropped = []
        for row in rows:
            match = _NAME.match(row["datname"])
            if match and not _pid_alive(int(match.group(1))):
                with suppress(Exception):
                    await self.drop_database(row["datname"])
                    dropped.append(row["datname"])
        return dropped


class EmbeddedTestCluster:
    """The tests' embedded cluster in .data/test/pg, shared by concurrent test sessions.

    Each session holds a shared flock on ``.sessions.lock`` while it uses the server. A
    server that a test session started (marker file) is stopped by the last session to
    leave; one that was running already (started by hand) is left alone.
    """

    def __init__(self, data_dir: Path = TEST_DATA_DIR):
        from service.db.embedded import EmbeddedPostgres

        self.data_dir = data_dir
        self.embedded = EmbeddedPostgres(data_dir)
        self._handle: IO[str] | None = None

    def start(self) -> tuple[str, bool]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.data_dir / SESSIONS_LOCK, "a")
        fcntl.flock(self._handle, fcntl.LOCK_SH)
        server = self.embedded.ensure_running(durable=False)
        if server.started_here:
            (self.data_dir / STARTED_MARKER).touch()
        return server.url("postgres"), server.started_here

    def stop(self) -> bool:
        """Release this session's hold; stop the server if we are the last and tests started it."""
        if self._handle is None:
            return False
        self._handle.close()  # releases the shared lock
        self._handle = None
        with open(self.data_dir / SESSIONS_LOCK, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another session still uses the server
            marker = self.data_dir / STARTED_MARKER
            if not marker.exists():
                return False
            self.embedded.stop()
            marker.unlink(missing_ok=True)
            return True
