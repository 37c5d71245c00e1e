"""Facts the reference data must keep: counts and codes other parts of tcgraph rely on."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from service.reference.sources import (
    DATA_DIR,
    REGIONAL_GROUPS,
    RIGHTS_DIMENSIONS,
    read_currency_rates,
    read_dac_sector_categories,
    read_dac_sectors,
    read_iati_codes,
    read_sdg_goals,
    read_sdg_targets,
    read_states,
    read_themes,
)

# The real UPR Info export lives outside the project (may not be copied in); used when present.
UPR_INFO_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared/data/upr-info/upr_info_sessions_1-5.csv"


def test_states_are_193_members_and_2_observers() -> None:
    states = read_states()
    assert len(states) == 195
    assert len({s.iso3 for s in states}) == 195
    members = [s for s in states if s.un_membership == "MEMBER"]
    observers = sorted(s.iso3 for s in states if s.un_membership == "OBSERVER")
    assert len(members) == 193
    assert observers == ["PSE", "VAT"]
    assert all(s.regional_group in REGIONAL_GROUPS for s in members)
    assert all(s.regional_group is None for s in states if s.un_membership == "OBSERVER")


def test_regional_group_counts() -> None:
    counts = Counter(s.regional_group for s in read_states() if s.regional_group)
    # Usual published sizes: Asia-Pacific 53 and WEOG 28. Kiribati (member of no group until it
    # joined Asia-Pacific) makes Asia-Pacific 54 here, and the United States (formally an observer
    # of WEOG, counted there for elections) makes WEOG 29: 54 + 54 + 23 + 33 + 29 = 193.
    assert counts == {
        "AFRICAN": 54,
        "ASIA_PACIFIC": 54,
        "EASTERN_EUROPEAN": 23,
        "LATIN_AMERICAN_CARIBBEAN": 33,
        "WESTERN_EUROPEAN_OTHERS": 29,
    }
    by_iso = {s.iso3: s for s in read_states()}
    assert by_iso["TUR"].regional_group == "WESTERN_EUROPEAN_OTHERS"
    assert by_iso["ISR"].regional_group == "WESTERN_EUROPEAN_OTHERS"
    assert by_iso["USA"].regional_group == "WESTERN_EUROPEAN_OTHERS"
    assert by_iso["KIR"].regional_group == "ASIA_PACIFIC"
    assert by_iso["CYP"].regional_group == "ASIA_PACIFIC"


def test_state_names_and_codes() -> None:
    by_iso = {s.iso3: s for s in read_states()}
    ken = by_iso["KEN"]
    assert (ken.iso2, ken.m49, ken.name_en, ken.name_ru) == ("KE", "404", "Kenya", "Кения")
    assert all([ken.name_fr, ken.name_es, ken.name_ar, ken.name_zh])
    assert ken.region_name == "Africa" and ken.intermediate_region_name == "Eastern Africa"
    for s in by_iso.values():
        names = [s.name_en, s.name_fr, s.name_es, s.name_ar, s.name_zh, s.name_ru]
        assert all(names) and not any(n.endswith("*") for n in names), s.iso3
        assert len(s.m49) == 3 and s.m49.isdigit(), s.iso3
    # M49 is zero-padded (the CSV writes "8"); UNTERM's trailing article and "*" are dropped.
    assert by_iso["ALB"].m49 == "008"
    assert by_iso["AFG"].region_code == "142"
    assert by_iso["USA"].name_en == "United States of America"
    assert by_iso["VAT"].name_en == "Holy See"
    assert by_iso["BOL"].name_en == "Bolivia (Plurinational State of)"
    # No UNTERM names in the CSV for these two; the fallbacks give the UN spelling.
    assert by_iso["CIV"].name_en == "Côte d'Ivoire"
    assert by_iso["TUR"].name_en == "Türkiye"


def test_development_status_flags() -> None:
    by_iso = {s.iso3: s for s in read_states()}
    assert by_iso["AFG"].is_ldc and by_iso["AFG"].is_lldc and not by_iso["AFG"].is_sids
    assert by_iso["FJI"].is_sids and not by_iso["FJI"].is_ldc
    assert not (by_iso["KEN"].is_ldc or by_iso["KEN"].is_lldc or by_iso["KEN"].is_sids)


def test_dac_sectors() -> None:
    sectors = {s.code: s for s in read_dac_sectors()}
    categories = {c.code: c for c in read_dac_sector_categories()}
    assert sectors["15130"].name == "Legal and judicial development"
    assert sectors["15160"].name == "Human rights"
    assert sectors["15130"].category_code == sectors["15160"].category_code == "151"
    assert not sectors["15160"].withdrawn
    assert sectors["15162"].withdrawn
    assert "151" in categories and not categories["151"].withdrawn
    assert all(len(c) == 5 and c.isdigit() for c in sectors)
    assert all(len(c) == 3 and c.isdigit() for c in categories)
    for s in sectors.values():
        assert s.category_code == s.code[:3] and s.category_code in categories, s.code


def test_sdgs() -> None:
    goals = read_sdg_goals()
    targets = read_sdg_targets()
    assert [g.code for g in goals] == [str(n) for n in range(1, 18)]
    assert goals[15].name.startswith("Promote peaceful and inclusive societies")
    assert len(targets) == 169
    by_code = {t.code: t for t in targets}
    assert by_code["16.3"].goal_code == "16"
    assert "rule of law" in by_code["16.3"].description
    assert {t.goal_code for t in targets} == {g.code for g in goals}


@pytest.mark.parametrize(
    ("codelist", "code", "name"),
    [
        ("OrganisationType", "10", "Government"),
        ("OrganisationRole", "4", "Implementing"),
        ("ActivityStatus", "2", "Implementation"),
        ("Currency", "EUR", "Euro"),
    ],
)
def test_iati_codes(codelist: str, code: str, name: str) -> None:
    codes = {c.code: c for c in read_iati_codes(codelist)}
    assert codes[code].name == name
    assert not codes[code].withdrawn


def test_iati_codes_rejects_unknown_codelist() -> None:
    with pytest.raises(ValueError):
        read_iati_codes("../../etc/passwd")


def test_themes() -> None:
    themes = read_themes()
    assert len(themes) == 54
    assert len({t.code for t in themes}) == 54
    assert len({t.upr_info_issue for t in themes}) == 54
    for t in themes:
        assert t.rights_dimensions and set(t.rights_dimensions) <= set(RIGHTS_DIMENSIONS), t.code
    by_code = {t.code: t for t in themes}
    assert by_code["JUSTICE"].rights_dimensions == ["CIVIL", "POLITICAL"]
    assert by_code["RIGHT_TO_EDUCATION"].rights_dimensions == ["ECONOMIC", "SOCIAL", "CULTURAL"]
    assert by_code["GENERAL"].rights_dimensions == list(RIGHTS_DIMENSIONS)
    assert by_code["TORTURE"].upr_info_issue == "Torture and other CID treatment"


@pytest.mark.skipif(not UPR_INFO_SAMPLE.exists(), reason="shared UPR Info sample not present")
def test_every_upr_info_issue_maps_to_a_theme() -> None:
    # The export is Mac Roman with bare CR line endings; read it as it is.
    text = UPR_INFO_SAMPLE.read_bytes().decode("mac_roman")
    rows = list(csv.DictReader(io.StringIO(text, newline=None)))
    assert len(rows) == 6094
    issues = {i.strip() for row in rows for i in row["Issue"].split(",") if i.strip()}
    assert issues == {t.upr_info_issue for t in read_themes()}


def test_currency_rates() -> None:
    rates = {r.currency: r for r in read_currency_rates()}
    assert len(rates) >= 25
    assert rates["USD"].usd_per_unit == Decimal(1)
    assert all(r.usd_per_unit > 0 and r.as_of == date(2026, 11, 1) for r in rates.values())
    iati_currencies = {c.code for c in read_iati_codes("Currency") if not c.withdrawn}
    assert set(rates) <= iati_currencies


def test_un_group_file_matches_country_codes() -> None:
    with (DATA_DIR / "country-codes.csv").open(encoding="utf-8") as f:
        known = {row["ISO3166-1-Alpha-3"] for row in csv.DictReader(f)}
    with (DATA_DIR / "un_regional_groups.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 193
    assert {r["iso3"] for r in rows} <= known
