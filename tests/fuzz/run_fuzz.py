"""Fuzz the GraphQL API with schemathesis (GraphQL mode): a fresh migrated database with the
demo data, the real service under uvicorn, a fixed budget of generated operations anonymous
and as administrator. Fails on any HTTP 5xx, non-JSON answer, broken connection or error with
`extensions.code` INTERNAL_SERVER_ERROR, and prints one reproducing request per cause.

    make fuzz                          # FUZZ_CASES per principal (default below)
    FUZZ_CASES=10000 make fuzz
    .venv/bin/python tests/fuzz/run_fuzz.py --base http://127.0.0.1:8000 --admin-key KEY  # a running server

The database server is the tests' (TEST_DATABASE_URL / DATABASE_URL, else the tests' embedded
cluster); the fuzz database is dropped afterwards. `FUZZ_REPORT=path.json` writes every
failure; `FUZZ_MAX_SECONDS` caps each principal's time. Rate limits are lifted for the run
(they would refuse most cases before execution). Every other case sends the operation's
arguments as variables, some replaced by extreme values (NUL, lone surrogate, 100,000
characters, numbers past every range). Subscriptions are not fuzzed (HTTP only).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import shlex
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CASES = 3000  # per principal: about 3 minutes for both on 2 busy cores
MAX_GROUPS_SHOWN = 15
EXAMPLES_PER_GROUP = 3
MAX_BATCH = 25  # cases per operation and generation mode before moving to the next operation
UNLIMITED = {
    name: "1000000000"
    for name in (
        "RATE_LIMIT_CAPACITY",
        "RATE_LIMIT_RESTORE_RATE",
        "ANONYMOUS_RATE_LIMIT_CAPACITY",
        "ANONYMOUS_RATE_LIMIT_RESTORE_RATE",
    )
}


@dataclass
class Failure:
    principal: str
    operation: str
    status: int | None
    cause: str  # what the answer showed
    query: str
    variables: dict[str, Any] | None
    answer: str
    logged: str | None = None  # the exception the server logged for it, when its log is at hand

    @property
    def group(self) -> str:
        """The exception class the server logged (else what the answer said): one bug, one group."""
        return self.logged.split(":", 1)[0] if self.logged else self.cause

    def reproduce(self, base: str) -> str:
        auth = " -H 'Authorization: Bearer $ADMIN_KEY'" if self.principal == "administrator" else ""
        payload: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            payload["variables"] = self.variables
        body = json.dumps(payload, ensure_ascii=True)
        if len(body) > 2000:
            body = body[:2000] + "…(cut; the full request is in FUZZ_REPORT)"
        return f"curl -s {base}/graphql -H 'content-type: application/json'{auth} --data-binary {shlex.quote(body)}"


class LogTail:
    """What the server logged during one request (the fuzzer sends one at a time)."""

    EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)\w*)(?::\s?(.*))?$", re.M)

    def __init__(self, path: Path | None):
        self.path, self.offset = path, 0

    def mark(self) -> None:
        if self.path is not None and self.path.exists():
            self.offset = self.path.stat().st_size

    def last_exception(self) -> str | None:
        """The last exception line logged since `mark`, numbers and quoted values blurred so
        that one cause makes one group."""
        if self.path is None or not self.path.exists():
            return None
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode("utf-8", "replace")
        found = self.EXCEPTION.findall(text)
        if not found:
            return None
        name, message = found[-1]
        message = re.sub(r"'[^']*'|\"[^\"]*\"|\{.*\}|\[.*\]|-?\d[\d.e+-]*", "…", message or "")
        return f"{name}: {message}"[:160]


def failure_of(status: int | None, text: str) -> str | None:
    """The cause if this answer is a server error, else None."""
    if status is None:
        return f"no answer: {text}"
    if status >= 500:
        return f"HTTP {status}"
    try:
        payload = json.loads(text)
    except ValueError:
        return f"HTTP {status}, not JSON"
    errors = payload.get("errors") if isinstance(payload, dict) else None
    for error in errors or []:
        code = ((error or {}).get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR" or code is None:
            # Every error the API means to send carries a code; one without is unexpected too.
            message = re.sub(r"\d+", "N", str(error.get("message", "")))[:120]
            return f"{code or 'no extensions.code'}: {message}"
    return None


# Values that have broken services before: bytes PostgreSQL refuses, numbers past every
# column's range, strings past every length limit.
EXTREMES: list[Any] = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x" * 100_000,
    "9" * 400,
    "1e999999",
    "-1e-999999",
    "NaN",
    "Infinity",
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    10**400,
    1e308,
    -1e308,
    [],
    {},
    [None],
    {"": None},
]


def with_variables(query: str, schema: Any, rng: random.Random) -> tuple[str, dict[str, Any]] | None:
    """The same operation with its argument values passed as variables (coercion of variables
    is another code path than literals), one of them replaced by an extreme value half the
    time. None when the query has no arguments or does not parse."""
    from graphql import GraphQLError, parse, print_ast, visit
    from graphql.language import (
        ArgumentNode,
        NameNode,
        OperationDefinitionNode,
        VariableDefinitionNode,
        VariableNode,
        parse_type,
    )
    from graphql.utilities import TypeInfo, value_from_ast_untyped
    from graphql.utilities.type_info import TypeInfoVisitor

    try:
        document = parse(query)
    except GraphQLError:
        return None
    type_info = TypeInfo(schema)
    variables: dict[str, Any] = {}
    definitions: list[VariableDefinitionNode] = []

    class Hoist:
        def get_enter_leave_for_kind(self, kind: str) -> Any:
            from graphql.language.visitor import EnterLeaveVisitor

            return EnterLeaveVisitor(self.enter_argument if kind == "argument" else None, None)

        def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
            argument = type_info.get_argument()
            if argument is None or isinstance(node.value, VariableNode):
                return None
            name = f"v{len(variables)}"
            variables[name] = value_from_ast_untyped(node.value)
            variable = VariableNode(name=NameNode(value=name))
            definitions.append(VariableDefinitionNode(variable=variable, type=parse_type(str(argument.type))))
            return ArgumentNode(name=node.name, value=variable)

    document = visit(document, TypeInfoVisitor(type_info, Hoist()))  # type: ignore[arg-type]
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not variables or len(operations) != 1:
        return None
    with_definitions = dataclasses.replace(operations[0], variable_definitions=tuple(definitions))
    document = dataclasses.replace(
        document, definitions=tuple(with_definitions if d is operations[0] else d for d in document.definitions)
    )
    if rng.random() < 0.5:
        _replace_a_leaf(variables, rng)
    return print_ast(document), variables


def _replace_a_leaf(value: Any, rng: random.Random) -> None:
    """Put an extreme value in place of one leaf of a JSON object."""
    leaves: list[tuple[Any, Any]] = []

    def walk(container: Any) -> None:
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in items:
            leaves.append((container, key))
            if isinstance(item, (dict, list)):
                walk(item)

    walk(value)
    if leaves:
        container, key = rng.choice(leaves)
        container[key] = rng.choice(EXTREMES)


def register_scalars() -> None:
    """Strategies for the schema's custom scalars (Date and DateTime are built in)."""
    import schemathesis
    from hypothesis import strategies as st
    from schemathesis.graphql import nodes

    decimals = st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.integers().map(str),
        st.text(max_size=30),
    )
    schemathesis.graphql.scalar("Decimal", decimals.map(nodes.String))
    schemathesis.graphql.scalar("JSON", st.text(max_size=50).map(nodes.String))


