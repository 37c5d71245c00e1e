"""Imports through the API: administrators only, files inside the import folder only,
the same report as the CLI, all or nothing, and seen like any other change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.access.principals import Role
from service.models import AuditEvent, Event, Recommendation
from tests.support import gql

pytestmark = pytest.mark.asyncio

FIXTURES = Path(__file__).resolve().parents[1] / "imports" / "fixtures"
IMPORT = """mutation($path: String!, $source: ImportSource!, $dry: Boolean!, $allow: Boolean!) {
  importFile(input: {source: $source, path: $path, dryRun: $dry, allowRejects: $allow}) {
    refused result { committed dryRun read created updated unchanged rejected rejections { file position reason } unresolvedNames { name occurrences } }
  }
}"""


@pytest.fixture
def import_dir(tmp_path):
    folder = tmp_path / "imports"
    folder.mkdir()
    shutil.copy(FIXTURES / "upr_info_utf8_bom_crlf.csv", folder / "upr.csv")
    shutil.copy(FIXTURES / "iati_104_legacy.xml", folder / "legacy.xml")
    return folder


@pytest.fixture
def app_settings(import_dir):
    from service.settings import Settings

    return Settings(import_dir=import_dir)


async def test_administrator_imports_with_the_cli_rules(app_client, world, sessionmaker):
    admin = await world.key(Role.ADMINISTRATOR)
    variables = {"path": "upr.csv", "source": "UPR_INFO", "dry": True, "allow": True}
    dry = (await gql(app_client, IMPORT, variables, token=admin))["data"]["importFile"]["result"]
    assert dry["dryRun"] and not dry["committed"] and dry["read"] > 0
    async with sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(Recommendation))).scalar_one() == 0
    strict = (await gql(app_client, IMPORT, {**variables, "dry": False, "allow": False}, token=admin))["data"][
        "importFile"
    ]["result"]
    assert strict["committed"] == (strict["rejected"] == 0)
    if strict["rejected"]:
        assert strict["rejections"][0]["position"].startswith("row")
        real = (await gql(app_client, IMPORT, {**variables, "dry": False, "allow": True}, token=admin))["data"][
            "importFile"
        ]["result"]
    else:
        real = strict
    assert real["committed"] and real["created"] > 0
    async with sessionmaker() as session:
        recommendations = (await session.execute(sa.select(sa.func.count()).select_from(Recommendation))).scalar_one()
        audited = (
            await session.execute(
                sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.entity_type == "Recommendation")
            )
        ).scalar_one()
        logged = (
            await session.execute(
                sa.select(sa.func.count()).select_from(Event).where(Event.kind == "RECOMMENDATION_CREATED")
            )
        ).scalar_one()
    assert recommendations == audited == logged > 0
    again = (await gql(app_client, IMPORT, {**variables, "dry": False, "allow": True}, token=admin))["data"][
        "importFile"
    ]["result"]
    assert again["created"] == 0 and again["unchanged"] == real["created"]


async def test_imports_are_refused_to_others_and_outside_the_folder(app_client, world):
    admin = await world.key(Role.ADMINISTRATOR)
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    variables = {"path": "upr.csv", "source": "UPR_INFO", "dry": True, "allow": False}
    assert (await gql(app_client, IMPORT, variables, token=focal))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql(app_client, IMPORT, variables))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for path in ("../../etc/passwd", "/etc/passwd", "missing.csv"):
        body = await gql(app_client, IMPORT, {**variables, "path": path}, token=admin)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", path
    legacy = await gql(app_client, IMPORT, {**variables, "path": "legacy.xml", "source": "IATI"}, token=admin)
    assert legacy["data"]["importFile"]["result"] is None
    assert "1." in legacy["data"]["importFile"]["refused"]


async def test_imported_participants_other_than_the_reporter_show_as_unconfirmed(app_client, world, import_dir):
    """IATI publishers list their partners: the import keeps them, the API marks them unconfirmed."""
    shutil.copy(FIXTURES / "dfid_albania_v201.xml", import_dir / "dfid.xml")
    admin = await world.key(Role.ADMINISTRATOR)
    variables = {"path": "dfid.xml", "source": "IATI", "dry": False, "allow": True}
    imported = await gql(app_client, IMPORT, variables, token=admin)
    result = imported["data"]["importFile"]["result"]
    assert result is not None, imported
    assert result["committed"] and result["created"] > 0
    body = await gql(
        app_client,
        """{ programmes(first: 50) { edges { node { iatiIdentifier reportingOrganization { id }
      participants { confirmed organization { id } } } } } }""",
    )
    assert "errors" not in body, body
    participants = [
        (p["organization"]["id"] == e["node"]["reportingOrganization"]["id"], p["confirmed"])
        for e in body["data"]["programmes"]["edges"]
        for p in e["node"]["participants"]
    ]
    assert (False, False) in participants and (True, True) in participants  # others: listed, unconfirmed
    assert all(own == confirmed for own, confirmed in participants)
