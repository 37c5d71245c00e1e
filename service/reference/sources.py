"""Parsers that turn the files in ``service/reference/data`` into plain records.

Pure functions, no database: loaders and tests use the same records, and the files are read
exactly as published (see ``data/ATTRIBUTION.md``), so an update is a file copy, not an edit.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

REGIONAL_GROUPS: tuple[str, ...] = (
    "AFRICAN",
    "ASIA_PACIFIC",
    "EASTERN_EUROPEAN",
    "LATIN_AMERICAN_CARIBBEAN",
    "WESTERN_EUROPEAN_OTHERS",
)
RIGHTS_DIMENSIONS: tuple[str, ...] = ("CIVIL", "POLITICAL", "ECONOMIC", "SOCIAL", "CULTURAL")
THEME_CLUSTERS: tuple[str, ...] = (
    "ADMINISTRATION_OF_JUSTICE",
    "LIFE_LIBERTY_AND_SECURITY",
    "CIVIL_AND_POLITICAL_FREEDOMS",
    "ECONOMIC_SOCIAL_CULTURAL",
    "EQUALITY_AND_NON_DISCRIMINATION",
    "GROUPS_AT_RISK",
    "INTERNATIONAL_FRAMEWORK",
    "NATIONAL_FRAMEWORK",
    "CROSS_CUTTING",
)
# Codelists copied into data/ that read_iati_codes() accepts (file name without ".xml").
IATI_CODELISTS: frozenset[str] = frozenset(
    {
        "ActivityStatus",
        "Currency",
        "OrganisationRole",
        "OrganisationType",
        "Region",
        "Sector",
        "SectorCategory",
        "UNSDG-Goals",
        "UNSDG-Targets",
    }
)

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class StateRecord:
    """A UN Member or observer State. M49 codes are zero-padded to 3 digits (the CSV drops the
    leading zeros, e.g. Albania "8" -> "008", Africa "2" -> "002")."""

    iso3: str
    iso2: str
    m49: str
    name_en: str
    name_fr: str
    name_es: str
    name_ar: str
    name_zh: str
    name_ru: str
    region_code: str
    region_name: str
    sub_region_code: str
    sub_region_name: str
    intermediate_region_code: str | None
    intermediate_region_name: str | None
    un_membership: str  # "MEMBER" | "OBSERVER"
    regional_group: str | None  # one of REGIONAL_GROUPS; None for observers
    is_ldc: bool
    is_lldc: bool
    is_sids: bool


@dataclass(frozen=True, slots=True)
class SectorCategoryRecord:
    """A DAC 3-digit sector category (e.g. 151 Government and civil society, general)."""

    code: str
    name: str
    description: str | None
    withdrawn: bool


@dataclass(frozen=True, slots=True)
class SectorRecord:
    """A DAC 5-digit purpose code (e.g. 15160 Human rights) and its 3-digit category."""

    code: str
    name: str
    description: str | None
    category_code: str
    withdrawn: bool


@dataclass(frozen=True, slots=True)
class SdgGoalRecord:
    """An SDG goal; ``name`` is the goal text without its "Goal N. " prefix."""

    code: str
    name: str
    description: str | None


@dataclass(frozen=True, slots=True)
class SdgTargetRecord:
    """An SDG target (e.g. "16.3"); the codelist holds the target text as its name."""

    code: str
    goal_code: str
    description: str


@dataclass(frozen=True, slots=True)
class IatiCodeRecord:
    """One item of a simple IATI codelist (OrganisationType, Currency, Region, ...)."""

    code: str
    name: str
    description: str | None
    withdrawn: bool


@dataclass(frozen=True, slots=True)
class ThemeRecord:
    """A human rights theme, keyed to one UPR Info issue so recommendations can be mapped."""

    code: str
    name: str
    upr_info_issue: str
    rights_dimensions: list[str]
    cluster: str


@dataclass(frozen=True, slots=True)
class CurrencyRateRecord:
    """Approximate USD value of one unit of a currency, for rough budget comparisons only."""

    currency: str
    usd_per_unit: Decimal
    as_of: date


# ---------------------------------------------------------------- helpers


def _read_csv(name: str) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV in data/, values stripped (the country CSV pads with NBSP)."""
    with (DATA_DIR / name).open(encoding="utf-8-sig", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _english(element: ET.Element | None) -> str | None:
    """Text of the English narrative: the one with no xml:lang (codelist default is en) or "en"."""
    if element is None:
        return None
    for narrative in element.findall("narrative"):
        if narrative.get(_XML_LANG) in (None, "en"):
            # Collapse runs of whitespace, incl. the NBSPs some items carry (e.g. SDG 16).
            text = " ".join((narrative.text or "").split())
            return text or None
    return None


def _codelist_items(codelist: str) -> list[ET.Element]:
    """The <codelist-item> elements of an IATI codelist file in data/."""
    root = ET.parse(DATA_DIR / f"{codelist}.xml").getroot()
    return root.findall("codelist-items/codelist-item")


def _item_fields(item: ET.Element) -> tuple[str, str, str | None, bool]:
    """(code, English name, English description, withdrawn) of one codelist item."""
    code = (item.findtext("code") or "").strip()
    name = _english(item.find("name"))
    if not code or not name:
        raise ValueError(f"codelist item without code or English name: {code!r}")
    return code, name, _english(item.find("description")), item.get("status") == "withdrawn"


def _m49(code: str) -> str | None:
    return code.zfill(3) if code else None


# UNTERM short names mark non-members with " *" and put the article last: "Bahamas (the)",
# "Saint-Siège (le) *". Both are dropped for display; "(Plurinational State of)" etc. stay.
# Curly apostrophes (CLDR/official columns: "Côte d’Ivoire") become straight, as in UNTERM.
_UNTERM_MARK = re.compile(r"\s*\*$")
_UNTERM_ARTICLE = re.compile(r"\s*\((?:the|le|la|les|l'|l’|el|los|las)\)$")


def _clean_unterm(name: str) -> str:
    name = _UNTERM_ARTICLE.sub("", _UNTERM_MARK.sub("", name)).strip()
    return name.replace("\u2019", "'")


def _first(row: dict[str, str], *columns: str) -> str:
    for column in columns:
        if row.get(column):
            return _clean_unterm(row[column])
    return ""


# ---------------------------------------------------------------- readers


def read_states() -> list[StateRecord]:
    """The 193 UN Member States and 2 observer States, from country-codes.csv plus the
    project's regional-group and observer lists (the CSV also holds territories; skipped)."""
    groups = {r["iso3"]: r["group"] for r in _read_csv("un_regional_groups.csv")}
    observers = {r["iso3"] for r in _read_csv("un_observer_states.csv")}
    for iso3, group in groups.items():
        if group not in REGIONAL_GROUPS:
            raise ValueError(f"unknown regional group {group!r} for {iso3}")

    states: list[StateRecord] = []
    for row in _read_csv("country-codes.csv"):
        iso3 = row["ISO3166-1-Alpha-3"]
        if iso3 not in groups and iso3 not in observers:
            continue
        # English: CLDR before official_name_en, which says "Ivory Coast" for CIV
        # (the UN name is Côte d'Ivoire).
        names = {
            "en": _first(row, "UNTERM English Short", "CLDR display name", "official_name_en"),
            "fr": _first(row, "UNTERM French Short", "official_name_fr"),
            "es": _first(row, "UNTERM Spanish Short", "official_name_es"),
            "ar": _first(row, "UNTERM Arabic Short", "official_name_ar"),
            "zh": _first(row, "UNTERM Chinese Short", "official_name_cn"),
            "ru": _first(row, "UNTERM Russian Short", "official_name_ru"),
        }
        missing = [lang for lang, name in names.items() if not name]
        if missing:
            raise ValueError(f"{iso3}: no name in {missing}")
        states.append(
            StateRecord(
                iso3=iso3,
                iso2=row["ISO3166-1-Alpha-2"],
                m49=row["M49"].zfill(3),
                name_en=names["en"],
                name_fr=names["fr"],
                name_es=names["es"],
                name_ar=names["ar"],
                name_zh=names["zh"],
                name_ru=names["ru"],
                region_code=row["Region Code"].zfill(3),
                region_name=row["Region Name"],
                sub_region_code=row["Sub-region Code"].zfill(3),
                sub_region_name=row["Sub-region Name"],
                intermediate_region_code=_m49(row["Intermediate Region Code"]),
                intermediate_region_name=row["Intermediate Region Name"] or None,
                un_membership="MEMBER" if iso3 in groups else "OBSERVER",
                regional_group=groups.get(iso3),
                is_ldc=row["Least Developed Countries (LDC)"].lower() == "x",
                is_lldc=row["Land Locked Developing Countries (LLDC)"].lower() == "x",
                is_sids=row["Small Island Developing States (SIDS)"].lower() == "x",
            )
        )
    found = {s.iso3 for s in states}
    absent = (set(groups) | observers) - found
    if absent:
        raise ValueError(f"not in country-codes.csv: {sorted(absent)}")
    return states


def read_dac_sector_categories() -> list[SectorCategoryRecord]:
    """DAC 3-digit categories (SectorCategory.xml), withdrawn ones included and flagged."""
    return [
        SectorCategoryRecord(code=c, name=n, description=d, withdrawn=w)
        for c, n, d, w in map(_item_fields, _codelist_items("SectorCategory"))
    ]


def read_dac_sectors() -> list[SectorRecord]:
    """DAC 5-digit purpose codes (Sector.xml), withdrawn ones included so old data still maps."""
    records: list[SectorRecord] = []
    for item in _codelist_items("Sector"):
        code, name, description, withdrawn = _item_fields(item)
        category = (item.findtext("category") or "").strip()
        records.append(SectorRecord(code, name, description, category, withdrawn))
    return records


_GOAL_PREFIX = re.compile(r"^Goal\s+\d+\.\s*")


def read_sdg_goals() -> list[SdgGoalRecord]:
    """The 17 SDGs (UNSDG-Goals.xml); the codelist has no per-goal description (None)."""
    return [
        SdgGoalRecord(code=c, name=_GOAL_PREFIX.sub("", n), description=d)
        for c, n, d, _ in map(_item_fields, _codelist_items("UNSDG-Goals"))
    ]


def read_sdg_targets() -> list[SdgTargetRecord]:
    """The 169 SDG targets (UNSDG-Targets.xml); the goal is the part of the code before the dot."""
    return [
        SdgTargetRecord(code=c, goal_code=c.split(".", 1)[0], description=n)
        for c, n, _, _ in map(_item_fields, _codelist_items("UNSDG-Targets"))
    ]


def read_iati_codes(codelist: str) -> list[IatiCodeRecord]:
    """Items of one copied IATI codelist, e.g. "OrganisationType", "OrganisationRole",
    "ActivityStatus", "Currency", "Region" (only names in IATI_CODELISTS: no path injection)."""
    if codelist not in IATI_CODELISTS:
        known = sorted(IATI_CODELISTS)
        raise ValueError(f"unknown IATI codelist {codelist!r}; expected one of {known}")
    return [
        IatiCodeRecord(code=c, name=n, description=d, withdrawn=w)
        for c, n, d, w in map(_item_fields, _codelist_items(codelist))
    ]


def read_themes() -> list[ThemeRecord]:
    """The project's themes (themes.csv), one per UPR Info issue; dimensions are validated."""
    themes: list[ThemeRecord] = []
    for row in _read_csv("themes.csv"):
        dimensions = [d for d in row["rights_dimensions"].split(";") if d]
        bad = [d for d in dimensions if d not in RIGHTS_DIMENSIONS]
        if bad or not dimensions or row["cluster"] not in THEME_CLUSTERS:
            raise ValueError(f"theme {row['code']}: bad dimensions {bad} or cluster {row['cluster']!r}")
        themes.append(
            ThemeRecord(
                code=row["code"],
                name=row["name"],
                upr_info_issue=row["upr_info_issue"],
                rights_dimensions=dimensions,
                cluster=row["cluster"],
            )
        )
    return themes


def read_currency_rates() -> list[CurrencyRateRecord]:
    """Approximate USD rates (currency_rates.csv) as exact Decimals, never floats."""
    return [
        CurrencyRateRecord(
            currency=row["currency"],
            usd_per_unit=Decimal(row["usd_per_unit"]),
            as_of=date.fromisoformat(row["as_of"]),
        )
        for row in _read_csv("currency_rates.csv")
    ]
