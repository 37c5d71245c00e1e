"""The fuzz stage's own logic (tests/fuzz/run_fuzz.py): what counts as a server error, and the
variables form of a generated operation."""

from __future__ import annotations

import json
import random
from pathlib import Path

from graphql import build_schema, parse, validate
from graphql.execution.values import get_variable_values

from tests.fuzz.run_fuzz import LogTail, failure_of, with_variables

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8"))


def test_server_errors_are_5xx_non_json_unanswered_or_internal():
    assert failure_of(500, "oops") == "HTTP 500"
    assert failure_of(200, "<html>") == "HTTP 200, not JSON"
    assert failure_of(None, "ReadTimeout").startswith("no answer")
    masked = {
        "data": None,
        "errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
    }
    assert failure_of(200, json.dumps(masked)).startswith("INTERNAL_SERVER_ERROR")
    assert failure_of(200, json.dumps({"errors": [{"message": "x"}]})).startswith("no extensions.code")


def test_clear_refusals_and_answers_are_not_server_errors():
    refused = {"data": None, "errors": [{"message": "bad", "extensions": {"code": "BAD_USER_INPUT"}}]}
    assert failure_of(400, json.dumps(refused)) is None
    assert failure_of(401, json.dumps(refused)) is None
    assert failure_of(200, json.dumps({"data": {"viewer": {"role": "ANONYMOUS"}}})) is None


def test_arguments_become_variables_of_their_declared_types():
    query = '{ needs(first: 5, filter: {statuses: [DRAFT], search: "court"}) { totalCount } }'
    hoisted = None
    rng = random.Random(0)
    while hoisted is None or hoisted[1] != {"v0": 5, "v1": {"statuses": ["DRAFT"], "search": "court"}}:
        hoisted = with_variables(query, SCHEMA, rng)  # half the time one value is made extreme
    text, variables = hoisted
    document = parse(text)
    assert validate(SCHEMA, document) == []
    operation = document.definitions[0]
    coerced = get_variable_values(SCHEMA, operation.variable_definitions, variables)
    assert not isinstance(coerced, list), coerced  # a list would be coercion errors
    assert with_variables("{ viewer { role } }", SCHEMA, rng) is None


def test_the_log_tail_names_the_exception_logged_during_a_request(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("KeyError: 'old'\n")
    tail = LogTail(log)
    tail.mark()
    with log.open("a") as out:
        out.write('Traceback…\nsqlalchemy.exc.DBAPIError: invalid byte sequence for encoding "UTF8": 0x00\n')
    assert tail.last_exception() == "sqlalchemy.exc.DBAPIError: invalid byte sequence for encoding …: …x…"
    tail.mark()
    assert tail.last_exception() is None
