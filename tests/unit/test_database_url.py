"""service/db/url.py: one DATABASE_URL serves SQLAlchemy and asyncpg's own connections alike."""

from __future__ import annotations

import asyncpg.connect_utils as connect_utils

from service.db.url import asyncpg_dsn, normalise_url


def _parsed(dsn: str):
    """What asyncpg makes of a DSN: (addresses, parameters)."""
    return connect_utils._parse_connect_dsn_and_args(
        dsn=dsn,
        host=None,
        port=None,
        user=None,
        password=None,
        passfile=None,
        database=None,
        ssl=None,
        direct_tls=None,
        server_settings=None,
        target_session_attrs=None,
        krbsrvname=None,
        gsslib=None,
        service=None,
        servicefile=None,
    )


def test_the_dialects_options_are_not_sent_to_the_server_as_settings():
    # The bench's counting proxy and TLS-less set-ups use `?ssl=disable`: asyncpg took it for a
    # server setting ("parameter "ssl" cannot be changed now") and never connected.
    dsn = asyncpg_dsn("postgresql+asyncpg://app:secret@db:6432/tcgraph?ssl=disable&prepared_statement_cache_size=0")
    assert dsn == "postgresql://app:secret@db:6432/tcgraph?sslmode=disable"
    addresses, parameters = _parsed(dsn)
    assert addresses == [("db", 6432)]
    assert parameters.database == "tcgraph" and parameters.password == "secret"
    assert not parameters.server_settings


def test_another_database_and_a_socket_directory():
    dsn = asyncpg_dsn(normalise_url("postgres://postgres@/tcgraph?host=/run/postgresql"), "postgres")
    addresses, parameters = _parsed(dsn)
    assert parameters.database == "postgres"
    assert addresses == ["/run/postgresql/.s.PGSQL.5432"]
