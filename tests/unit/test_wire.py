"""`next` messages encoded with a live event's data encoded once."""

from __future__ import annotations

import json

import orjson

from graphql_schema.wire import NextMessageEncoder


def test_next_messages_are_the_standard_json_with_each_subscribers_id():
    encoder = NextMessageEncoder(size=2)
    data = {"events": {"sequence": 7, "entity": {"title": 'Tribunal «Élan» \u2028 "quoted"'}}}
    for operation_id in ["1", "sub-2"]:
        message = {"id": operation_id, "type": "next", "payload": {"data": data}}
        text = encoder.encode(message)
        assert text is not None and json.loads(text) == message
        assert text.startswith(f'{{"id":"{operation_id}","type":"next","payload":{{"data":')
    with_errors = {
        "id": "1",
        "type": "next",
        "payload": {"data": None, "errors": [{"message": "m"}], "extensions": {"x": 1}},
    }
    assert json.loads(encoder.encode(with_errors)) == with_errors


def test_remembered_encodings_follow_the_object_not_its_contents():
    encoder = NextMessageEncoder(size=2)
    data = {"events": {"sequence": 1}}
    first = encoder.encode({"id": "1", "type": "next", "payload": {"data": data}})
    data["events"]["sequence"] = 2  # never done to a shared result; shows the memo is by identity
    assert encoder.encode({"id": "1", "type": "next", "payload": {"data": data}}) == first
    for n in range(3, 6):  # beyond the size: forgotten, encoded afresh
        encoder.encode({"id": "1", "type": "next", "payload": {"data": {"events": {"sequence": n}}}})
    assert (
        json.loads(encoder.encode({"id": "1", "type": "next", "payload": {"data": data}}))["payload"]["data"]["events"][
            "sequence"
        ]
        == 2
    )


def test_other_messages_are_left_to_the_standard_encoder():
    encoder = NextMessageEncoder()
    assert encoder.encode({"type": "connection_ack"}) is None
    assert encoder.encode({"id": "1", "type": "complete"}) is None
    assert encoder.encode({"id": "1", "type": "next", "payload": {"data": {1: "non-string key"}}}) is None


def test_http_responses_are_encoded_by_orjson_with_the_standard_encoder_as_fallback():
    from graphql_schema.wire import encode_response
    from service.app import TcgraphRouter

    router = TcgraphRouter.__new__(TcgraphRouter)
    router.next_messages = NextMessageEncoder()
    body = {"data": {"needs": {"edges": [{"node": {"title": "Accès à la justice", "score": 0.5}}]}}}
    assert router.encode_json(body) == orjson.dumps(body).decode()  # compact, non-ASCII as is
    assert json.loads(encode_response({"data": {"big": 2**70}})) == {"data": {"big": 2**70}}  # beyond orjson's range
