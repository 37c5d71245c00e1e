"""One rule for live delivery and replay: a subscriber gets each change of a need it may see
at the event's position in the log, and exactly one NEED_REMOVED when it stops seeing it.

A need goes PUBLIC → PRIVATE → PUBLIC while anonymous, a donor, an agency, another State's
focal point and the owner State's focal point subscribe live on one process. Replays with
`after` — on that process, whose visibility answers are warm, and on a fresh one — must send
each role exactly what it got live."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from service.access.principals import Role
from service.models.enums import OrganizationCategory
from tests.e2e.test_subscriptions import CREATE, post, ws_url
from tests.support.servers import running_server
from tests.support.ws import Subscription

pytestmark = pytest.mark.asyncio

EVENTS = """subscription($after: Int) {
  events(after: $after) { sequence kind removed entityId entity { ... on Need { title } } }
}"""
RENAME = (
    "mutation($id: ID!, $t: String!) { updateNeed(input: {id: $id, title: $t}) { need { id } userErrors { code } } }"
)
ADD_INPUT = 'mutation($id: ID!) { addStakeholderInput(input: {needId: $id, body: "Court users need legal aid."}) { stakeholderInput { id } userErrors { code } } }'
HIDE = "mutation($id: ID!, $v: Visibility!) { updateNeed(input: {id: $id, visibility: $v}) { need { id } userErrors { code } } }"
NOT_OWNERS = ("anonymous", "donor", "agency", "other State")


@pytest.fixture
async def tokens(world):
    return {
        "anonymous": None,
        "donor": await world.key(Role.DONOR, organization=await world.organization("Norway")),
        "agency": await world.key(
            Role.AGENCY, organization=await world.organization("UNDP", OrganizationCategory.UN_AGENCY)
        ),
        "other State": await world.key(Role.STATE_FOCAL_POINT, state="UGA"),
        "owner": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
        "nhri": await world.key(Role.NHRI, organization=await world.organization("KNCHR", OrganizationCategory.NHRI)),
    }


async def until(subscription: Subscription, marker: str) -> list[dict]:
    """Events up to and including the creation of the need titled `marker`."""
    events = []
    while True:
        event = (await subscription.next())["data"]["events"]
        events.append(event)
        if event["kind"] == "NEED_CREATED" and (event["entity"] or {}).get("title") == marker:
            return events


def shape(events: list[dict], names: dict[str, str]) -> list[tuple]:
    """(kind, which need, removed) — the entity is loaded at delivery, so live and replay differ there."""
    return [(e["kind"], names.get(e["entityId"], "?"), e["removed"]) for e in events]


async def test_a_need_hidden_then_shown_again_live_and_on_replay(database_url, tokens):
    owner = tokens["owner"]
    async with running_server(database_url) as (base, _), contextlib.AsyncExitStack() as stack:
        need = (await post(base, CREATE, {"v": "PUBLIC", "t": "Court records"}, owner))["data"]["createNeed"]["need"][
            "id"
        ]
        live = {
            role: await stack.enter_async_context(Subscription(ws_url(base), EVENTS, token=token))
            for role, token in tokens.items()
            if role != "nhri"
        }
        # Every subscriber is live once it has the creation of a need made after it subscribed.
        start = None
        while start is None:
            await post(base, CREATE, {"v": "PUBLIC", "t": "Start"}, owner)
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                firsts = [await until(s, "Start") for s in live.values()]
                start = firsts[0][-1]["sequence"]
                assert all(f[-1]["sequence"] == start for f in firsts), "a subscriber came in late"
        names = {need: "need"}

        await post(base, RENAME, {"id": need, "t": "Court records (v2)"}, owner)
        # An event that does not record the need's visibility: decided from the log.
        added = await post(base, ADD_INPUT, {"id": need}, tokens["nhri"])
        names[added["data"]["addStakeholderInput"]["stakeholderInput"]["id"]] = "input"
        assert (await post(base, HIDE, {"id": need, "v": "PRIVATE"}, owner))["data"]["updateNeed"]["need"]
        names[(await post(base, CREATE, {"v": "PUBLIC", "t": "Hidden"}, owner))["data"]["createNeed"]["need"]["id"]] = (
            "marker"
        )
        hidden = {role: await until(s, "Hidden") for role, s in live.items()}

        for role in NOT_OWNERS:
            assert shape(hidden[role], names) == [
                ("NEED_UPDATED", "need", False),  # still PUBLIC then
                ("NEED_INPUT_ADDED", "input", False),
                ("NEED_REMOVED", "need", True),  # exactly one removal for the change
                ("NEED_CREATED", "marker", False),
            ], role
        assert shape(hidden["owner"], names) == [
            ("NEED_UPDATED", "need", False),
            ("NEED_INPUT_ADDED", "input", False),
            ("NEED_UPDATED", "need", False),
            ("NEED_VISIBILITY_CHANGED", "need", False),
            ("NEED_CREATED", "marker", False),
        ]

        # Replays while the need is hidden: the same events, on a warm and on a fresh process.
        async with running_server(database_url) as (fresh, _):
            for server in (base, fresh):
                for role in live:
                    async with Subscription(ws_url(server), EVENTS, {"after": start}, token=tokens[role]) as replay:
                        assert shape(await until(replay, "Hidden"), names) == shape(hidden[role], names), (server, role)

        # Shown again: it appears to everyone.
        assert (await post(base, HIDE, {"id": need, "v": "PUBLIC"}, owner))["data"]["updateNeed"]["need"]
        names[(await post(base, CREATE, {"v": "PUBLIC", "t": "Shown"}, owner))["data"]["createNeed"]["need"]["id"]] = (
            "marker"
        )
        for role, subscription in live.items():
            shown = await until(subscription, "Shown")
            assert shape(shown, names) == [
                ("NEED_UPDATED", "need", False),
                ("NEED_VISIBILITY_CHANGED", "need", False),
                ("NEED_CREATED", "marker", False),
            ], role
            assert shown[0]["entity"] == {"title": "Court records (v2)"}
