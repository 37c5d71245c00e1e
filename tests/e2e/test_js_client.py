"""The reference JavaScript client (`graphql-ws` over `ws`, tests/e2e/js) against the real
service: what browsers and Node partner systems use must work, not only our Python client.

Needs `node` and `npm` on PATH (skipped otherwise). The first run installs the pinned
packages with `npm ci` (from tests/e2e/js/package-lock.json; skipped when the registry
cannot be reached)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access.principals import Role
from service.models.enums import OrganizationCategory
from tests.support.node import npm_installed
from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "subscribe.mjs"

EVENTS = """subscription($after: Int, $filter: EventFilter) {
  events(after: $after, filter: $filter) { sequence kind entityId entity { ... on Need { title status visibility } } }
}"""
CREATE = """mutation($t: String!) { createNeed(input: {state: "KEN", title: $t, description: "Case management for the courts.",
  themes: ["JUSTICE"], visibility: PUBLIC}) { need { id status } userErrors { field message } } }"""
SUBMIT = "mutation($id: ID!) { submitNeed(input: {id: $id}) { need { id status } userErrors { field message } } }"


@pytest.fixture(scope="module")
def js_client() -> Path:
    """The subscriber script, its node_modules installed (npm ci) when missing or stale."""
    npm_installed(JS_DIR, "the graphql-ws client test")
    return SCRIPT


class NodeSubscriber:
    """`node subscribe.mjs …` as a subprocess: its `next` payloads (stdout) and status lines (stderr)."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.payloads: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self._readers = [
            asyncio.create_task(self._read(process.stdout, self.payloads)),
            asyncio.create_task(self._read(process.stderr, self.statuses)),
        ]

    async def _read(self, stream: asyncio.StreamReader, into: list[dict[str, Any]]) -> None:
        async for line in stream:
            text = line.decode().strip()
            if not text:
                continue
            try:
                item = json.loads(text)
            except ValueError:
                item = {"raw": text}
            into.append(item)
            if item.get("status") == "connected":
                self.connected.set()

    async def exit_code(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code

    def report(self) -> str:
        return f"stdout: {self.payloads}\nstderr: {self.statuses}"


@contextlib.asynccontextmanager
async def node_subscriber(
    script: Path,
    url: str,
    query: str,
    variables: dict | None = None,
    *,
    key: str | None = None,
    count: int = 1,
    timeout: float = 30,
) -> AsyncIterator[NodeSubscriber]:
    args = [
        "--url",
        url,
        "--query",
        query,
        "--variables",
        json.dumps(variables or {}),
        "--count",
        str(count),
        "--timeout",
        str(timeout),
    ]
    if key is not None:
        args += ["--key", key]
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(script),
        *args,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    subscriber = NodeSubscriber(process)
    try:
        yield subscriber
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for reader in subscriber._readers:
            reader.cancel()


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


async def post(base: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        return response.json()


async def test_graphql_ws_client_receives_a_committed_change(database_url, world, js_client):
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    partner = await world.key(
        Role.AGENCY, organization=await world.organization("UNDP", OrganizationCategory.UN_AGENCY)
    )
    title = "Court case management (graphql-ws client)"
    async with running_server(database_url) as (base, _):
        since = (await post(base, "{ changes(since: 0) { lastSequence } }"))["data"]["changes"]["lastSequence"]
        # `after` replays anything committed before the subscription is live: no race with the
        # mutations below, whichever of replay or live delivery carries the events.
        variables = {"after": since, "filter": {"kinds": ["NEED_CREATED", "NEED_STATUS_CHANGED"]}}
        async with (
            node_subscriber(js_client, ws_url(base), EVENTS, variables, key=partner, count=2) as with_key,
            node_subscriber(
                js_client, ws_url(base), EVENTS, {"after": since, "filter": {"kinds": ["NEED_STATUS_CHANGED"]}}, count=1
            ) as anonymous,
        ):
            for subscriber in (with_key, anonymous):
                try:
                    await asyncio.wait_for(subscriber.connected.wait(), 20)
                except TimeoutError:
                    raise AssertionError(
                        f"the graphql-ws client never got connection_ack\n{subscriber.report()}"
                    ) from None
            assert with_key.statuses[0]["payload"] == {"role": "AGENCY"}, with_key.report()
            assert anonymous.statuses[0]["payload"] == {"role": "ANONYMOUS"}, anonymous.report()

            created = await post(base, CREATE, {"t": title}, focal)
            assert created["data"]["createNeed"]["userErrors"] == [], created
            need_id = created["data"]["createNeed"]["need"]["id"]
            submitted = await post(base, SUBMIT, {"id": need_id}, focal)
            assert submitted["data"]["submitNeed"]["need"]["status"] == "SUBMITTED", submitted

            assert await with_key.exit_code(40) == 0, with_key.report()
            assert await anonymous.exit_code(40) == 0, anonymous.report()

    events = [payload["data"]["events"] for payload in with_key.payloads]
    assert all("errors" not in payload for payload in with_key.payloads), with_key.report()
    assert [(e["kind"], e["entityId"]) for e in events] == [("NEED_CREATED", need_id), ("NEED_STATUS_CHANGED", need_id)]
    # The entity is loaded at delivery time, so both carry the need as it is then.
    assert all(e["entity"]["title"] == title and e["entity"]["visibility"] == "PUBLIC" for e in events), events
    assert events[0]["sequence"] < events[1]["sequence"]
    (seen,) = [payload["data"]["events"] for payload in anonymous.payloads]
    assert seen["kind"] == "NEED_STATUS_CHANGED" and seen["entityId"] == need_id
    assert seen["entity"] == {"title": title, "status": "SUBMITTED", "visibility": "PUBLIC"}


async def test_graphql_ws_client_with_a_bad_key_is_refused_with_4403(database_url, js_client):
    async with running_server(database_url) as (base, _):
        async with node_subscriber(
            js_client, ws_url(base), EVENTS, key="tcg_not_a_real_key", count=1, timeout=20
        ) as sub:
            code = await sub.exit_code(30)
    assert code == 3, sub.report()  # the script's "connection closed / subscription error" exit
    assert sub.payloads == [], sub.report()
    assert not sub.connected.is_set(), sub.report()
    closed = [s for s in sub.statuses if s.get("status") == "closed"]
    assert closed and closed[0]["code"] == 4403, sub.report()
    error = [s for s in sub.statuses if s.get("status") == "error"]
    assert error and error[0].get("code") == 4403, sub.report()
