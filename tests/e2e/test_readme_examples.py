"""The README is an API contract: every ```graphql block in README.md runs against the demo
data `make run` serves (a real server, HTTP and graphql-transport-ws) and answers what the
text says.

Each block carries, on the line above it, an HTML comment (invisible on GitHub) saying how to
run it and what it promises:

    <!-- example: name=create-need as=state-focal-point/KEN nonempty=createNeed.need empty=createNeed.userErrors -->

- ``as``: the caller: ``admin``, ``ROLE/ISO3`` (State focal point), ``ROLE/ORG`` (ORG as
  ``tcgraph apikey create --organization`` takes it); anonymous when absent;
- ``vars``: the variables, a JSON object written without spaces;
- ``nonempty``/``empty``: comma-separated paths under ``data`` whose value must be
  non-empty (not null, [], 0 or "") / empty;
- ``name``: lets another example say ``needs=NAME``: that example runs first (for a
  subscription: once subscribed, so it triggers the event the subscription waits for).

Every example must answer without errors. A block without the comment fails the test, so no
example is added untested. The ```sh example that creates a key and posts a query with curl
runs too, with the key it creates.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.demo import create_key, load_demo_world
from tests.support.servers import running_server
from tests.support.ws import Subscription

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
ANNOTATION = re.compile(r"<!-- example:(?P<spec>.*?)-->\s*\Z", re.S)
KEYS = {"name", "as", "vars", "nonempty", "empty", "needs"}


@dataclass
class Example:
    line: int
    body: str
    spec: dict[str, str] | None
    problems: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return (self.spec or {}).get("name") or f"line-{self.line}"

    @property
    def is_subscription(self) -> bool:
        return self.body.lstrip().startswith("subscription")

    def paths(self, key: str) -> list[str]:
        value = (self.spec or {}).get(key)
        return value.split(",") if value else []


def _parse_spec(text: str) -> tuple[dict[str, str], list[str]]:
    spec: dict[str, str] = {}
    problems: list[str] = []
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep or key not in KEYS:
            problems.append(f"unknown annotation {token!r} (keys: {', '.join(sorted(KEYS))})")
        else:
            spec[key] = value
    return spec, problems


def readme_examples(text: str) -> list[Example]:
    examples = []
    for fence in FENCE.finditer(text):
        if fence["lang"] != "graphql":
            continue
        line = text.count("\n", 0, fence.start()) + 1
        before = text[: fence.start()].rsplit("\n\n", 1)[-1]  # the paragraph just above the block
        annotation = ANNOTATION.search(before)
        if annotation is None:
            examples.append(Example(line, fence["body"], None, ["no `<!-- example: … -->` line above the block"]))
            continue
        spec, problems = _parse_spec(annotation["spec"])
        examples.append(Example(line, fence["body"], spec, problems))
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))
BY_NAME = {e.spec["name"]: e for e in EXAMPLES if e.spec and "name" in e.spec}


def test_every_graphql_example_in_the_readme_is_a_tested_block():
    """Unlabelled fences that hold GraphQL would escape the contract; so would a typo in an
    annotation or a `needs=` naming no example."""
    text = README.read_text(encoding="utf-8")
    unlabelled = [
        text.count("\n", 0, f.start()) + 1
        for f in FENCE.finditer(text)
        if f["lang"] in ("", "gql", "graphql-query")
        and re.match(r"\s*(\{|query\b|mutation\b|subscription\b)", f["body"])
    ]
    assert not unlabelled, f"GraphQL in fences not marked ```graphql at README lines {unlabelled}"
    assert len(EXAMPLES) >= 10
    for example in EXAMPLES:
        assert not example.problems, f"README line {example.line}: {example.problems}"
        needed = (example.spec or {}).get("needs")
        assert needed is None or needed in BY_NAME, f"README line {example.line}: needs={needed} names no example"


def test_annotation_parser_reports_a_block_without_annotation():
    text = "para\n\n```graphql\n{ a }\n```\n\n<!-- example: as=admin nonempty=a,b -->\n```graphql\n{ b }\n```\n"
    bare, annotated = readme_examples(text)
    assert bare.spec is None and bare.problems
    assert annotated.spec == {"as": "admin", "nonempty": "a,b"} and annotated.paths("nonempty") == ["a", "b"]


# ------------------------------------------------------------------ the served demo world


@dataclass
class DemoServer:
    base: str
    database_url: str
    keys: dict[str, str] = field(default_factory=dict)

    async def token(self, principal: str | None) -> str | None:
        if principal is None:
            return None
        if principal not in self.keys:
            self.keys[principal] = await asyncio.to_thread(create_key, self.database_url, principal)
        return self.keys[principal]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo_server(pg_server, template_database, tmp_path_factory) -> AsyncIterator[DemoServer]:
    """One database for the module, loaded like `make run` loads it, behind a real server
    (the examples run in README order; each also stands alone through `needs=`)."""
    name = await pg_server.clone(template_database.name)
    url = pg_server.url_for(name)
    import_dir = tmp_path_factory.mktemp("imports")
    # The importFile example reads `upr_session_40.csv` from the server's IMPORT_DIR.
    shutil.copy(ROOT / "tests/imports/fixtures/upr_info_utf8_bom_crlf.csv", import_dir / "upr_session_40.csv")
    try:
        await asyncio.to_thread(load_demo_world, url)
        async with running_server(url, env={"IMPORT_DIR": str(import_dir)}) as (base, _):
            yield DemoServer(base=base, database_url=url)
    finally:
        await pg_server.drop_database(name)


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            raise AssertionError(f"no {path!r} in the answer: {json.dumps(data)[:500]}")
        data = data[part]
    return data


def _is_empty(value: Any) -> bool:
    return value in (None, [], {}, 0, "")


async def run_example(server: DemoServer, example: Example) -> dict[str, Any]:
    spec = example.spec or {}
    variables = json.loads(spec.get("vars", "{}"))
    token = await server.token(spec.get("as"))
    trigger = BY_NAME.get(spec["needs"]) if "needs" in spec else None
    if example.is_subscription:
        ws_url = server.base.replace("http://", "ws://") + "/graphql"
        async with Subscription(ws_url, example.body, variables, token=token) as subscription:
            if trigger is not None:
                # No sleep until the subscription is live: an example fed by a trigger replays
                # with `after`, so the trigger's event arrives whenever it commits.
                assert "after:" in example.body, "a subscription example with a trigger must subscribe with `after`"
                await run_example(server, trigger)
            answer = await subscription.next(timeout=15)
    else:
        if trigger is not None:
            await run_example(server, trigger)
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            response = await client.post(
                "/graphql",
                json={"query": example.body, "variables": variables},
                headers={"Authorization": f"Bearer {token}"} if token else {},
            )
        assert response.status_code == 200, (
            f"README line {example.line}: HTTP {response.status_code} {response.text[:500]}"
        )
        answer = response.json()
    assert not answer.get("errors"), f"README line {example.line} answered errors: {answer['errors']}"
    data = answer["data"]
    for path in example.paths("nonempty"):
        assert not _is_empty(_at(data, path)), f"README line {example.line}: {path} is empty: {json.dumps(data)[:800]}"
    for path in example.paths("empty"):
        assert _is_empty(_at(data, path)), f"README line {example.line}: {path} is not empty: {_at(data, path)}"
    return answer


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
async def test_readme_example_answers_what_the_text_says(demo_server: DemoServer, example: Example):
    assert example.spec is not None and not example.problems, f"README line {example.line}: {example.problems}"
    await run_example(demo_server, example)


def demo_organization_rows() -> list[tuple[str, str]]:
    """(ORG, ROLE) of the README's demo organizations table."""
    section = README.read_text(encoding="utf-8").split("### Demo data", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", section, re.M)
    return [row for row in rows if row != ("--organization", "--role")]  # not the header


@pytest.mark.asyncio(loop_scope="session")
async def test_the_demo_organizations_table_lists_every_demo_organization_and_each_gets_a_key(demo_server: DemoServer):
    rows = demo_organization_rows()
    demo = json.loads((ROOT / "service/demo/demo_data.json").read_text(encoding="utf-8"))
    assert sorted(org for org, _ in rows) == sorted(o["acronym"] for o in demo["organizations"])
    for org, role in rows:  # as `tcgraph apikey create --role ROLE --organization ORG` resolves them
        token = await demo_server.token(f"{role}/{org}")
        async with httpx.AsyncClient(base_url=demo_server.base) as client:
            viewer = (
                await client.post(
                    "/graphql",
                    json={"query": "{ viewer { role } }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()
        assert viewer["data"]["viewer"]["role"] == role.upper().replace("-", "_"), (org, viewer)


def curl_examples(text: str) -> list[tuple[int, str, str, str]]:
    """(line, role, --state/--organization value, GraphQL payload) of each ```sh block that
    creates a key with `tcgraph apikey create` and posts a query with it through curl."""
    found = []
    for fence in FENCE.finditer(text):
        if fence["lang"] != "sh" or "curl" not in fence["body"]:
            continue
        key = re.search(r"apikey create --role (\S+) --(?:state|organization) (\S+)", fence["body"])
        payload = re.search(r"-d '(\{.*?\})'", fence["body"], re.S)
        if key and payload:
            found.append((text.count("\n", 0, fence.start()) + 1, key[1], key[2], payload[1]))
    return found


@pytest.mark.asyncio(loop_scope="session")
async def test_the_curl_examples_answer_with_the_key_they_create(demo_server: DemoServer):
    examples = curl_examples(README.read_text(encoding="utf-8"))
    assert examples, "the README's curl example is gone or no longer matches this test"
    for line, role, bound, payload in examples:
        token = await demo_server.token(f"{role}/{bound}")
        async with httpx.AsyncClient(base_url=demo_server.base) as client:
            answer = (
                await client.post("/graphql", json=json.loads(payload), headers={"Authorization": f"Bearer {token}"})
            ).json()
        assert not answer.get("errors") and answer["data"], f"README line {line}: {answer}"
