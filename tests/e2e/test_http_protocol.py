"""The GraphQL-over-HTTP conformance audit (graphql-http's `auditServer`, pinned in
tests/e2e/audit) against the real service under uvicorn: every audit must be `ok`, no warn.

Needs `node` and `npm` on PATH (skipped otherwise); the first run installs the pinned
packages with `npm ci` (skipped when the npm registry cannot be reached)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.node import npm_installed
from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

AUDIT_DIR = Path(__file__).resolve().parent / "audit"


async def test_graphql_http_audit_passes_without_warnings(database_url):
    node = npm_installed(AUDIT_DIR, "the graphql-http audit")
    async with running_server(database_url) as (base, _):
        process = await asyncio.create_subprocess_exec(
            node,
            str(AUDIT_DIR / "audit.mjs"),
            base + "/graphql",
            cwd=AUDIT_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    results = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    failed = [f"{r['status']}: {r['name']} — {r['reason']}" for r in results if r["status"] != "ok"]
    assert results, f"the audit printed nothing (exit {process.returncode}): {stderr.decode()[-2000:]}"
    assert not failed, f"{len(results) - len(failed)} of {len(results)} audits ok; not ok:\n" + "\n".join(failed)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_uvicorn_refuses_a_50_mb_body_before_it_is_sent(database_url):
    """Over a real socket: the 413 comes back after the headers and the first bytes of a
    declared 50 MB body (the default limit is 1 MiB), without waiting for the rest."""
    async with running_server(database_url) as (base, _):
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b"Accept: application/graphql-response+json\r\nContent-Length: 52428800\r\n\r\n"
                b'{"query": "{ __typename }", "padding": "'
                + b"x"
                * 1024  # small: unread bytes left when the server closes would reset the connection
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line)
            body = json.loads(await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10))
        finally:
            writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    assert headers["content-type"].startswith("application/graphql-response+json")
    assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
