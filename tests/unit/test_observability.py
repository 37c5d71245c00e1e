"""Observability pieces without a server: bounded operation labels, the JSON log line."""

from __future__ import annotations

import json
import logging

from service.observability.logs import JsonFormatter, install_record_factory
from service.observability.metrics import OperationNames
from service.observability.requests import RequestRecord, current_request, request_id_from


def test_operation_names_are_bounded():
    names = OperationNames(limit=2)
    assert names.label(None, valid=True) == "anonymous"
    assert names.label("Unseen", valid=False) == "other"  # only validated documents admit a name
    assert names.label("First", valid=True) == "First"
    assert names.label("First", valid=False) == "First"  # once admitted, also when refused
    assert names.label("x" * 65, valid=True) == "other"  # too long
    assert names.label("Second", valid=True) == "Second"
    assert names.label("Third", valid=True) == "other"  # over the limit
    assert names.label({"not": "a name"}, valid=True) == "other"  # as a client may send `operationName`


def test_a_sane_request_id_is_kept_and_anything_else_replaced():
    assert request_id_from([(b"x-request-id", b"client-7f3a:9")]) == "client-7f3a:9"
    for insane in (b"", b"a b", b"x" * 129, b"\xff\xfe", b"<script>"):
        generated = request_id_from([(b"x-request-id", insane)])
        assert len(generated) == 32 and int(generated, 16) >= 0
    assert len(request_id_from([])) == 32


def test_a_log_line_is_one_json_object_with_the_request_id():
    install_record_factory()
    token = current_request.set(RequestRecord("req-42"))
    try:
        record = logging.getLogger("tcgraph.test").makeRecord(
            "tcgraph.test",
            logging.WARNING,
            __file__,
            1,
            "pool %s",
            ("exhausted",),
            None,
            extra={"fields": {"waiting": 3}},
        )
    finally:
        current_request.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-42" and entry["message"] == "pool exhausted" and entry["waiting"] == 3
    assert entry["level"] == "warning" and entry["logger"] == "tcgraph.test"
