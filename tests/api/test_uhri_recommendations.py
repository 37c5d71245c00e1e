"""Recommendations of every mechanism through the API, after a UHRI import: source, body,
symbol and UHRI id on the type, `sources`/`bodies` filters, no review for treaty bodies, stable
pages across both kinds, node lookup, links to needs, export, and the import mutation."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from graphql_schema.relay import to_global_id
from service.access.principals import ANONYMOUS, SYSTEM, Role
from service.exports import export_entities
from service.imports.run import run_import
from tests.support import gql

pytestmark = pytest.mark.asyncio

FIXTURE = Path(__file__).resolve().parents[1] / "imports" / "fixtures" / "uhri_export.json"
FIELDS = "id text source body symbol publicationDate uhriId sourceReference review { session } state { code }"
LIST = f"""query($filter: RecommendationFilter, $after: String, $first: Int) {{
  recommendations(filter: $filter, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {FIELDS} }} }}
  }}
}}"""


@pytest.fixture
def app_settings(tmp_path):
    from service.settings import Settings

    folder = tmp_path / "imports"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "uhri.json")
    return Settings(import_dir=folder)


async def imported(sessionmaker, world) -> int:
    """The fixture imported (its 3 broken records left out), next to one UPR recommendation."""
    rid = await world.recommendation("KEN", "Adopt a law on access to information.", session_no=35)
    report, committed = await run_import(
        sessionmaker=sessionmaker, principal=SYSTEM, source="uhri", files=[FIXTURE], allow_rejects=True
    )
    assert committed and report.created == 5
    return rid


async def nodes(app_client, variables) -> list[dict]:
    body = await gql(app_client, LIST, variables)
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["recommendations"]["edges"]]


async def test_filters_and_fields(app_client, world, sessionmaker):
    await imported(sessionmaker, world)

    treaty = await nodes(app_client, {"filter": {"sources": ["TREATY_BODY"]}, "first": 10})
    assert sorted(n["body"] for n in treaty) == ["CEDAW", "CRC"]
    crc = next(n for n in treaty if n["body"] == "CRC")
    assert crc == {
        "id": crc["id"],
        "text": crc["text"],
        "source": "TREATY_BODY",
        "body": "CRC",
        "symbol": "CRC/C/PER/CO/6-7",
        "publicationDate": "2025-02-12",
        "uhriId": "a9ceae8c-fe1c-40f9-a326-1529e0ab678f",
        "sourceReference": "CRC/C/PER/CO/6-7, para. 18",
        "review": None,
        "state": {"code": "PER"},
    }
    assert [n["body"] for n in await nodes(app_client, {"filter": {"bodies": ["crc", "sr torture"]}, "first": 10})] in (
        ["CRC", "SR Torture"],
        ["SR Torture", "CRC"],
    )
    special = await nodes(app_client, {"filter": {"sources": ["SPECIAL_PROCEDURE"], "states": ["KEN"]}, "first": 10})
    assert [(n["body"], n["review"]) for n in special] == [("SR Torture", None)]
    upr = await nodes(app_client, {"filter": {"sources": ["UPR"], "states": ["KEN"]}, "first": 10})
    assert sorted((n["uhriId"] is not None, n["review"]["session"]) for n in upr) == [
        (False, 35),
        (True, 35),
        (True, 35),
    ]

    node = await gql(
        app_client, "query($id: ID!) { node(id: $id) { ... on Recommendation { body source } } }", {"id": crc["id"]}
    )
    assert node["data"]["node"] == {"body": "CRC", "source": "TREATY_BODY"}


async def test_pages_cover_every_mechanism_in_the_default_order(app_client, world, sessionmaker):
    await imported(sessionmaker, world)
    seen: list[str] = []
    after = None
    while True:
        body = await gql(app_client, LIST, {"first": 2, "after": after})
        page = body["data"]["recommendations"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"] == 6


async def test_a_need_serves_a_treaty_body_recommendation(app_client, world, sessionmaker):
    await imported(sessionmaker, world)
    cedaw = (await nodes(app_client, {"filter": {"bodies": ["CEDAW"]}, "first": 1}))[0]
    need = await world.need("KEN", title="Gender equality commission")
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    link = """mutation($need: ID!, $rec: ID!) { linkNeedRecommendations(input: {needId: $need, recommendationIds: [$rec]}) {
      need { recommendations(first: 5) { edges { node { body source } } } } userErrors { code } } }"""
    body = await gql(app_client, link, {"need": to_global_id("Need", need), "rec": cedaw["id"]}, token=focal)
    payload = body["data"]["linkNeedRecommendations"]
    assert payload["userErrors"] == []
    assert [e["node"] for e in payload["need"]["recommendations"]["edges"]] == [
        {"body": "CEDAW", "source": "TREATY_BODY"}
    ]
    # Peru's CRC recommendation is not Kenya's: refused like any other State's.
    crc = (await nodes(app_client, {"filter": {"bodies": ["CRC"]}, "first": 1}))[0]
    body = await gql(app_client, link, {"need": to_global_id("Need", need), "rec": crc["id"]}, token=focal)
    assert body["data"]["linkNeedRecommendations"]["userErrors"][0]["code"] == "OTHER_STATE"


async def test_import_mutation_reports_skips(app_client, world):
    admin = await world.key(Role.ADMINISTRATOR)
    mutation = """mutation { importFile(input: {source: UHRI, path: "uhri.json", allowRejects: true}) {
      refused result { committed created rejected skipped skips { position reason } } } }"""
    result = (await gql(app_client, mutation, token=admin))["data"]["importFile"]["result"]
    assert (result["committed"], result["created"], result["rejected"], result["skipped"]) == (True, 5, 3, 2)
    assert {s["position"].split(" (")[0] for s in result["skips"]} == {"record 6", "record 7"}


async def test_export_carries_mechanism_and_treaty_bodies(sessionmaker, world):
    await imported(sessionmaker, world)
    out = io.StringIO()
    async with sessionmaker() as session:
        count = await export_entities(
            session=session,
            principal=ANONYMOUS,
            entity="recommendations",
            fmt="json",
            filters=["sources=treaty_body,special_procedure", "states=KEN"],
            out=out,
        )
    rows = sorted(json.loads(out.getvalue()), key=lambda r: r["body"])
    assert count == 2 and [(r["source"], r["body"], r["session"]) for r in rows] == [
        ("TREATY_BODY", "CEDAW", None),
        ("SPECIAL_PROCEDURE", "SR Torture", None),
    ]
    assert rows[0]["symbol"] == "CEDAW/C/KEN/CO/8" and rows[0]["uhri_id"] == "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