def fuzz(
    base: str,
    principal: str,
    token: str | None,
    cases: int,
    deadline: float,
    server_log: Path | None = None,
) -> tuple[int, list[Failure]]:
    """Run about `cases` generated operations (fewer if `deadline`, a monotonic time, passes)."""
    import httpx
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    schema = schemathesis.graphql.from_url(f"{base}/graphql", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Small budgets still reach every operation: a round gives each its share.
    batch = max(2, min(MAX_BATCH, cases // (2 * len(operations))))
    rng = random.Random(f"{principal}:{cases}")  # the same values on every run of a budget
    log = LogTail(server_log)
    failures: list[Failure] = []
    sent = 0

    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:

        def run(operation: Any, mode: GenerationMode, budget: int) -> None:
            @settings(
                max_examples=budget,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                nonlocal sent
                if sent >= cases or time.monotonic() > deadline:
                    return
                sent += 1
                query = case.body if isinstance(case.body, str) else json.dumps(case.body)
                variables = None
                if sent % 2 == 0 and (hoisted := with_variables(query, schema.client_schema, rng)) is not None:
                    query, variables = hoisted
                log.mark()
                try:
                    # ASCII JSON: a lone surrogate in a value travels as \\ud800, as a browser sends it.
                    body = json.dumps({"query": query, "variables": variables})
                    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
                    status, text = response.status_code, response.text
                except httpx.HTTPError as exc:
                    status, text = None, f"{type(exc).__name__}: {exc}"
                cause = failure_of(status, text)
                if cause is not None:
                    failures.append(
                        Failure(
                            principal,
                            operation.label,
                            status,
                            cause,
                            query,
                            variables,
                            text[:2000],
                            log.last_exception(),
                        )
                    )

            one()

        while sent < cases and time.monotonic() < deadline:
            before = sent
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    if sent >= cases or time.monotonic() > deadline:
                        break
                    try:
                        run(operation, mode, batch)
                    except Exception as exc:  # noqa: BLE001 — a generator that cannot build cases
                        failures.append(
                            Failure(
                                principal,
                                operation.label,
                                None,
                                f"generator: {type(exc).__name__}",
                                "",
                                None,
                                str(exc)[:500],
                            )
                        )
            if sent == before:
                break  # nothing left to generate
    return sent, failures


def report(base: str, results: dict[str, tuple[int, float, list[Failure]]], report_path: str | None) -> int:
    failures = [f for _, _, found in results.values() for f in found]
    for principal, (sent, seconds, found) in results.items():
        print(
            f"fuzz {principal}: {sent} cases in {seconds:.0f} s ({sent / max(seconds, 1e-9):.0f}/s), {len(found)} server errors"
        )
    groups: dict[str, list[Failure]] = defaultdict(list)
    for failure in failures:
        groups[failure.group].append(failure)
    ranked = sorted(groups.items(), key=lambda item: -len(item[1]))
    for cause, members in ranked[:MAX_GROUPS_SHOWN]:
        operations = sorted({f.operation for f in members})
        print(
            f"\nFAIL x{len(members)} {cause}\n  operations: {', '.join(operations[:8])}{' …' if len(operations) > 8 else ''}"
        )
        variants: dict[str, list[Failure]] = defaultdict(list)
        for failure in members:
            variants[failure.logged or failure.cause].append(failure)
        for message, alike in sorted(variants.items(), key=lambda item: -len(item[1]))[:EXAMPLES_PER_GROUP]:
            example = min(alike, key=lambda f: len(f.query) + len(json.dumps(f.variables)))  # the shortest
            print(f"  x{len(alike)} {message}\n    as {example.principal}: {example.reproduce(base)}")
            print(f"    answer: {example.answer[:200]}")
        if len(variants) > EXAMPLES_PER_GROUP:
            print(f"  … {len(variants) - EXAMPLES_PER_GROUP} more messages")
    if len(ranked) > MAX_GROUPS_SHOWN:
        print(f"\n… and {len(ranked) - MAX_GROUPS_SHOWN} more causes")
    if report_path:
        Path(report_path).write_text(json.dumps([asdict(f) for f in failures], indent=1), encoding="utf-8")
        print(f"\nall failures: {report_path}")
    return 1 if failures else 0


def fuzz_both(
    base: str,
    admin_key: str,
    cases: int,
    max_seconds: float,
    server_log: Path | None = None,
) -> dict[str, tuple[int, float, list[Failure]]]:
    register_scalars()
    results = {}
    for principal, token in (("anonymous", None), ("administrator", admin_key)):
        started = time.monotonic()
        sent, found = fuzz(base, principal, token, cases, started + max_seconds, server_log)
        results[principal] = (sent, time.monotonic() - started, found)
    return results


async def on_fresh_demo_database(cases: int, max_seconds: float) -> dict[str, tuple[int, float, list[Failure]]]:
    from service.db.engine import make_engine, make_sessionmaker
    from service.db.migrate import upgrade
    from service.reference.load import load_reference
    from tests.support.db import EmbeddedTestCluster, PgServer, external_url_from_env
    from tests.support.demo import create_key, load_demo_world
    from tests.support.servers import running_server

    cluster = None
    url = external_url_from_env()
    if url is None:
        cluster = EmbeddedTestCluster()
        url, _ = await asyncio.to_thread(cluster.start)
    server = PgServer(url=url, kind="external" if cluster is None else "embedded")
    await server.connect()
    name = f"tcgraph_fuzz_{os.getpid()}"
    try:
        database_url = await server.create_database(name)
        await asyncio.to_thread(upgrade, database_url)
        engine = make_engine(database_url, pool_size=1, max_overflow=0)
        try:
            async with make_sessionmaker(engine)() as session:
                await load_reference(session)
                await session.commit()
        finally:
            await engine.dispose()
        await asyncio.to_thread(load_demo_world, database_url)
        admin_key = await asyncio.to_thread(create_key, database_url, "admin")
        log = Path(os.environ.get("FUZZ_SERVER_LOG", f"/tmp/tcgraph_fuzz_{os.getpid()}.log"))
        async with running_server(database_url, env=UNLIMITED, log=log) as (base, _):
            print(f"fuzz: service at {base} on database {name}; server log {log}")
            return await asyncio.to_thread(fuzz_both, base, admin_key, cases, max_seconds, log)
    finally:
        await server.drop_database(name)
        await server.close()
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        type=int,
        default=int(os.environ.get("FUZZ_CASES", DEFAULT_CASES)),
        help="generated operations per principal",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=float(os.environ.get("FUZZ_MAX_SECONDS", 600)),
        help="time budget per principal",
    )
    parser.add_argument("--base", help="fuzz this running server instead of starting one (http://host:port)")
    parser.add_argument("--admin-key", help="an administrator API key for --base")
    parser.add_argument(
        "--server-log", type=Path, help="the --base server's log, to group failures by the exception it logged"
    )
    args = parser.parse_args()
    if args.base:
        if not args.admin_key:
            parser.error("--base needs --admin-key")
        results = fuzz_both(args.base.rstrip("/"), args.admin_key, args.cases, args.max_seconds, args.server_log)
        base = args.base.rstrip("/")
    else:
        results = asyncio.run(on_fresh_demo_database(args.cases, args.max_seconds))
        base = "http://127.0.0.1:8000"  # reproductions: against `make run` (mind its rate limits)
    return report(base, results, os.environ.get("FUZZ_REPORT"))


if __name__ == "__main__":
    sys.exit(main())
