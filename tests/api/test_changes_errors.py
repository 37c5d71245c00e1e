"""`changes` errors name the argument the caller wrote (`since`, or the `after` cursor)."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.asyncio


async def test_since_beyond_the_log_names_since(app_client, gql):
    answer = await gql(app_client, "{ changes(since: 1200) { lastSequence } }")
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("`since` (1200) is beyond the newest event")


async def test_a_cursor_beyond_the_log_names_after(app_client, gql):
    cursor = base64.urlsafe_b64encode(b"changes:1200").decode().rstrip("=")
    answer = await gql(app_client, "query($c: String) { changes(since: 0, after: $c) { lastSequence } }", {"c": cursor})
    assert answer["errors"][0]["message"].startswith("`after` (1200) is beyond the newest event")
