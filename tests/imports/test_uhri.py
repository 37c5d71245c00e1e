"""The UHRI importer against a real PostgreSQL, on a fixture written for the project in the
layout of the UHRI JSON export (tests/imports/fixtures/uhri_export.json), next to UPR Info
rows it must match rather than duplicate."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import cli
from service.access.principals import SYSTEM
from service.imports.report import ImportRefused, ImportReport
from service.imports.run import run_import
from service.imports.uhri import classify_body, import_uhri, match_text, read_uhri_themes
from service.imports.upr_info import import_upr_info
from service.models import AuditEvent, Recommendation, RecommendationRecommender, Review
from service.models.enums import RecommendationResponse, RecommendationSource
from service.reference.sources import read_themes
from service.settings import get_settings

FIXTURE = Path(__file__).parent / "fixtures" / "uhri_export.json"
UPR_MATCH = uuid.UUID("3f1c2a4e-8b7d-4c1e-9a2f-0d6b5e4c3a21")
UPR_NEW = uuid.UUID("9b2d7e10-5c4a-4f6b-8e3d-1a2b3c4d5e6f")
CRC = uuid.UUID("a9ceae8c-fe1c-40f9-a326-1529e0ab678f")
SR = uuid.UUID("c4e5f6a7-b8c9-4d0e-a1f2-a3b4c5d6e7f8")
CEDAW = uuid.UUID("d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6")

# UPR Info rows of Kenya's 35th session: one joint recommendation (two rows, one per
# recommending State; the UHRI record quotes it with curly quotes, another case and spacing)
# and one that UHRI does not hold.
UPR_INFO_CSV = (
    "To,To-Rgrp,To-Org,Text,From,From-Rgrp,From-Org,Response,Action,Issue,Session\n"
    'Kenya,African,AU,"Establish a ""national preventive mechanism"" against torture.",Denmark,WEOG,EU,Accepted,4,'
    '"Torture and other CID treatment",35\n'
    'Kenya,African,AU,"Establish a ""national preventive mechanism"" against torture.",Norway,WEOG,,Accepted,4,'
    '"Torture and other CID treatment",35\n'
    "Kenya,African,AU,Adopt a law on access to information.,Sweden,WEOG,EU,Accepted,4,Freedom of opinion and expression,35\n"
)


async def run(sessionmaker: async_sessionmaker[AsyncSession], *files: Path, dry_run: bool = False) -> ImportReport:
    """One import in its own committed transaction (rejections kept out, valid rows written)."""
    async with sessionmaker() as session, session.begin():
        return await import_uhri(session=session, principal=SYSTEM, files=list(files), dry_run=dry_run)


async def upr_info(sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    path = tmp_path / "upr_info.csv"
    path.write_text(UPR_INFO_CSV, encoding="utf-8")
    async with sessionmaker() as session, session.begin():
        report = await import_upr_info(session=session, principal=SYSTEM, files=[path])
    assert (report.created, report.rejected) == (3, 0), report.rejections


async def by_uhri(session: AsyncSession, annotation: uuid.UUID) -> Recommendation:
    stmt = sa.select(Recommendation).where(Recommendation.uhri_annotation_id == annotation)
    return (await session.execute(stmt)).scalar_one()


async def count(session: AsyncSession, model: type) -> int:
    return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()


async def recommenders(session: AsyncSession, rid: int) -> list[str]:
    stmt = sa.select(RecommendationRecommender.state_iso3).where(RecommendationRecommender.recommendation_id == rid)
    return sorted((await session.execute(stmt)).scalars())


# ------------------------------------------------------------------ the fixture


async def test_counts_skips_and_rejections(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    await upr_info(sessionmaker, tmp_path)
    report = await run(sessionmaker, FIXTURE)

    assert (report.read, report.created, report.updated, report.unchanged, report.rejected, report.skipped) == (
        10,
        4,
        1,
        0,
        3,
        2,
    )
    assert dict(report.created_by_type) == {"Recommendation": 4}  # Kenya's session-35 review exists already
    rejections = {p.position: p.reason for p in report.rejections}
    assert set(rejections) == {
        "record 8",
        "record 9 (0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e)",
        "record 10 (1c2d3e4f-5a6b-4c7d-9e8f-9a0b1c2d3e4f)",
    }
    assert rejections["record 8"] == "no AnnotationId"
    assert "'Atlantis'" in rejections["record 9 (0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e)"]
    assert "PublicationDate '2021-13-45'" in rejections["record 10 (1c2d3e4f-5a6b-4c7d-9e8f-9a0b1c2d3e4f)"]
    assert all(p.file == str(FIXTURE) for p in report.rejections + report.skips)
    skips = {p.position: p.reason for p in report.skips}
    assert "'Concerns/Observations' is not a recommendation" in skips["record 6 (e7f8a9b0-c1d2-4e3f-9a4b-5c6d7e8f9a0b)"]
    assert "no country" in skips["record 7 (f0a1b2c3-d4e5-4f6a-8b7c-9d0e1f2a3b4c)"]
    assert dict(report.unresolved_names) == {"Atlantis": 1}
    warnings = " | ".join(p.reason for p in report.warnings)
    assert "'16 - Peace, justice and strong institutions' names no SDG target" in warnings
    assert "rejected 3, skipped 2" in report.summary()

    assert await count(session, Recommendation) == 3 + 4  # 3 UPR Info rows, 4 from UHRI
    assert await count(session, Review) == 1


async def test_upr_record_is_recorded_on_the_matching_upr_info_row(
    sessionmaker, session: AsyncSession, tmp_path: Path
) -> None:
    await upr_info(sessionmaker, tmp_path)
    await run(sessionmaker, FIXTURE)

    matched = await by_uhri(session, UPR_MATCH)
    assert matched.identity_key is not None  # the UPR Info row, not a new one
    assert matched.text == 'Establish a "national preventive mechanism" against torture.'  # UPR Info's text stays
    assert (matched.source, matched.body, matched.symbol) == (RecommendationSource.UPR, None, "A/HRC/44/9")
    assert matched.publication_date == date(2020, 3, 20)
    assert matched.themes == ["DETENTION", "TORTURE"]  # UPR Info's issue and UHRI's themes
    assert matched.uhri_themes == [
        "Prohibition of torture & cruel, inhuman or degrading treatment",
        "Conditions of detention",
    ]
    assert matched.sdg_targets == ["16.3"] and matched.affected_persons == ["Persons deprived of their liberty"]
    assert await recommenders(session, matched.id) == ["DNK"]  # UPR Info's rows keep their own recommender
    # The joint recommendation's other row (Norway) shares related_key and stays without a UHRI id.
    stmt = sa.select(Recommendation).where(
        Recommendation.related_key == matched.related_key, Recommendation.id != matched.id
    )
    norway = (await session.execute(stmt)).scalar_one()
    assert norway.uhri_annotation_id is None and await recommenders(session, norway.id) == ["NOR"]
    stmt = (
        sa.select(sa.func.count())
        .select_from(Recommendation)
        .where(Recommendation.text.ilike("%preventive mechanism%"))
    )
    assert (await session.execute(stmt)).scalar_one() == 2  # never duplicated


async def test_upr_info_imported_after_uhri_takes_over_its_recommendation(
    sessionmaker, session: AsyncSession, tmp_path: Path
) -> None:
    await run(sessionmaker, FIXTURE)
    uhri_row = await by_uhri(session, UPR_MATCH)
    assert uhri_row.identity_key is None and await recommenders(session, uhri_row.id) == ["DNK", "NOR"]
    session.expunge_all()

    path = tmp_path / "upr_info.csv"
    path.write_text(UPR_INFO_CSV, encoding="utf-8")
    async with sessionmaker() as s, s.begin():
        report = await import_upr_info(session=s, principal=SYSTEM, files=[path])
    # Denmark's row becomes the UHRI recommendation; Norway's and Sweden's are new.
    assert (report.created, report.updated, report.rejected) == (2, 1, 0)
    adopted = await by_uhri(session, UPR_MATCH)
    assert adopted.id == uhri_row.id and adopted.identity_key is not None
    assert adopted.text == 'Establish a "national preventive mechanism" against torture.'
    assert adopted.themes == ["DETENTION", "TORTURE"] and adopted.action_category == 4
    assert await recommenders(session, adopted.id) == ["DNK"]
    stmt = (
        sa.select(sa.func.count())
        .select_from(Recommendation)
        .where(Recommendation.text.ilike("%preventive mechanism%"))
    )
    assert (await session.execute(stmt)).scalar_one() == 2

    again = await run(sessionmaker, FIXTURE)  # and UHRI again: nothing moves
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    async with sessionmaker() as s, s.begin():
        report = await import_upr_info(session=s, principal=SYSTEM, files=[path])
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)


async def test_upr_record_without_a_match_becomes_a_recommendation(
    sessionmaker, session: AsyncSession, tmp_path: Path
) -> None:
    await upr_info(sessionmaker, tmp_path)
    await run(sessionmaker, FIXTURE)

    rec = await by_uhri(session, UPR_NEW)
    assert rec.identity_key is None and rec.state_iso3 == "KEN"
    assert rec.text == "Ratify the Optional Protocol to the Convention on the Rights of Persons with Disabilities"
    assert rec.source_reference == "A/HRC/44/9, para. 142.60"
    assert rec.response is RecommendationResponse.NOTED
    assert await recommenders(session, rec.id) == ["ESP"]
    review = await session.get(Review, rec.review_id)
    assert (review.state_iso3, review.session, review.cycle) == ("KEN", 35, 3)
    assert rec.themes == ["DISABILITIES", "INTERNATIONAL_INSTRUMENTS"] and rec.sdg_targets == ["10.2"]


async def test_treaty_body_and_special_procedure_recommendations(sessionmaker, session: AsyncSession) -> None:
    await run(sessionmaker, FIXTURE)

    crc = await by_uhri(session, CRC)
    assert (crc.source, crc.body, crc.symbol, crc.state_iso3) == (
        RecommendationSource.TREATY_BODY,
        "CRC",
        "CRC/C/PER/CO/6-7",
        "PER",
    )
    assert crc.review_id is None and crc.response is None
    assert crc.text.startswith(
        "The Committee recommends that the State party ensure free and universal birth registration"
    )
    assert crc.source_reference == "CRC/C/PER/CO/6-7, para. 18"
    assert crc.publication_date == date(2025, 2, 12) and crc.sdg_targets == ["16.9"]
    assert crc.affected_persons == ["Children", "Indigenous peoples"] and crc.themes == ["RIGHTS_OF_THE_CHILD"]

    cedaw = await by_uhri(session, CEDAW)
    assert (cedaw.source, cedaw.body) == (RecommendationSource.TREATY_BODY, "CEDAW")  # long name folded
    assert cedaw.themes == ["NHRI", "WOMENS_RIGHTS"] and cedaw.sdg_targets == ["16.a", "5.1"]

    sr = await by_uhri(session, SR)
    assert (sr.source, sr.body, sr.state_iso3) == (RecommendationSource.SPECIAL_PROCEDURE, "SR Torture", "KEN")
    assert sr.publication_date == date(2023, 2, 27) and sr.sdg_targets == []
    assert sr.source_reference == "A/HRC/52/3/Add.1"


async def test_reimport_changes_nothing(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    await upr_info(sessionmaker, tmp_path)
    await run(sessionmaker, FIXTURE)
    before = (await session.execute(sa.select(Recommendation).order_by(Recommendation.id))).scalars().all()
    snapshot = [(r.id, r.updated_at, r.themes, r.sdg_targets, r.uhri_annotation_id) for r in before]
    audits = await count(session, AuditEvent)
    session.expunge_all()

    report = await run(sessionmaker, FIXTURE)
    assert (report.created, report.updated, report.unchanged, report.rejected, report.skipped) == (0, 0, 5, 3, 2)
    after = (await session.execute(sa.select(Recommendation).order_by(Recommendation.id))).scalars().all()
    assert [(r.id, r.updated_at, r.themes, r.sdg_targets, r.uhri_annotation_id) for r in after] == snapshot
    assert await count(session, AuditEvent) == audits


async def test_changed_record_updates_in_place(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    await run(sessionmaker, FIXTURE)
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))
    records[2]["Themes"] = ["Right to education"]  # the CRC record
    records[1]["UprPositions"] = ["Supported"]
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(records), encoding="utf-8")

    report = await run(sessionmaker, changed)
    assert (report.created, report.updated) == (0, 2)
    session.expunge_all()
    crc = await by_uhri(session, CRC)
    assert crc.themes == ["RIGHT_TO_EDUCATION"] and crc.uhri_themes == ["Right to education"]
    assert (await by_uhri(session, UPR_NEW)).response is RecommendationResponse.SUPPORTED
    stmt = sa.select(AuditEvent).where(AuditEvent.entity_id == str(crc.id), AuditEvent.action == "update")
    (event,) = (await session.execute(stmt)).scalars()
    assert event.before["themes"] == ["RIGHTS_OF_THE_CHILD"] and event.after["themes"] == ["RIGHT_TO_EDUCATION"]


async def test_dry_run_writes_nothing(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    await upr_info(sessionmaker, tmp_path)
    audits = await count(session, AuditEvent)
    report = await run(sessionmaker, FIXTURE, dry_run=True)
    assert report.dry_run and (report.created, report.updated) == (4, 1)
    assert await count(session, Recommendation) == 3
    assert (
        await session.execute(
            sa.select(sa.func.count()).select_from(Recommendation).where(Recommendation.uhri_annotation_id.is_not(None))
        )
    ).scalar_one() == 0
    assert await count(session, AuditEvent) == audits


async def test_unknown_extra_fields_still_import(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for i, record in enumerate(records):
        record["NewFieldFrom2027"] = {"nested": [1, 2.5, None, {"deep": True}], "i": i}
        record["AnotherOne"] = ["x", "y"]
        record["AnnotationLanguage"] = "en"
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(records), encoding="utf-8")

    report = await run(sessionmaker, extra)
    assert (report.read, report.created, report.rejected, report.skipped) == (10, 5, 3, 2)
    assert (await by_uhri(session, CRC)).body == "CRC"


async def test_the_same_annotation_twice(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps([records[2], records[2], dict(records[2], Text="A different text.")]), encoding="utf-8")
    report = await run(sessionmaker, twice)
    assert (report.created, report.unchanged, report.rejected) == (1, 1, 1)
    assert any(w.position.startswith("record 2 ") and "counted once" in w.reason for w in report.warnings)
    assert "different content" in report.rejections[0].reason and report.rejections[0].position.startswith("record 3 ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b'{"AnnotationId": "x"}', "not a JSON array"),
        (
            b'[{"AnnotationId": "a9ceae8c-fe1c-40f9-a326-1529e0ab678f", "Text": "x", "Countries": ["Peru"], "Body": "- CRC"}, {"Annot',
            "not valid JSON",
        ),
    ],
)
async def test_a_file_that_is_not_an_export_is_refused_and_nothing_is_written(
    sessionmaker, session: AsyncSession, tmp_path: Path, content: bytes, reason: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(ImportRefused) as refused:
        await run(sessionmaker, FIXTURE, bad)  # the good file first: its rows are rolled back too
    assert reason in refused.value.reason and refused.value.file == str(bad)
    assert await count(session, Recommendation) == 0


async def test_run_import_commits_nothing_with_rejections(sessionmaker, session: AsyncSession) -> None:
    report, committed = await run_import(sessionmaker=sessionmaker, principal=SYSTEM, source="uhri", files=[FIXTURE])
    assert report.rejected == 3 and not committed
    assert await count(session, Recommendation) == 0
    report, committed = await run_import(
        sessionmaker=sessionmaker, principal=SYSTEM, source="uhri", files=[FIXTURE], allow_rejects=True
    )
    assert committed and await count(session, Recommendation) == 5


async def test_cli_end_to_end(
    sessionmaker, session: AsyncSession, database_url: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    await upr_info(sessionmaker, tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert await asyncio.to_thread(cli.main, ["import", "uhri", str(FIXTURE)]) == 1
        err = capsys.readouterr().err
        assert f"rejected: {FIXTURE}: record 8: no AnnotationId" in err
        assert f"skipped: {FIXTURE}: record 7 (f0a1b2c3-d4e5-4f6a-8b7c-9d0e1f2a3b4c): no country" in err
        assert "nothing was written: 3 rejected" in err
        assert await count(session, Recommendation) == 3

        assert await asyncio.to_thread(cli.main, ["import", "uhri", "--dry-run", "--allow-rejects", str(FIXTURE)]) == 0
        assert "dry run — nothing written: read 10, created 4, updated 1" in capsys.readouterr().err
        assert await count(session, Recommendation) == 3

        assert await asyncio.to_thread(cli.main, ["import", "uhri", "--allow-rejects", str(FIXTURE)]) == 0
        assert "read 10, created 4, updated 1, unchanged 0, rejected 3, skipped 2" in capsys.readouterr().err
        assert await count(session, Recommendation) == 7
        assert await asyncio.to_thread(cli.main, ["import", "uhri", "--allow-rejects", str(FIXTURE)]) == 0
        assert "created 0, updated 0, unchanged 5, rejected 3, skipped 2" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
    assert await count(session, Recommendation) == 7


# ------------------------------------------------------------------ rules without a database


def test_match_text_rule() -> None:
    assert match_text("Adopt the “Right to Information” bill  ") == match_text('adopt the "right to information" BILL.')
    assert match_text("Ratify the Convention – now;") == match_text("ratify the convention - now")
    assert match_text("Ratify the OP-CAT") != match_text("Ratify the OP-CRC")


def test_bodies() -> None:
    assert classify_body("- UPR") == (RecommendationSource.UPR, None)
    assert classify_body("- CEDAW") == (RecommendationSource.TREATY_BODY, "CEDAW")
    assert classify_body("- Committee on the Rights of the Child") == (RecommendationSource.TREATY_BODY, "CRC")
    assert classify_body("- IE Albinism; - Special Procedures") == (
        RecommendationSource.SPECIAL_PROCEDURE,
        "IE Albinism",
    )
    assert classify_body(["- WG Arbitrary Detention"]) == (
        RecommendationSource.SPECIAL_PROCEDURE,
        "WG Arbitrary Detention",
    )
    assert classify_body("- Special Procedures") == (RecommendationSource.SPECIAL_PROCEDURE, "Special Procedures")
    assert classify_body("- Security Council") is None and classify_body(None) is None


def test_theme_mapping_names_known_themes() -> None:
    codes = {t.code for t in read_themes()}
    mapping = read_uhri_themes()
    assert mapping and set(mapping.values()) <= codes
