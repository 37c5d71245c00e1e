"""The UPR Info importer against a real PostgreSQL, on small fixture files written for the
project (tests/imports/fixtures/upr_info_*.csv) in UPR Info's export layout: Mac Roman with
bare CR line endings, and UTF-8 with BOM and CRLF. One test reads the real sample in
../shared when it is there."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.principals import SYSTEM
from service.imports.report import ImportRefused, ImportReport
from service.imports.state_names import (
    StateNameResolver,
    normalise_name,
    read_aliases,
    reference_extra_names,
    resolver_from_records,
)
from service.imports.upr_info import decode, import_upr_info, read_issue_themes
from service.models import AuditEvent, Pledge, Recommendation, RecommendationRecommender, Review
from service.models.enums import RecommendationResponse
from service.reference.sources import read_states, read_themes

FIXTURES = Path(__file__).parent / "fixtures"
MAC_ROMAN = FIXTURES / "upr_info_mac_roman_cr.csv"
UTF8 = FIXTURES / "upr_info_utf8_bom_crlf.csv"
WRONG_COLUMNS = FIXTURES / "upr_info_wrong_columns.csv"
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "upr-info" / "upr_info_sessions_1-5.csv"


async def run(sessionmaker: async_sessionmaker[AsyncSession], *files: Path, dry_run: bool = False) -> ImportReport:
    """One import in its own committed transaction, as `tcgraph import upr-info` does."""
    async with sessionmaker() as session, session.begin():
        return await import_upr_info(session=session, principal=SYSTEM, files=list(files), dry_run=dry_run)


async def count(session: AsyncSession, model: type) -> int:
    return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()


async def by_text(session: AsyncSession, fragment: str) -> list[Recommendation]:
    stmt = sa.select(Recommendation).where(Recommendation.text.contains(fragment)).order_by(Recommendation.id)
    return list((await session.execute(stmt)).scalars())


def rewrite(source: Path, target: Path, change) -> Path:
    """A copy of a fixture (Mac Roman, CR) with `change(row)` applied to every data row."""
    records = list(csv.reader(io.StringIO(decode(source.read_bytes()))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r")
    writer.writerow(records[0])
    for record in records[1:]:
        writer.writerow(change(dict(zip(records[0], record))).values())
    target.write_bytes(out.getvalue().encode("mac_roman"))
    return target


# ------------------------------------------------------------------ the Mac Roman fixture


async def test_counts_rejections_and_warnings(sessionmaker, session: AsyncSession) -> None:
    report = await run(sessionmaker, MAC_ROMAN)

    assert (report.read, report.created, report.updated, report.unchanged, report.rejected) == (15, 12, 0, 0, 3)
    assert dict(report.created_by_type) == {"Recommendation": 11, "Pledge": 1, "Review": 11}
    rejections = {p.position: p.reason for p in report.rejections}
    assert set(rejections) == {"row 8", "row 11", "row 12"}
    assert "'Atlantis'" in rejections["row 8"] and "State under review" in rejections["row 8"]
    assert "empty Text" in rejections["row 11"]
    assert "'IV'" in rejections["row 12"] and "Session" in rejections["row 12"]
    assert all(p.file == str(MAC_ROMAN) for p in report.rejections)
    warnings = {p.position: p.reason for p in report.warnings}
    assert set(warnings) == {"row 7", "row 10", "row 13", "row 15"}
    assert "'European Union'" in warnings["row 7"] and "other_recommenders" in warnings["row 7"]
    assert "'(Unknown)'" in warnings["row 10"]
    assert "'Business and human rights'" in warnings["row 13"]
    assert "'Pending'" in warnings["row 15"]
    assert dict(report.unresolved_names) == {"Atlantis": 1, "European Union": 1, "(Unknown)": 1}

    assert await count(session, Recommendation) == 11
    assert await count(session, Pledge) == 1
    assert await count(session, Review) == 11


async def test_rows_are_read_and_resolved(sessionmaker, session: AsyncSession) -> None:
    await run(sessionmaker, MAC_ROMAN)

    (civ,) = await by_text(session, "independence of the judiciary")
    assert civ.state_iso3 == "CIV"  # "Côte d'Ivoire" in Mac Roman
    assert civ.response is RecommendationResponse.SUPPORTED and civ.action_category == 4
    assert civ.themes == ["DETENTION", "JUSTICE"] and civ.upr_info_issues == ["Justice", "Detention"]
    review = await session.get(Review, civ.review_id)
    assert (review.state_iso3, review.session, review.cycle, review.year) == ("CIV", 6, 1, 2009)

    (mkd,) = await by_text(session, "Optional Protocol to the Convention against Torture")
    assert mkd.state_iso3 == "MKD"  # "Macedonia FYR"

    (ghana,) = await by_text(session, "Right to Information")
    assert ghana.text == 'Adopt the "Right to Information" bill (RTI) without delay.'
    assert ghana.response is RecommendationResponse.NOTED

    (ecuador,) = await by_text(session, "regional human rights mechanisms")
    assert ecuador.other_recommenders == ["European Union"]
    (indonesia,) = await by_text(session, "share best practices")
    assert indonesia.other_recommenders == ["(Unknown)"]

    (brazil,) = await by_text(session, "forced labour")
    assert brazil.themes == ["LABOUR"] and brazil.upr_info_issues == ["Labour", "Business and human rights"]
    (iran,) = await by_text(session, "moratorium on executions")
    assert iran.state_iso3 == "IRN" and iran.response is RecommendationResponse.NOTED
    (tonga,) = await by_text(session, "core human rights treaties")
    assert tonga.response is None

    recommenders = dict(
        (
            await session.execute(
                sa.select(RecommendationRecommender.recommendation_id, RecommendationRecommender.state_iso3)
            )
        ).all()
    )
    assert recommenders[brazil.id] == "STP"  # "São Tomé and Príncipe"
    assert recommenders[iran.id] == "KOR"  # "Korea (Republic of)"
    assert ecuador.id not in recommenders and indonesia.id not in recommenders

    (pledge,) = (await session.execute(sa.select(Pledge))).scalars()
    assert (pledge.state_iso3, pledge.themes, pledge.action_category) == ("CHL", ["NHRI"], 4)
    assert (await session.get(Review, pledge.review_id)).session == 5


async def test_joint_recommendation_rows_stay_separate_and_related(sessionmaker, session: AsyncSession) -> None:
    await run(sessionmaker, MAC_ROMAN)

    norway, sweden = await by_text(session, "national preventive mechanism")
    assert norway.id != sweden.id
    assert norway.text == "Establish a national preventive mechanism against torture."
    assert sweden.text == "Establish a national preventive mechanism against torture"  # whitespace collapsed
    assert norway.identity_key != sweden.identity_key
    assert norway.related_key == sweden.related_key is not None
    assert norway.review_id == sweden.review_id
    links = (await session.execute(
        sa.select(RecommendationRecommender.state_iso3)
        .where(RecommendationRecommender.recommendation_id.in_([norway.id, sweden.id]))
        .order_by(RecommendationRecommender.state_iso3)
    )).scalars().all()  # fmt: skip
    assert links == ["NOR", "SWE"]


async def test_reimport_creates_nothing(sessionmaker, session: AsyncSession) -> None:
    await run(sessionmaker, MAC_ROMAN)
    before = (await count(session, Recommendation), await count(session, Pledge), await count(session, AuditEvent))

    again = await run(sessionmaker, MAC_ROMAN)

    assert (again.read, again.created, again.updated, again.unchanged, again.rejected) == (15, 0, 0, 12, 3)
    assert sum(again.created_by_type.values()) == 0
    assert (
        await count(session, Recommendation),
        await count(session, Pledge),
        await count(session, AuditEvent),
    ) == before


async def test_changed_response_action_and_issue_update_in_place(
    sessionmaker, session: AsyncSession, tmp_path: Path
) -> None:
    await run(sessionmaker, MAC_ROMAN)
    (original,) = await by_text(session, "independence of the judiciary")
    # A theme curated by hand stays; the one derived from the dropped issue goes.
    await session.execute(
        sa.update(Recommendation)
        .where(Recommendation.id == original.id)
        .values(themes=["DETENTION", "JUSTICE", "CORRUPTION"])
    )
    await session.commit()

    def change(row: dict[str, str]) -> dict[str, str]:
        if row["Text"].startswith("Strengthen the independence"):
            return row | {"Response": "Noted", "Action": "5", "Issue": "Justice,Women's rights"}
        if row["Response"] == "Voluntary Pledge":
            return row | {"Issue": "NHRI,Civil society"}
        return row

    report = await run(sessionmaker, rewrite(MAC_ROMAN, tmp_path / "changed.csv", change))

    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 2, 10, 3)
    session.expunge_all()
    (updated,) = await by_text(session, "independence of the judiciary")
    assert updated.id == original.id
    assert updated.response is RecommendationResponse.NOTED and updated.action_category == 5
    assert updated.upr_info_issues == ["Justice", "Women's rights"]
    assert updated.themes == ["CORRUPTION", "JUSTICE", "WOMENS_RIGHTS"]
    assert updated.updated_at > original.updated_at
    (pledge,) = (await session.execute(sa.select(Pledge))).scalars()
    assert pledge.themes == ["CIVIL_SOCIETY", "NHRI"]

    events = (await session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "update").order_by(AuditEvent.id)
    )).scalars().all()  # fmt: skip
    assert [(e.entity_type, e.entity_id) for e in events] == [
        ("Recommendation", str(original.id)),
        ("Pledge", str(pledge.id)),
    ]
    event = events[0]
    assert event.before["response"] == "SUPPORTED" and event.after["response"] == "NOTED"
    assert event.before["action_category"] == 4 and event.after["action_category"] == 5
    assert event.before["recommenders"] == ["FRA"]
    assert event.actor == SYSTEM.actor and "changed.csv" in event.reason


async def test_dry_run_writes_nothing(sessionmaker, session: AsyncSession) -> None:
    report = await run(sessionmaker, MAC_ROMAN, dry_run=True)

    assert report.dry_run and (report.read, report.created, report.rejected) == (15, 12, 3)
    for model in (Recommendation, Pledge, Review, RecommendationRecommender, AuditEvent):
        assert await count(session, model) == 0, model


async def test_audit_events_are_written(sessionmaker, session: AsyncSession) -> None:
    await run(sessionmaker, MAC_ROMAN)

    rows = (await session.execute(
        sa.select(AuditEvent.entity_type, AuditEvent.action, sa.func.count()).group_by(AuditEvent.entity_type, AuditEvent.action)
    )).all()  # fmt: skip
    assert {(t, a): n for t, a, n in rows} == {
        ("Recommendation", "create"): 11,
        ("Pledge", "create"): 1,
        ("Review", "create"): 11,
    }
    (norway,) = [r for r in await by_text(session, "national preventive mechanism") if r.text.endswith(".")]
    event = (await session.execute(
        sa.select(AuditEvent).where(AuditEvent.entity_type == "Recommendation", AuditEvent.entity_id == str(norway.id))
    )).scalar_one()  # fmt: skip
    assert event.before is None
    assert event.after["recommenders"] == ["NOR"] and event.after["identity_key"] == norway.identity_key
    assert event.after["state_iso3"] == "KEN" and event.after["response"] == "SUPPORTED"


async def test_duplicate_rows_within_an_import(sessionmaker, session: AsyncSession, tmp_path: Path) -> None:
    records = list(csv.reader(io.StringIO(decode(MAC_ROMAN.read_bytes()))))
    header, first = records[0], records[1]
    conflicting = first[:7] + ["Noted"] + first[8:]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r").writerows([header, first, list(first), conflicting])
    path = tmp_path / "duplicates.csv"
    path.write_bytes(out.getvalue().encode("mac_roman"))

    report = await run(sessionmaker, path)

    assert (report.read, report.created, report.unchanged, report.rejected) == (3, 1, 1, 1)
    assert report.rejections[0].position == "row 3" and "row 1" in report.rejections[0].reason
    assert await count(session, Recommendation) == 1


# ------------------------------------------------------------------ other files


async def test_utf8_with_bom_and_crlf(sessionmaker, session: AsyncSession) -> None:
    report = await run(sessionmaker, UTF8)

    assert (report.read, report.created, report.rejected, report.warnings) == (4, 4, 0, [])
    rows = {r.state_iso3: r for r in (await session.execute(sa.select(Recommendation))).scalars()}
    assert set(rows) == {"TUR", "VNM", "BOL", "VCT"}
    assert rows["TUR"].text == "Strengthen measures to protect journalists and human rights defenders."
    recommenders = dict(
        (
            await session.execute(
                sa.select(RecommendationRecommender.recommendation_id, RecommendationRecommender.state_iso3)
            )
        ).all()
    )
    assert {recommenders[r.id] for r in rows.values()} == {"VNM", "KOR", "CIV", "CPV"}
    vct = await session.get(Review, rows["VCT"].review_id)
    assert (vct.session, vct.cycle, vct.year) == (11, 1, 2011)


async def test_file_without_the_columns_is_refused(sessionmaker, session: AsyncSession) -> None:
    with pytest.raises(ImportRefused) as refused:
        await run(sessionmaker, MAC_ROMAN, WRONG_COLUMNS)
    assert refused.value.file == str(WRONG_COLUMNS)
    for column in ("To", "Text", "From", "Action", "Issue"):
        assert column in refused.value.reason
    assert await count(session, Recommendation) == 0  # the good file before it is not half-written


# ------------------------------------------------------------------ names and mapping data


def test_state_names_generalise_beyond_the_alias_table() -> None:
    states = read_states()
    resolver = resolver_from_records(states)
    expected = {
        "Macedonia FYR": "MKD", "Democratic Republic of Congo": "COD", "Cote d'Ivoire": "CIV",
        "Côte d’Ivoire": "CIV", "Korea, Republic of": "KOR", "Korea (Democratic People's Republic of)": "PRK",
        "DPR Korea": "PRK", "Iran, Islamic Republic of": "IRN", "Congo, Democratic Republic of the": "COD",
        "Bahamas, The": "BHS", "Gambia (the)": "GMB", "St. Vincent & the Grenadines": "VCT",
        "Vietnam": "VNM", "Guinea Bissau": "GNB", "Phillipines": "PHL", "Republic of Congo": "COG",
        "Congo": "COG", "République démocratique du Congo": "COD", "Allemagne": "DEU", "Германия": "DEU",
        "Türkiye": "TUR", "Turkey": "TUR", "Swaziland": "SWZ", "Sao Tome and Principe": "STP",
    }  # fmt: skip
    assert {name: resolver.resolve(name) for name in expected} == expected
    # Never guessed: ambiguous, not a State, or too far from any name.
    for name in ("Korea", "European Union", "(Unknown)", "&#40;Unknown&#41;", "Columbia", "Atlantis", "America", ""):
        assert resolver.resolve(name) is None, name

    # Without the alias table, the State names alone still resolve most UPR Info spellings.
    names = {s.iso3: [s.name_en, s.name_fr, s.name_es, s.name_ar, s.name_zh, s.name_ru] for s in states}
    for iso3, extra in reference_extra_names(names).items():
        names[iso3] += extra
    bare = StateNameResolver.build(names, aliases=[])
    for name, iso3 in {"Bolivia": "BOL", "Iran": "IRN", "Tanzania": "TZA", "Moldova": "MDA", "Venezuela": "VEN",
                       "Micronesia": "FSM", "Democratic Republic of Congo": "COD", "Cote d'Ivoire": "CIV",
                       "Czech Republic": "CZE", "Cape Verde": "CPV", "North Korea": "PRK"}.items():  # fmt: skip
        assert bare.resolve(name) == iso3, name


def test_normal_form() -> None:
    assert (
        normalise_name("Korea (Republic of)")
        == normalise_name("Republic of Korea")
        == normalise_name("Korea, Republic of")
    )
    assert normalise_name("The Bahamas") == normalise_name("Bahamas (the)") == "bahamas"
    assert normalise_name("Trinidad & Tobago") == normalise_name("Trinidad and Tobago")
    assert normalise_name("Côte d'Ivoire") == normalise_name("COTE D’IVOIRE")


def test_alias_and_issue_mapping_data_are_consistent() -> None:
    iso3s = {s.iso3 for s in read_states()}
    aliases = read_aliases()
    assert all(iso3 in iso3s for _, iso3 in aliases if iso3), [a for a in aliases if a[1] and a[1] not in iso3s]
    targets: dict[str, set[str]] = {}
    for alias, iso3 in aliases:
        targets.setdefault(normalise_name(alias), set()).add(iso3)
    assert {key: codes for key, codes in targets.items() if len(codes) > 1} == {}  # no alias means two things
    mapping = read_issue_themes()
    themes = read_themes()
    assert set(mapping.values()) <= {t.code for t in themes}
    # Every UPR Info issue themes.csv knows maps to the same theme here (the mapping may extend).
    assert {t.upr_info_issue.casefold(): t.code for t in themes}.items() <= mapping.items()


# ------------------------------------------------------------------ the real sample


@pytest.mark.skipif(not SAMPLE.is_file(), reason="../shared/data/upr-info is not there")
async def test_real_upr_info_sample(sessionmaker, session: AsyncSession) -> None:
    report = await run(sessionmaker, SAMPLE)

    assert report.read == 6094 and report.rejected == 0
    assert report.created == 6094 and report.created_by_type["Review"] == 80
    assert set(report.unresolved_names) == {"(Unknown)"}  # every State under review resolved
    under_review = set((await session.execute(sa.select(Recommendation.state_iso3).distinct())).scalars())
    assert len(under_review) == 80 and {"MKD", "COG"} <= under_review  # "Macedonia FYR", "Republic of Congo"
    recommending = set((await session.execute(sa.select(RecommendationRecommender.state_iso3).distinct())).scalars())
    # "Democratic Republic of Congo", "Cote d'Ivoire", "DPR Korea", "Palestine", "Holy See"
    assert {"COD", "CIV", "PRK", "PSE", "VAT"} <= recommending
    joint = (await session.execute(
        sa.select(sa.func.count()).select_from(
            sa.select(Recommendation.related_key).group_by(Recommendation.related_key).having(sa.func.count() > 1).subquery()
        )
    )).scalar_one()  # fmt: skip
    assert joint > 200  # joint recommendations, one row per recommending State, related

    again = await run(sessionmaker, SAMPLE)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6094)
