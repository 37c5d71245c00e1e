"""Which address an anonymous client's rate-limit bucket is keyed by, through the real entry
points: `X-Forwarded-For` counts only when the peer is a configured proxy
(FORWARDED_ALLOW_IPS, none by default), whatever uvicorn itself would trust."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.servers import ROOT, running_server

pytestmark = pytest.mark.asyncio

BIN = Path(sys.executable).parent


def dockerfile_command() -> list[str]:
    """The image's CMD, with its address made local and one worker."""
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    shell = cmd.split('"-c", "', 1)[1].rsplit('"]', 1)[0]
    shell = shell.replace("--host 0.0.0.0 --port 8000", "--host 127.0.0.1 --port $PORT")
    shell = shell.replace("exec uvicorn", f"exec {shlex.quote(str(BIN / 'uvicorn'))}")
    assert "$PORT" in shell, shell
    return ["sh", "-c", shell]


ENTRY_POINTS = {
    "tcgraph serve": lambda: [str(BIN / "tcgraph"), "serve"],
    "Dockerfile CMD": dockerfile_command,
}


async def buckets(database_url: str) -> set[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(sa.text("select key from rate_limit_bucket"))).scalars())
    finally:
        await engine.dispose()


async def ask(base: str, forwarded_for: str | None) -> None:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/graphql", json={"query": "{ themes { totalCount } }"}, headers=headers)
        assert response.status_code == 200 and "errors" not in response.json(), response.text


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
async def test_forwarded_for_is_ignored_unless_the_peer_is_a_configured_proxy(database_url, entry_point):
    env = {"WEB_CONCURRENCY": "1", "FORWARDED_ALLOW_IPS": None}  # the default
    async with running_server(database_url, command=ENTRY_POINTS[entry_point](), env=env) as (base, _):
        for spoofed in ("203.0.113.1", "203.0.113.2", None):
            await ask(base, spoofed)
    assert await buckets(database_url) == {"anonymous:127.0.0.1"}  # one bucket, not one per forged header


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
async def test_a_trusted_proxy_names_the_client_by_its_rightmost_untrusted_hop(database_url, entry_point):
    env = {"WEB_CONCURRENCY": "1", "FORWARDED_ALLOW_IPS": "127.0.0.1, 10.0.0.0/8"}
    async with running_server(database_url, command=ENTRY_POINTS[entry_point](), env=env) as (base, _):
        # The client forged the first entry; the trusted proxies appended the others.
        await ask(base, "198.51.100.7, 203.0.113.9, 10.1.2.3")
        await ask(base, None)
    assert await buckets(database_url) == {"anonymous:203.0.113.9", "anonymous:127.0.0.1"}


async def test_a_proxy_list_that_is_not_addresses_is_refused_at_start():
    from pydantic import ValidationError

    from service.settings import Settings

    with pytest.raises(ValidationError, match="'proxy.internal' is not an IP address or CIDR network"):
        Settings(forwarded_allow_ips="10.0.0.1, proxy.internal")
    assert Settings(forwarded_allow_ips=" 10.0.0.1 ,fd00::/8,").trusted_proxies == ["10.0.0.1", "fd00::/8"]
