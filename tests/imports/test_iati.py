"""The IATI importer against a real PostgreSQL: the real DFID Albania file (IATI 2.01) and small
hand-written 2.03 files with the dirt real publishers' files carry (fixtures/ATTRIBUTION.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import SYSTEM
from service.imports.iati import import_iati, organization_category
from service.imports.regions import load_region_states, read_region_states
from service.imports.report import ImportRefused, ImportReport
from service.models import AuditEvent, Organization, Programme, ProgrammeParticipant, ProgrammeRecipientState
from service.models.enums import OrganizationCategory
from service.models.programmes import (
    ProgrammeBudget,
    ProgrammeRecipientRegion,
    ProgrammeTransaction,
    RegionState,
)
from service.programmes_geography import (
    programme_covers_state_clause,
    programme_region_states,
    programmes_in_regions_of_states,
    states_covered,
)
from service.reference import sources

FIXTURES = Path(__file__).parent / "fixtures"
ALBANIA = FIXTURES / "dfid_albania_v201.xml"
DIRTY = FIXTURES / "iati_203_dirty.xml"
CHILDREN = ["GB-1-109616-101", "GB-1-109635-101", "GB-1-109635-102", "GB-1-109636-101", "GB-1-109636-102"]


async def run(session: AsyncSession, *files: Path, dry_run: bool = False, progress=None) -> ImportReport:
    return await import_iati(session=session, principal=SYSTEM, files=list(files), dry_run=dry_run, progress=progress)


async def count(session: AsyncSession, model, *where) -> int:
    stmt = sa.select(sa.func.count()).select_from(model)
    for clause in where:
        stmt = stmt.where(clause)
    return (await session.execute(stmt)).scalar_one()


async def programme(session: AsyncSession, identifier: str) -> Programme:
    stmt = sa.select(Programme).where(Programme.iati_identifier == identifier).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()


def reasons(report: ImportReport, position_prefix: str) -> list[str]:
    return [w.reason for w in report.warnings if w.position.startswith(position_prefix)]


# ------------------------------------------------------------------ the real file


async def test_albania_file_imports_every_activity(session: AsyncSession) -> None:
    seen: list[tuple[int, int | None]] = []
    report = await run(session, ALBANIA, progress=lambda done, total: seen.append((done, total)))

    assert (report.read, report.created, report.updated, report.unchanged, report.rejected) == (8, 8, 0, 0, 0)
    assert report.created_by_type == {"Programme": 8, "Organization": 4}
    assert sorted(w.reason for w in report.warnings) == [
        "organization '22000' has no OrganisationType; created as CIVIL_SOCIETY",
        "organization '44001' has no OrganisationType; created as REGIONAL_ORGANIZATION",
    ]
    assert seen[-1] == (8, 8)

    child = await programme(session, "GB-1-109616-101")
    parent = await programme(session, "GB-1-109616")
    assert child.parent_id == parent.id and parent.parent_id is None
    assert child.title == "MULTILATORGANISATION and P0303 for Support to the Intergrated Planning System"
    assert child.titles == {"en": child.title} and child.default_language == "en"
    assert (child.start_date, child.end_date) == (date(2007, 1, 1), date(2009, 3, 6))  # actual dates
    assert child.activity_status == "4" and child.open_to_requests is False  # closed
    assert child.currency == "GBP"
    assert child.budget_amount == child.committed_amount == child.disbursed_amount == Decimal("1500000.00")
    assert child.sectors == ["15110"] and child.sector_categories == ["151"]
    assert len(child.policy_markers) == 8
    assert {"vocabulary": "1", "code": "1", "significance": "0"} in child.policy_markers
    assert child.related_activities == [{"ref": "GB-1-109616", "type": "1"}]
    assert child.source_file == "dfid_albania_v201.xml" and child.content_hash and child.last_imported_at
    assert await count(session, ProgrammeBudget, ProgrammeBudget.programme_id == child.id) == 3
    types = (
        await session.execute(
            sa.select(ProgrammeTransaction.type, sa.func.count())
            .where(ProgrammeTransaction.programme_id == child.id)
            .group_by(ProgrammeTransaction.type)
        )
    ).all()
    assert dict(types) == {"2": 1, "4": 3}

    # a revised budget with a negative amount (a correction) is kept as published
    grant = await programme(session, "GB-1-109635-101")
    assert (
        await count(session, ProgrammeBudget, ProgrammeBudget.programme_id == grant.id, ProgrammeBudget.amount < 0) == 1
    )
    assert grant.budget_amount == Decimal("162393.00")

    for identifier in CHILDREN:
        assert (await programme(session, identifier)).parent_id is not None
    assert await count(session, ProgrammeRecipientState, ProgrammeRecipientState.state_iso3 == "ALB") == 8

    orgs = {o.iati_identifier: o for o in (await session.execute(sa.select(Organization))).scalars()}
    assert set(orgs) == {"GB", "GB-GOV-1", "44001", "22000"}
    assert orgs["GB"].category is OrganizationCategory.DONOR_GOVERNMENT and orgs["GB"].state_iso3 == "GBR"
    assert orgs["GB-GOV-1"].name == "Department for International Development"
    assert orgs["GB-GOV-1"].organisation_type == "10"
    assert orgs["22000"].category is OrganizationCategory.CIVIL_SOCIETY
    assert orgs["44001"].category is OrganizationCategory.REGIONAL_ORGANIZATION
    assert parent.reporting_organization_id == orgs["GB-GOV-1"].id
    roles = (
        await session.execute(
            sa.select(ProgrammeParticipant.organization_id, ProgrammeParticipant.role).where(
                ProgrammeParticipant.programme_id == child.id
            )
        )
    ).all()
    assert {(o, r.value) for o, r in roles} == {
        (orgs["GB"].id, "1"),
        (orgs["GB-GOV-1"].id, "3"),
        (orgs["44001"].id, "4"),
    }


async def test_every_write_is_audited(session: AsyncSession) -> None:
    before = await count(session, AuditEvent)
    await run(session, ALBANIA)
    events = (await session.execute(sa.select(AuditEvent).where(AuditEvent.id > 0))).scalars().all()
    assert len(events) - before == 8 + 4 + len(CHILDREN)
    by = [(e.entity_type, e.action) for e in events]
    assert by.count(("Programme", "create")) == 8
    assert by.count(("Organization", "create")) == 4
    linked = [e for e in events if e.entity_type == "Programme" and e.action == "update"]
    assert len(linked) == len(CHILDREN)
    assert all(e.reason == "IATI import: parent linked by related-activity" for e in linked)
    created = next(
        e for e in events if e.action == "create" and e.after and e.after.get("iati_identifier") == "GB-1-109616-101"
    )
    assert created.actor == SYSTEM.actor and created.reason == "IATI import of dfid_albania_v201.xml"
    assert created.after["committed_amount"] == "1500000.00"
    assert created.after["recipient_states"] == [{"state": "ALB", "percentage": None}]
    assert len(created.after["participants"]) == 3


async def test_reimport_is_idempotent(session: AsyncSession) -> None:
    await run(session, ALBANIA)
    ids = dict((await session.execute(sa.select(Programme.iati_identifier, Programme.id))).all())
    events = await count(session, AuditEvent)
    children = await count(session, ProgrammeTransaction)

    again = await run(session, ALBANIA)

    assert (again.read, again.created, again.updated, again.unchanged, again.rejected) == (8, 0, 0, 8, 0)
    assert again.created_by_type == {}
    assert dict((await session.execute(sa.select(Programme.iati_identifier, Programme.id))).all()) == ids
    assert await count(session, AuditEvent) == events
    assert await count(session, ProgrammeTransaction) == children
    assert await count(session, Organization) == 4


async def test_a_changed_activity_is_updated_in_place(session: AsyncSession, tmp_path: Path) -> None:
    await run(session, ALBANIA)
    old = await programme(session, "GB-1-109636")
    old_id, old_title = old.id, old.title
    changed = tmp_path / "albania_changed.xml"
    changed.write_text(
        ALBANIA.read_text(encoding="utf-8").replace(f">{old_title}<", ">Women's Leadership Programme, phase 2<"),
        encoding="utf-8",
    )

    report = await run(session, changed)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 7)
    now = await programme(session, "GB-1-109636")
    assert now.id == old_id and now.title == "Women's Leadership Programme, phase 2"
    assert now.source_file == "albania_changed.xml"
    assert await count(session, ProgrammeRecipientState, ProgrammeRecipientState.programme_id == old_id) == 1
    assert await count(session, Programme, Programme.parent_id == old_id) == 2  # its children still point at it
    update = (
        await session.execute(
            sa.select(AuditEvent).where(
                AuditEvent.entity_type == "Programme",
                AuditEvent.entity_id == str(old_id),
                AuditEvent.action == "update",
            )
        )
    ).scalar_one()
    assert update.before["title"] == old_title
    assert update.after["title"] == "Women's Leadership Programme, phase 2"
    assert update.after["recipient_states"] == update.before["recipient_states"]


async def test_dry_run_writes_nothing(session: AsyncSession) -> None:
    report = await run(session, ALBANIA, DIRTY, dry_run=True)

    assert report.dry_run and (report.read, report.created, report.rejected) == (15, 13, 2)
    assert report.summary().startswith("dry run — nothing written")
    for model in (Programme, Organization, AuditEvent, ProgrammeTransaction, RegionState):
        assert await count(session, model) == 0, model


# ------------------------------------------------------------------ dirty files


async def test_dirty_file_warns_and_imports_what_is_usable(session: AsyncSession) -> None:
    report = await run(session, DIRTY)

    assert (report.read, report.created, report.rejected) == (7, 5, 2)
    assert [(p.position, p.reason) for p in report.rejections] == [
        ("activity 6", "no iati-identifier"),
        ("activity 7 (XI-TEST-NO-TITLE)", "no title in any language"),
    ]
    assert all(p.file == str(DIRTY) for p in report.rejections + report.warnings)
    assert "recipient percentages add up to 80, not 100" in reasons(report, "activity 2 (")
    assert (
        "related-activity GB-GOV-1-NOT-IN-THIS-FILE (parent) is neither in this import nor in the database; "
        "kept as a reference"
    ) in reasons(report, "activity 3 (GB-GOV-1-TC-TXSECTORS)")
    empty = reasons(report, "activity 4 (XI-TEST-EMPTY-ATTRIBUTES)")
    for expected in (
        'empty code="" on <recipient-country>',
        'empty percentage="" on <recipient-country>',
        'empty code="" on <sector>',
        'empty ref="" on <reporting-org>',
        'empty code="" on <activity-status>',
        'empty iso-date="" on <activity-date>',
    ):
        assert expected in empty
    assert "no default-currency; amounts taken as EUR (the first currency given on a value)" in reasons(
        report, "activity 5 (XI-TEST-NO-CURRENCY)"
    )

    # empty attributes: what is left is imported
    empty_attributes = await programme(session, "XI-TEST-EMPTY-ATTRIBUTES")
    assert empty_attributes.sectors == ["15130"] and empty_attributes.activity_status is None
    states = (
        (
            await session.execute(
                sa.select(ProgrammeRecipientState.state_iso3).where(
                    ProgrammeRecipientState.programme_id == empty_attributes.id
                )
            )
        )
        .scalars()
        .all()
    )
    assert states == ["UGA"]
    # … and an organization without ref is found again by its exact name
    assert await count(session, Organization, Organization.name == "A publisher without an identifier") == 1

    no_currency = await programme(session, "XI-TEST-NO-CURRENCY")
    assert no_currency.currency == "EUR" and no_currency.committed_amount == Decimal("5000.00")


async def test_multilingual_titles_and_descriptions(session: AsyncSession) -> None:
    await run(session, DIRTY)
    multi = await programme(session, "XM-DAC-41313-TC-MULTI")

    assert multi.default_language == "fr"
    assert multi.title == "Appui à la mise en œuvre des recommandations de l'EPU"
    assert multi.titles == {
        "fr": "Appui à la mise en œuvre des recommandations de l'EPU",
        "en": "Support to implementing UPR recommendations",
        "es": "Apoyo a la aplicación de las recomendaciones del EPU",
    }
    # the general description (type 1) comes before the objectives (type 2)
    assert multi.descriptions == {
        "fr": "Conseils techniques au mécanisme national de suivi.\n\nObjectif : un mécanisme national de suivi opérationnel.",
        "en": "Technical advice to the national follow-up mechanism.",
    }
    assert multi.description == multi.descriptions["fr"]
    # SDGs from sector vocabulary 7 and tag vocabulary 3 (whose goal is added)
    assert multi.sdg_goals == ["5", "16"] and multi.sdg_targets == ["16.3"]
    assert multi.sectors == ["15160"] and multi.sector_categories == ["151"]
    # the revised budget replaces the original one; EUR expenditure converted at the reference rate
    assert multi.budget_amount == Decimal("300000.00")
    assert multi.committed_amount == Decimal("300000.00")
    assert multi.disbursed_amount == Decimal("111600.00")
    assert multi.open_to_requests is True  # in implementation
    org = await session.get(Organization, multi.reporting_organization_id)
    assert org is not None and org.category is OrganizationCategory.UN_AGENCY and org.iati_identifier == "XM-DAC-41313"


async def test_sectors_given_only_on_transactions(session: AsyncSession) -> None:
    await run(session, DIRTY)
    reform = await programme(session, "GB-GOV-1-TC-TXSECTORS")
    assert reform.sectors == ["15130", "15160"]
    assert (reform.committed_amount, reform.disbursed_amount) == (Decimal("80000.00"), Decimal("20000.00"))


async def test_related_activities_outside_the_file_stay_references(session: AsyncSession) -> None:
    await run(session, DIRTY)
    reform = await programme(session, "GB-GOV-1-TC-TXSECTORS")
    assert reform.related_activities == [{"ref": "GB-GOV-1-NOT-IN-THIS-FILE", "type": "1"}]
    assert reform.parent_id is None
    assert await count(session, Programme, Programme.iati_identifier == "GB-GOV-1-NOT-IN-THIS-FILE") == 0
    # a parent later in the same file is linked
    multi = await programme(session, "XM-DAC-41313-TC-MULTI")
    region = await programme(session, "XM-DAC-41313-TC-REGION")
    assert multi.parent_id == region.id


async def test_a_region_covers_its_states(session: AsyncSession) -> None:
    await run(session, DIRTY)
    region = await programme(session, "XM-DAC-41313-TC-REGION")
    rows = (
        await session.execute(
            sa.select(
                ProgrammeRecipientRegion.vocabulary,
                ProgrammeRecipientRegion.region_code,
                ProgrammeRecipientRegion.percentage,
            ).where(ProgrammeRecipientRegion.programme_id == region.id)
        )
    ).all()
    assert rows == [("1", "789", Decimal("60.00"))]

    covered = (await states_covered(session, [region.id]))[region.id]
    assert {"KHM", "IDN", "VNM", "THA"} <= set(covered)  # THA is also named directly
    assert "JPN" not in covered and "ALB" not in covered
    # THA is also in DAC region 789, so the region alone gives the same States
    assert (await programme_region_states(session, [region.id]))[region.id] == covered

    def ids_covering(state):
        return (
            sa.select(Programme.iati_identifier)
            .where(programme_covers_state_clause(state))
            .order_by(Programme.iati_identifier)
        )

    assert (await session.execute(ids_covering("KHM"))).scalars().all() == ["XM-DAC-41313-TC-REGION"]
    assert (await session.execute(ids_covering(["UGA"]))).scalars().all() == [
        "XI-TEST-EMPTY-ATTRIBUTES",
        "XI-TEST-NO-CURRENCY",
    ]
    assert (await session.execute(ids_covering("JPN"))).scalars().all() == []
    in_regions = (await session.execute(programmes_in_regions_of_states(["IDN"]))).scalars().all()
    assert in_regions == [region.id]


# ------------------------------------------------------------------ refused files


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("iati_104_legacy.xml", "IATI 1.04 files are not supported; convert to 2.01–2.03"),
        ("iati_not_iati.xml", "not an IATI activity file: root element is <iati-organisations>"),
        ("iati_not_xml.csv", "not well-formed XML at line 1"),
    ],
)
async def test_files_that_are_not_iati_2_are_refused(session: AsyncSession, fixture: str, reason: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        await run(session, FIXTURES / fixture)
    assert refused.value.reason == reason
    assert refused.value.file == str(FIXTURES / fixture)
    assert await count(session, Programme) == 0


async def test_a_file_broken_midway_is_refused_and_nothing_stays(session: AsyncSession, tmp_path: Path) -> None:
    text = ALBANIA.read_text(encoding="utf-8")
    cut = text.index("<iati-identifier>GB-1-109636</iati-identifier>")
    broken = tmp_path / "broken.xml"
    broken.write_text(text[:cut] + "<unclosed>\n</iati-activity></iati-activities>\n", encoding="utf-8")
    line = text[:cut].count("\n") + 2

    with pytest.raises(ImportRefused) as refused:
        await run(session, ALBANIA, broken)

    assert refused.value.reason == f"not well-formed XML at line {line}"
    assert await count(session, Programme) == 0  # not even the good first file
    assert await count(session, AuditEvent) == 0


# ------------------------------------------------------------------ regions and categories


def test_every_dac_region_is_mapped() -> None:
    mapped = {code for vocabulary, code, _ in read_region_states() if vocabulary == "1"}
    assert mapped == {r.code for r in sources.read_iati_codes("Region")}
    states = {s.iso3 for s in sources.read_states()}
    rows = read_region_states()
    assert {iso3 for _, _, iso3 in rows} <= states
    far_east = {iso3 for _, code, iso3 in rows if code == "789"}
    assert {"KHM", "IDN", "CHN", "VNM"} <= far_east and not {"JPN", "KOR", "MMR"} & far_east


async def test_load_region_states_is_idempotent(session: AsyncSession) -> None:
    first = await load_region_states(session)
    second = await load_region_states(session)
    assert first == second == len(read_region_states()) == await count(session, RegionState)


@pytest.mark.parametrize(
    ("org_type", "ref", "category", "guessed"),
    [
        ("10", "GB-GOV-1", OrganizationCategory.DONOR_GOVERNMENT, False),
        ("15", None, OrganizationCategory.DONOR_GOVERNMENT, False),
        ("40", "XM-DAC-41313", OrganizationCategory.UN_AGENCY, False),
        ("40", "XM-DAC-46004", OrganizationCategory.REGIONAL_ORGANIZATION, False),
        ("22", None, OrganizationCategory.CIVIL_SOCIETY, False),
        ("60", None, OrganizationCategory.PRIVATE_DONOR, False),
        ("70", None, OrganizationCategory.PRIVATE_DONOR, False),
        ("80", None, OrganizationCategory.ACADEMIC, False),
        (None, "41128", OrganizationCategory.UN_AGENCY, True),
        (None, "22000", OrganizationCategory.CIVIL_SOCIETY, True),
        ("90", None, OrganizationCategory.CIVIL_SOCIETY, True),
    ],
)
def test_organization_category(org_type, ref, category, guessed) -> None:
    assert organization_category(org_type, ref) == (category, guessed)


async def test_an_identifier_read_twice_in_one_import(session: AsyncSession) -> None:
    report = await run(session, DIRTY, DIRTY)
    assert (report.read, report.created, report.unchanged, report.rejected) == (14, 5, 5, 4)
    again = [w for w in report.warnings if "read before in this import" in w.reason]
    assert len(again) == 5
    assert await count(session, Programme) == 5


async def test_an_import_is_logged_like_any_other_change(session: AsyncSession) -> None:
    """Programmes and organizations created by an import reach the event log at commit."""
    from service.models import Event

    await run(session, ALBANIA)
    await session.commit()
    kinds = [(e.kind, e.states) for e in (await session.execute(sa.select(Event).order_by(Event.sequence))).scalars()]
    assert kinds.count(("PROGRAMME_CREATED", ["ALB"])) == 8
    assert sum(1 for k, _ in kinds if k == "ORGANIZATION_CREATED") == 4
    before = await count(session, Event)
    await run(session, ALBANIA, dry_run=True)
    await session.commit()
    assert await count(session, Event) == before  # a dry run logs nothing
