"""Which PostgreSQL to use: DATABASE_URL when set, otherwise the checkout's embedded one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from service.settings import Settings


@dataclass(frozen=True)
class DatabaseTarget:
    url: str
    embedded_started_here: bool = False


def normalise_url(url: str) -> str:
    """Accept postgres://, postgresql:// and postgresql+asyncpg:// alike."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


# Query options of a postgresql+asyncpg:// URL that SQLAlchemy's dialect reads itself: asyncpg's
# DSN parser would send them to the server as settings, which refuses them.
_DIALECT_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """The URL as asyncpg's own connect() and create_pool() take it (optionally another
    database): the dialect's `ssl=` is asyncpg's `sslmode=`."""
    sa_url = make_url(url).set(drivername="postgresql")
    query = {name: value for name, value in sa_url.query.items() if name not in _DIALECT_OPTIONS}
    if "ssl" in query:
        query.setdefault("sslmode", query.pop("ssl"))
    sa_url = sa_url.set(query=query)
    if database is not None:
        sa_url = sa_url.set(database=database)
    return sa_url.render_as_string(hide_password=False)


def resolve_database(settings: Settings) -> DatabaseTarget:
    if settings.database_url:
        return DatabaseTarget(url=normalise_url(settings.database_url))
    from service.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings.data_dir).ensure_running()
    return DatabaseTarget(url=server.url("tcgraph"), embedded_started_here=server.started_here)
