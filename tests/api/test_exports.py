"""Exports for partner systems: formats, filters, visibility, matches joined."""

from __future__ import annotations

import csv
import io
import json

import pytest

from service.access.principals import ANONYMOUS, Principal, Role
from service.errors import InvalidInput
from service.exports import export_entities
from service.models.enums import Visibility

pytestmark = pytest.mark.asyncio


async def export(sessionmaker, principal, entity="needs", fmt="json", filters=()):
    out = io.StringIO()
    async with sessionmaker() as session:
        count = await export_entities(
            session=session, principal=principal, entity=entity, fmt=fmt, filters=list(filters), out=out
        )
    return count, out.getvalue()


async def test_needs_export_follows_the_principals_visibility(sessionmaker, world):
    for visibility in Visibility:
        await world.need("KEN", title=f"{visibility.value} need", visibility=visibility)
    await world.need("UGA", title="Ugandan public need")
    cases = {
        ANONYMOUS: {"PUBLIC need", "Ugandan public need"},
        Principal(role=Role.DONOR, organization_id=1): {"PUBLIC need", "PARTNERS need", "Ugandan public need"},
        Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN"): {
            "PUBLIC need",
            "PARTNERS need",
            "PRIVATE need",
            "Ugandan public need",
        },
    }
    for principal, expected in cases.items():
        count, text = await export(sessionmaker, principal)
        rows = json.loads(text)
        assert {r["title"] for r in rows} == expected and count == len(expected)
    count, text = await export(sessionmaker, ANONYMOUS, fmt="csv", filters=["states=KEN"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["title"] for r in rows] == ["PUBLIC need"] and rows[0]["state"] == "KEN"


async def test_needs_export_joins_their_matches(sessionmaker, world):
    org = await world.organization("Norad")
    await world.programme(org, iati_identifier="NO-X-1", recipients=("KEN",))
    await world.need("KEN", title="Courts")
    _, text = await export(sessionmaker, ANONYMOUS)
    (row,) = json.loads(text)
    assert row["matches"] and row["matches"][0]["status"] == "SUGGESTED" and 0 < row["matches"][0]["score"] <= 1


async def test_recommendations_and_programmes_export_and_bad_filters(sessionmaker, world):
    await world.recommendation("KEN", "Strengthen the judiciary.")
    org = await world.organization("Sida")
    await world.programme(org, iati_identifier="SE-0-1", recipients=("UGA",))
    count, text = await export(sessionmaker, ANONYMOUS, "recommendations", "csv", ["states=KEN"])
    assert count == 1 and "Strengthen the judiciary." in text
    count, text = await export(sessionmaker, ANONYMOUS, "programmes", "json")
    assert count == 1 and json.loads(text)[0]["recipient_states"] == ["UGA"]
    with pytest.raises(InvalidInput, match="Unknown filter"):
        await export(sessionmaker, ANONYMOUS, filters=["colour=red"])
    with pytest.raises(InvalidInput, match="Bad value"):
        await export(sessionmaker, ANONYMOUS, filters=["statuses=NOPE"])
