"""End to end: the real service under uvicorn on a free port, real HTTP, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

TCGRAPH = str(Path(sys.executable).parent / "tcgraph")


@pytest.fixture
async def server(database_url):
    async with running_server(database_url, workers=2) as started:
        yield started


def cli(*args: str, env: dict, cwd: str = "/") -> subprocess.CompletedProcess:
    return subprocess.run([TCGRAPH, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


async def test_demo_data_keys_and_mutations_over_real_http(server):
    base, env = server
    loaded = cli("load-demo", env=env)
    assert loaded.returncode == 0, loaded.stderr
    created = cli(
        "apikey", "create", "--role", "state-focal-point", "--state", "KEN", "--label", "Nairobi desk", env=env
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("tcg_") and "\n" not in key  # only the key on stdout
    async with httpx.AsyncClient(base_url=base) as client:
        body = (
            await client.post(
                "/graphql",
                json={"query": "{ needs(first: 50) { totalCount edges { node { title state { code } } } } }"},
            )
        ).json()
        assert body["data"]["needs"]["totalCount"] == 14  # the public demo needs
        mine = (
            await client.post(
                "/graphql",
                json={"query": '{ needs(filter: {states: ["KEN"]}) { totalCount } }'},
                headers={"Authorization": f"Bearer {key}"},
            )
        ).json()
        assert mine["data"]["needs"]["totalCount"] == 2  # both Kenyan needs, whatever their visibility
        made = (
            await client.post(
                "/graphql",
                json={
                    "query": 'mutation { createNeed(input: {state: "KEN", title: "Forensic lab"}) { need { status } userErrors { code } } }'
                },
                headers={"Authorization": f"Bearer {key}"},
            )
        ).json()
        assert made["data"]["createNeed"] == {"need": {"status": "DRAFT"}, "userErrors": []}
    listed = cli("apikey", "list", env=env)
    assert "Nairobi desk" in listed.stdout and "never" not in listed.stdout.splitlines()[1]
    revoked = cli("apikey", "revoke", "1", env=env)
    assert revoked.returncode == 0
    async with httpx.AsyncClient(base_url=base) as client:
        refused = await client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert refused.status_code == 401


async def test_cli_refuses_bad_key_requests(server):
    _, env = server
    for args in (
        ("--role", "emperor", "--label", "x"),
        ("--role", "state-focal-point", "--label", "x"),
        ("--role", "donor", "--organization", "Nobody", "--label", "x"),
        ("--role", "state-focal-point", "--state", "KEN", "--label", "x", "--expires", "yesterday"),
    ):
        result = cli("apikey", "create", *args, env=env)
        assert result.returncode != 0, args
        assert result.stdout == "" and result.stderr


@pytest.mark.embedded_only
async def test_cli_attaches_to_the_checkouts_embedded_server(tmp_path):
    """From any directory, with no DATABASE_URL: start once, attach after, never a second server."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["DATA_DIR"] = str(data_dir)
    try:
        started = cli("db", "start", env=env)
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert cli("migrate", env=env).returncode == 0
        assert cli("load-reference", env=env).returncode == 0
        again = cli("db", "start", env=env)
        assert again.stdout.strip() == url  # attached to the running server
        key = cli("apikey", "create", "--role", "admin", "--label", "ops", env=env, cwd=str(tmp_path))
        assert key.returncode == 0 and key.stdout.startswith("tcg_"), key.stderr
        assert "running on" in cli("db", "status", env=env).stdout
    finally:
        cli("db", "stop", env=env)
    assert cli("db", "status", env=env).stdout.strip() == "stopped"
