"""Import IATI activity files (standard 2.01–2.03) as programmes.

One Programme per <iati-activity>, upserted by its iati-identifier. Real publishers' files are
dirty, so the importer is lenient wherever the activity stays usable: an empty attribute, an
unknown country, percentages that do not add up, a missing default currency or a reference to an
activity we do not hold are WARNINGS and the activity is imported. Only an activity without an
identifier or without a title in any language (or with no organization at all to report it) is
REJECTED. A whole file is REFUSED (ImportRefused) when it is not XML, not an IATI activity file,
or in the legacy 1.x format, whose different element names would be silently misread.

Files are read with ElementTree.iterparse and every activity is cleared once read, so memory
stays flat whatever the file size; programmes are written in batches with set-based statements
(and one bulk insert of audit events per batch), in the caller's transaction. The whole import
runs in a SAVEPOINT: a refused file undoes everything this call wrote, and a dry run reports
what would happen and then rolls it back.

Re-importing is idempotent: each activity's content (as read) is hashed, and an activity whose
hash is the stored one is counted unchanged and not written at all. A changed activity is
updated in place (same id, so matches and links survive) with an audit "update" event.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.audit import _jsonable
from service.events import outbox
from service.events import record as event_log
from service.imports.regions import load_region_states, read_region_states
from service.imports.report import ImportRefused, ImportReport
from service.models import (
    AuditEvent,
    CurrencyRate,
    DacSector,
    DacSectorCategory,
    Organization,
    Programme,
    ProgrammeParticipant,
    ProgrammeRecipientState,
    SdgGoal,
    SdgTarget,
    State,
)
from service.models.enums import OrganizationCategory, ParticipantRole
from service.models.programmes import ProgrammeBudget, ProgrammeRecipientRegion, ProgrammeTransaction
from service.programmes import MAX_AMOUNT  # money columns are numeric(16, 2)

ProgressCallback = Callable[[int, int | None], None]  # (activities read, about how many in all)

BATCH_SIZE = 500  # activities written per round of statements
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
UNDETERMINED_LANGUAGE = "und"  # BCP 47, for narratives with no language anywhere
CENT = Decimal("0.01")
PERCENT_TOLERANCE = Decimal("0.1")  # rounding in published percentages (33.33 × 3)

ROLE_WORDS = {"funding": "1", "accountable": "2", "extending": "3", "implementing": "4"}
ROLE_PREFERENCE = ("2", "1", "3", "4")  # who stands for a missing reporting-org
CLOSED_STATUSES = {"3", "4", "5", "6"}  # finalisation, closed, cancelled, suspended
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"
COMMITMENT, DISBURSEMENT, EXPENDITURE = "2", "3", "4"
ORIGINAL_BUDGET, REVISED_BUDGET = "1", "2"
RELATED_TYPES = {"1": "parent", "2": "child", "3": "sibling", "4": "co-funded", "5": "third party"}
GOVERNMENT_TYPES = {"10", "11", "15"}
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
SDG_GOAL = re.compile(r"^\d{1,2}$")
SDG_TARGET = re.compile(r"^\d{1,2}\.[0-9a-z]{1,2}$")


# ------------------------------------------------------------------ what an activity says


@dataclass(frozen=True, slots=True)
class OrgRef:
    """An organization as an activity names it: by IATI identifier, else by exact name."""

    ref: str | None
    name: str | None
    type: str | None

    @property
    def key(self) -> tuple[str, str]:
        return ("ref", self.ref) if self.ref else ("name", self.name or "")


@dataclass(slots=True)
class Activity:
    """One <iati-activity>, read; hashed whole to detect an unchanged re-import."""

    identifier: str
    default_language: str | None
    titles: dict[str, str]
    descriptions: dict[str, str]
    reporting_org: OrgRef
    participants: list[tuple[OrgRef, str]]
    activity_status: str | None
    start_date: date | None
    end_date: date | None
    currency: str | None
    budget_amount: Decimal | None
    committed_amount: Decimal | None
    disbursed_amount: Decimal | None
    recipient_states: list[tuple[str, Decimal | None]]
    recipient_regions: list[tuple[str, str, Decimal | None]]  # vocabulary, code, percentage
    sectors: list[str]
    sector_categories: list[str]
    sdg_goals: list[str]
    sdg_targets: list[str]
    policy_markers: list[dict[str, str | None]]
    related_activities: list[dict[str, str | None]]
    budgets: list[dict[str, Any]]
    transactions: list[dict[str, Any]]

    def title(self) -> str:
        return _in_language(self.titles, self.default_language)

    def description(self) -> str:
        return _in_language(self.descriptions, self.default_language) if self.descriptions else ""

    def content_hash(self) -> str:
        values = [getattr(self, f.name) for f in fields(self)]
        text = json.dumps(values, sort_keys=True, default=_plain, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def organizations(self) -> list[OrgRef]:
        return [self.reporting_org, *(org for org, _ in self.participants)]


def _plain(value: Any) -> Any:
    """JSON for what json does not know (far cheaper than dataclasses.asdict)."""
    if isinstance(value, OrgRef):
        return [value.ref, value.name, value.type]
    return str(value)  # Decimal, date


def _in_language(texts: dict[str, str], *languages: str | None) -> str:
    """The text in the first of these languages given, else English, else the first one."""
    for lang in (*languages, "en"):
        if lang and texts.get(lang):
            return texts[lang]
    return next(iter(texts.values()))


@dataclass(frozen=True, slots=True)
class Reference:
    """What the file reads against: codes of the reference data in the database."""

    iso2_to_iso3: dict[str, str]
    usd_per_unit: dict[str, Decimal]
    dac_sectors: frozenset[str]
    dac_categories: frozenset[str]
    sdg_goals: frozenset[str]
    sdg_targets: frozenset[str]
    dac_regions: frozenset[str]


class Rejected(Exception):
    """The activity is unusable; the message is the reason."""


class ActivityReader:
    """Reads one <iati-activity> element into an Activity, collecting warnings (each once)."""

    def __init__(self, elem: ET.Element, reference: Reference, file_language: str | None):
        self.elem = elem
        self.reference = reference
        self.warnings: list[str] = []
        self.language = self._lang(elem) or file_language
        self.identifier = " ".join((elem.findtext("iati-identifier") or "").split())

    # -- helpers ------------------------------------------------------------------------

    def warn(self, reason: str) -> None:
        if reason not in self.warnings:
            self.warnings.append(reason)

    def attr(self, elem: ET.Element, name: str) -> str | None:
        """An attribute's value, stripped; an empty one is a warning and counts as absent."""
        value = elem.get(name)
        if value is None:
            return None
        value = value.strip()
        if not value:
            shown = "xml:lang" if name == XML_LANG else name
            self.warn(f'empty {shown}="" on <{elem.tag}>')
            return None
        return value

    def _lang(self, elem: ET.Element) -> str | None:
        value = self.attr(elem, XML_LANG)
        return value.lower() if value else None

    def narratives(self, elem: ET.Element | None, *, collapse: bool = True) -> dict[str, str]:
        """{language: text} of an element's narratives (the first text per language wins);
        bare text, as some 2.0x publishers still write it, counts as the default language."""
        if elem is None:
            return {}
        texts: dict[str, str] = {}
        for narrative in elem.findall("narrative"):
            text = _clean(narrative.text, collapse)
            if text:
                texts.setdefault(self._lang(narrative) or self.language or UNDETERMINED_LANGUAGE, text)
        if not texts:
            text = _clean(elem.text, collapse)
            if text:
                texts[self.language or UNDETERMINED_LANGUAGE] = text
        return texts

    def date(self, elem: ET.Element | None, name: str = "iso-date") -> date | None:
        if elem is None:
            return None
        value = self.attr(elem, name)
        if value is None:
            return None
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            self.warn(f"unreadable date {value!r} on <{elem.tag}>; left empty")
            return None

    def percentage(self, elem: ET.Element) -> Decimal | None:
        value = self.attr(elem, "percentage")
        if value is None:
            return None
        number = _decimal(value)
        if number is None or not Decimal(0) <= number <= Decimal(100):
            self.warn(f"percentage {value!r} on <{elem.tag}> is not between 0 and 100; left empty")
            return None
        return number.quantize(CENT)

    def money(self, value_elem: ET.Element | None, what: str) -> tuple[Decimal, str | None, date | None] | None:
        """(amount, currency, value-date) of a <value>, or None (with a warning) if unusable."""
        if value_elem is None:
            self.warn(f"<{what}> without a <value>; ignored")
            return None
        text = (value_elem.text or "").strip()
        amount = _decimal(text.replace(",", "").replace(" ", ""))
        if amount is None:
            self.warn(f"unreadable value {text!r} in <{what}>; ignored")
            return None
        if abs(amount) >= MAX_AMOUNT:
            self.warn(f"value {text} in <{what}> is too large to store; ignored")
            return None
        return amount.quantize(CENT), self.currency_code(value_elem, "currency"), self.date(value_elem, "value-date")

    def currency_code(self, elem: ET.Element, name: str) -> str | None:
        value = self.attr(elem, name)
        if value is None:
            return None
        if not CURRENCY_CODE.match(value.upper()):
            self.warn(f"{name} {value!r} on <{elem.tag}> is not an ISO 4217 code; ignored")
            return None
        return value.upper()

    # -- the activity -----------------------------------------------------------------------

    def read(self) -> Activity:
        elem = self.elem
        if not self.identifier:
            raise Rejected("no iati-identifier")
        titles = self.narratives(elem.find("title"))
        if not titles:
            raise Rejected("no title in any language")
        participants = self._participants()
        reporting = self._reporting_org(participants)
        default_currency = self.currency_code(elem, "default-currency")
        budgets = self._budgets(default_currency)
        transactions = self._transactions(default_currency)
        currency = default_currency or next(
            (row["currency"] for row in [*budgets, *transactions] if row["currency"]), None
        )
        if default_currency is None and (budgets or transactions):
            self.warn(
                "no default-currency; "
                + (
                    f"amounts taken as {currency} (the first currency given on a value)"
                    if currency
                    else "the amounts have no currency"
                )
            )
        start, end = self._dates()
        states, regions = self._recipients()
        sectors, categories, goals, targets = self._sectors()
        budget_total, committed, disbursed = self._totals(currency, default_currency, budgets, transactions)
        status_elem = elem.find("activity-status")
        status = self.attr(status_elem, "code") if status_elem is not None else None
        if status is not None and len(status) > 4:
            self.warn(f"activity-status {status!r} is not an ActivityStatus code; left empty")
            status = None
        language = self.language if self.language and len(self.language) <= 16 else None
        return Activity(
            identifier=self.identifier,
            default_language=language,
            titles=titles,
            descriptions=self._descriptions(),
            reporting_org=reporting,
            participants=participants,
            activity_status=status,
            start_date=start,
            end_date=end,
            currency=currency,
            budget_amount=budget_total,
            committed_amount=committed,
            disbursed_amount=disbursed,
            recipient_states=states,
            recipient_regions=regions,
            sectors=sectors,
            sector_categories=categories,
            sdg_goals=goals,
            sdg_targets=targets,
            policy_markers=self._policy_markers(),
            related_activities=self._related(),
            budgets=budgets,
            transactions=transactions,
        )

    def _descriptions(self) -> dict[str, str]:
        """Per language, the general description first, then objectives, target groups …"""
        parts: list[tuple[int, int, str, str]] = []
        for position, description in enumerate(self.elem.findall("description")):
            kind = self.attr(description, "type") or "1"
            order = int(kind) if kind.isdigit() else 99
            for lang, text in self.narratives(description, collapse=False).items():
                parts.append((order, position, lang, text))
        texts: dict[str, list[str]] = {}
        for _, _, lang, text in sorted(parts):
            texts.setdefault(lang, []).append(text)
        return {lang: "\n\n".join(chunks) for lang, chunks in texts.items()}

    def _org(self, elem: ET.Element) -> OrgRef | None:
        ref = self.attr(elem, "ref")
        names = self.narratives(elem)
        name = _in_language(names, "en", self.language) if names else None  # one name: English first
        org_type = self.attr(elem, "type")
        if org_type is not None and len(org_type) > 4:
            self.warn(f"organisation type {org_type!r} on <{elem.tag}> is not an OrganisationType code; ignored")
            org_type = None
        if ref is None and name is None:
            return None
        return OrgRef(ref=ref, name=name or ref, type=org_type)

    def _participants(self) -> list[tuple[OrgRef, str]]:
        result: list[tuple[OrgRef, str]] = []
        for elem in self.elem.findall("participating-org"):
            org = self._org(elem)
            if org is None:
                self.warn("<participating-org> with neither ref nor name; ignored")
                continue
            role_value = self.attr(elem, "role")
            role = ROLE_WORDS.get(role_value.lower(), role_value) if role_value else None
            if role not in ROLE_PREFERENCE:
                self.warn(f"<participating-org> {org.ref or org.name!r} has no OrganisationRole code (1-4); ignored")
                continue
            if (org, role) not in result:
                result.append((org, role))
        return result

    def _reporting_org(self, participants: list[tuple[OrgRef, str]]) -> OrgRef:
        elem = self.elem.find("reporting-org")
        org = self._org(elem) if elem is not None else None
        if org is not None:
            return org
        for role in ROLE_PREFERENCE:
            for candidate, candidate_role in participants:
                if candidate_role == role:
                    self.warn(
                        f"no usable reporting-org; {candidate.ref or candidate.name!r} "
                        f"(participating-org role {role}) stands for it"
                    )
                    return candidate
        raise Rejected("no reporting-org, and no participating-org to stand for it")

    def _dates(self) -> tuple[date | None, date | None]:
        found: dict[str, date] = {}
        for elem in self.elem.findall("activity-date"):
            kind = self.attr(elem, "type")
            value = self.date(elem)
            if kind and value and kind not in found:
                found[kind] = value
        start = found.get(ACTUAL_START) or found.get(PLANNED_START)
        end = found.get(ACTUAL_END) or found.get(PLANNED_END)
        if start and end and end < start:
            self.warn(f"end date {end} is before start date {start}; end date left empty")
            end = None
        return start, end

    def _recipients(self) -> tuple[list[tuple[str, Decimal | None]], list[tuple[str, str, Decimal | None]]]:
        countries = self.elem.findall("recipient-country")
        regions = self.elem.findall("recipient-region")
        on_transactions = not countries and not regions
        if on_transactions:  # IATI allows them on transactions instead of the activity
            countries = self.elem.findall("transaction/recipient-country")
            regions = self.elem.findall("transaction/recipient-region")
        states: dict[str, Decimal | None] = {}
        percentages: list[Decimal | None] = []
        for elem in countries:
            code = self.attr(elem, "code")
            percentage = None if on_transactions else self.percentage(elem)
            percentages.append(percentage)
            if code is None:
                self.warn("<recipient-country> without a code; ignored")
                continue
            iso3 = self.reference.iso2_to_iso3.get(code.upper())
            if iso3 is None:
                self.warn(f"recipient-country {code!r} is not a UN Member or observer State; ignored")
            elif iso3 in states:
                if not on_transactions:
                    self.warn(f"recipient-country {code} is listed twice; the first one kept")
            else:
                states[iso3] = percentage
        region_rows: dict[tuple[str, str], Decimal | None] = {}
        for elem in regions:
            code = self.attr(elem, "code")
            vocabulary = self.attr(elem, "vocabulary") or "1"
            percentage = None if on_transactions else self.percentage(elem)
            percentages.append(percentage)
            if code is None:
                self.warn("<recipient-region> without a code; ignored")
                continue
            if vocabulary == "2" and code.isdigit():
                code = code.zfill(3)  # UN M49, as State stores it
            if len(code) > 16 or len(vocabulary) > 8:
                self.warn(f"recipient-region {code!r} (vocabulary {vocabulary!r}) is not a region code; ignored")
                continue
            if vocabulary == "1" and code not in self.reference.dac_regions:
                self.warn(f"recipient-region {code} is not in the OECD DAC Region codelist; kept, covers no State")
            region_rows.setdefault((vocabulary, code), percentage)
        given = [p for p in percentages if p is not None]
        if given:
            total = sum(given, Decimal(0))
            if len(given) < len(percentages):
                self.warn("some recipient countries/regions have a percentage and others none")
            elif abs(total - 100) > PERCENT_TOLERANCE:
                self.warn(f"recipient percentages add up to {total.normalize():f}, not 100")
        return (
            list(states.items()),
            [(vocabulary, code, p) for (vocabulary, code), p in region_rows.items()],
        )

    def _sectors(self) -> tuple[list[str], list[str], list[str], list[str]]:
        elems = self.elem.findall("sector") or self.elem.findall("transaction/sector")
        sectors: list[str] = []
        categories: list[str] = []
        goals: list[str] = []
        targets: list[str] = []
        ref = self.reference
        for elem in elems:
            vocabulary = self.attr(elem, "vocabulary") or "1"
            code = self.attr(elem, "code")
            if code is None:
                self.warn("<sector> without a code; ignored")
                continue
            if vocabulary == "1":
                if not (len(code) == 5 and code.isdigit()):
                    self.warn(f"sector {code!r} is not a DAC 5-digit code; ignored")
                    continue
                if ref.dac_sectors and code not in ref.dac_sectors:
                    self.warn(f"sector {code} is not in the DAC purpose codes; kept")
                _add(sectors, code)
                _add(categories, code[:3])
            elif vocabulary == "2":
                if not (len(code) == 3 and code.isdigit()):
                    self.warn(f"sector category {code!r} is not a DAC 3-digit code; ignored")
                    continue
                if ref.dac_categories and code not in ref.dac_categories:
                    self.warn(f"sector category {code} is not in the DAC categories; kept")
                _add(categories, code)
            elif vocabulary == "7":
                self._sdg(code, goals, targets, goal=True)
            elif vocabulary == "8":
                self._sdg(code, goals, targets, goal=False)
        for elem in self.elem.findall("tag"):
            vocabulary = self.attr(elem, "vocabulary")
            code = self.attr(elem, "code")
            if code and vocabulary in ("2", "3"):
                self._sdg(code, goals, targets, goal=vocabulary == "2")
        for target in targets:
            _add(goals, target.split(".", 1)[0])
        return sectors, categories, goals, targets

    def _sdg(self, code: str, goals: list[str], targets: list[str], *, goal: bool) -> None:
        code = code.lower().removeprefix("sdg").strip(" .")  # tolerate "SDG 16"
        pattern, known, into = (
            (SDG_GOAL, self.reference.sdg_goals, goals) if goal else (SDG_TARGET, self.reference.sdg_targets, targets)
        )
        if goal and code.isdigit():
            code = str(int(code))
        if not pattern.match(code) or (known and code not in known):
            self.warn(f"SDG {'goal' if goal else 'target'} {code!r} is not in the UN SDG codelist; ignored")
            return
        _add(into, code)

    def _policy_markers(self) -> list[dict[str, str | None]]:
        return [
            {
                "vocabulary": self.attr(elem, "vocabulary") or "1",
                "code": code,
                "significance": self.attr(elem, "significance"),
            }
            for elem in self.elem.findall("policy-marker")
            if (code := self.attr(elem, "code")) is not None
        ]

    def _related(self) -> list[dict[str, str | None]]:
        result: list[dict[str, str | None]] = []
        for elem in self.elem.findall("related-activity"):
            ref = self.attr(elem, "ref")
            if ref is None:
                self.warn("<related-activity> without a ref; ignored")
                continue
            entry = {"ref": ref, "type": self.attr(elem, "type")}
            if entry not in result:
                result.append(entry)
        return result

    def _budgets(self, default_currency: str | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for elem in self.elem.findall("budget"):
            money = self.money(elem.find("value"), "budget")
            if money is None:
                continue
            amount, currency, value_date = money
            rows.append(
                {
                    "type": _code(self.attr(elem, "type")),
                    "status": _code(self.attr(elem, "status")),
                    "period_start": self.date(elem.find("period-start")),
                    "period_end": self.date(elem.find("period-end")),
                    "amount": amount,
                    "currency": currency or default_currency,
                    "value_date": value_date,
                }
            )
        return rows

    def _transactions(self, default_currency: str | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for elem in self.elem.findall("transaction"):
            type_elem = elem.find("transaction-type")
            kind = _code(self.attr(type_elem, "code")) if type_elem is not None else None
            if kind is None:
                self.warn("<transaction> without a transaction-type code; ignored")
                continue
            money = self.money(elem.find("value"), "transaction")
            if money is None:
                continue
            amount, currency, value_date = money
            descriptions = self.narratives(elem.find("description"))
            rows.append(
                {
                    "type": kind,
                    "value": amount,
                    "currency": currency or default_currency,
                    "value_date": value_date,
                    "transaction_date": self.date(elem.find("transaction-date")),
                    "description": _in_language(descriptions, self.language) if descriptions else None,
                }
            )
        return rows

    def _totals(
        self,
        currency: str | None,
        default_currency: str | None,
        budgets: list[dict[str, Any]],
        transactions: list[dict[str, Any]],
    ) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """Budget (a revised budget replaces the original one of the same period), committed
        (commitments) and disbursed (disbursements and expenditure) amounts in the programme's
        currency; values in other currencies are converted at the approximate reference rate."""
        rates = self.reference.usd_per_unit

        def converted(amount: Decimal, value_currency: str | None) -> Decimal | None:
            if value_currency is None or currency is None or value_currency == currency:
                return amount
            if value_currency in rates and currency in rates:
                self.warn(f"values in {value_currency} converted to {currency} at the approximate reference rate")
                return amount * rates[value_currency] / rates[currency]
            self.warn(f"values in {value_currency} left out of the totals (no reference rate to {currency})")
            return None

        periods: dict[tuple[date | None, date | None], dict[str, Any]] = {}
        for row in budgets:
            key = (row["period_start"], row["period_end"])
            kept = periods.get(key)
            if kept is None or (row["type"] == REVISED_BUDGET and kept["type"] != REVISED_BUDGET):
                periods[key] = row
            elif row["type"] == kept["type"]:
                periods[key] = {**kept, "amount": kept["amount"] + row["amount"]}
        budget = self._sum((converted(r["amount"], r["currency"]) for r in periods.values()), "budgets", bool(budgets))
        committed = self._sum(
            (converted(r["value"], r["currency"]) for r in transactions if r["type"] == COMMITMENT),
            "commitments",
            any(r["type"] == COMMITMENT for r in transactions),
        )
        disbursed = self._sum(
            (converted(r["value"], r["currency"]) for r in transactions if r["type"] in (DISBURSEMENT, EXPENDITURE)),
            "disbursements and expenditure",
            any(r["type"] in (DISBURSEMENT, EXPENDITURE) for r in transactions),
        )
        return budget, committed, disbursed

    def _sum(self, amounts: Iterable[Decimal | None], what: str, present: bool) -> Decimal | None:
        if not present:
            return None
        total = sum((a for a in amounts if a is not None), Decimal(0)).quantize(CENT)
        if total < 0:
            self.warn(f"{what} add up to a negative amount ({total}); total left empty")
            return None
        if total >= MAX_AMOUNT:
            self.warn(f"{what} add up to more than can be stored; total left empty")
            return None
        return total


def _clean(text: str | None, collapse: bool) -> str:
    if not text:
        return ""
    return " ".join(text.split()) if collapse else text.strip()


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _code(value: str | None) -> str | None:
    return value if value is not None and len(value) <= 4 else None


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


# ------------------------------------------------------------------ organizations


def organization_category(org_type: str | None, ref: str | None) -> tuple[OrganizationCategory, bool]:
    """The category for an IATI OrganisationType code (and ref); second value True when it
    had to be guessed (no or an unmapped type), from the CRS channel code the ref often is."""
    if org_type in GOVERNMENT_TYPES:
        return OrganizationCategory.DONOR_GOVERNMENT, False
    if org_type == "40":
        un = bool(ref and ref.startswith("XM-DAC-41"))
        return (OrganizationCategory.UN_AGENCY if un else OrganizationCategory.REGIONAL_ORGANIZATION), False
    if org_type in {"21", "22", "23", "24"}:
        return OrganizationCategory.CIVIL_SOCIETY, False
    if org_type in {"60", "70", "71", "72", "73"}:
        return OrganizationCategory.PRIVATE_DONOR, False
    if org_type == "80":
        return OrganizationCategory.ACADEMIC, False
    channel = ref.removeprefix("XM-DAC-") if ref else ""
    if channel.isdigit() and len(channel) == 5:
        if channel.startswith("41"):
            return OrganizationCategory.UN_AGENCY, True
        guess = {
            "1": OrganizationCategory.DONOR_GOVERNMENT,
            "2": OrganizationCategory.CIVIL_SOCIETY,
            "4": OrganizationCategory.REGIONAL_ORGANIZATION,
            "5": OrganizationCategory.ACADEMIC,
            "6": OrganizationCategory.PRIVATE_DONOR,
        }.get(channel[0])
        if guess is not None:
            return guess, True
    return OrganizationCategory.CIVIL_SOCIETY, True


# ------------------------------------------------------------------ the import


def _any(column: Any, values: Sequence[Any], item_type: Any = None) -> Any:
    """column = ANY(array): one bind parameter however many values (asyncpg caps at 32767)."""
    return column == sa.any_(sa.literal(list(values), ARRAY(item_type if item_type is not None else sa.Text())))


def count_activities(path: Path) -> int:
    """A quick count of <iati-activity> start tags, for the progress bar only."""
    pattern = b"<iati-activity"  # not a prefix of <iati-activities
    count, carry = 0, b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            data = carry + chunk
            count += data.count(pattern)
            carry = data[-(len(pattern) - 1) :]
    return count


@dataclass
class _Item:
    file: str
    position: str
    activity: Activity
    content_hash: str


@dataclass
class _Importer:
    session: AsyncSession
    principal: Principal
    report: ImportReport
    reference: Reference | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    batch: list[_Item] = field(default_factory=list)
    org_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    # (file, position, identifier, ref, type) of every related-activity, resolved at the end
    relations: list[tuple[str, str, str, str, str | None]] = field(default_factory=list)
    written: list[int] = field(default_factory=list)  # programme ids created or updated

    # -- set-up -----------------------------------------------------------------------

    async def prepare(self) -> None:
        session = self.session
        await load_region_states(session)
        iso = dict((await session.execute(sa.select(State.iso2, State.iso3))).all())
        rates = dict((await session.execute(sa.select(CurrencyRate.currency, CurrencyRate.usd_per_unit))).all())

        async def codes(column: Any) -> frozenset[str]:
            return frozenset((await session.execute(sa.select(column))).scalars())

        self.reference = Reference(
            iso2_to_iso3=iso,
            usd_per_unit=rates,
            dac_sectors=await codes(DacSector.code),
            dac_categories=await codes(DacSectorCategory.code),
            sdg_goals=await codes(SdgGoal.code),
            sdg_targets=await codes(SdgTarget.code),
            dac_regions=frozenset(code for vocabulary, code, _ in read_region_states() if vocabulary == "1"),
        )

    # -- reading ----------------------------------------------------------------------

    async def import_file(self, path: Path, progress: ProgressCallback | None, done: int, total: int) -> int:
        """Read one file, writing as it goes; returns the activities read so far (all files)."""
        name = str(path)
        root: ET.Element | None = None
        file_language: str | None = None
        index = 0
        try:
            with path.open("rb") as f:
                for event, elem in ET.iterparse(f, events=("start", "end")):
                    if root is None:
                        root = elem
                        file_language = self._check_root(name, elem)
                        continue
                    if event != "end" or elem.tag != "iati-activity":
                        continue
                    index += 1
                    await self._take(name, index, elem, file_language)
                    elem.clear()
                    root.clear()  # drop the activities read so far: memory stays flat
                    if len(self.batch) >= BATCH_SIZE:
                        await self._write_batch()
                        if progress:
                            progress(done + index, max(total, done + index))
        except ET.ParseError as error:
            line = error.position[0] if getattr(error, "position", None) else "?"
            raise ImportRefused(name, f"not well-formed XML at line {line}") from None
        except OSError as error:
            raise ImportRefused(name, f"cannot read the file: {error.strerror or error}") from None
        if root is None:
            raise ImportRefused(name, "not well-formed XML at line 1")
        await self._write_batch()
        if progress:
            progress(done + index, max(total, done + index))
        return done + index

    def _check_root(self, name: str, root: ET.Element) -> str | None:
        """Refuse what is not an IATI 2.x activity file; the file's language, if it has one."""
        if root.tag != "iati-activities":
            raise ImportRefused(name, f"not an IATI activity file: root element is <{root.tag}>")
        version = (root.get("version") or "").strip()
        if version.startswith("1."):
            raise ImportRefused(name, f"IATI {version} files are not supported; convert to 2.01–2.03")
        if not version:
            self.report.warn(name, "file", "no version on <iati-activities>; read as IATI 2.03")
        elif not version.startswith("2."):
            raise ImportRefused(name, f"IATI version {version!r} is not supported; expected 2.01–2.03")
        lang = (root.get(XML_LANG) or "").strip().lower()
        return lang or None

    async def _take(self, name: str, index: int, elem: ET.Element, file_language: str | None) -> None:
        assert self.reference is not None
        self.report.read += 1
        reader = ActivityReader(elem, self.reference, file_language)
        position = f"activity {index} ({reader.identifier})" if reader.identifier else f"activity {index}"
        try:
            activity = reader.read()
        except Rejected as rejected:
            for reason in reader.warnings:
                self.report.warn(name, position, reason)
            self.report.reject(name, position, str(rejected))
            return
        for reason in reader.warnings:
            self.report.warn(name, position, reason)
        if activity.identifier in self.seen:
            self.report.warn(name, position, "this iati-identifier was read before in this import; the later one wins")
            await self._write_batch()  # the earlier one first, so this one updates it
        self.seen.add(activity.identifier)
        for entry in activity.related_activities:
            self.relations.append((name, position, activity.identifier, str(entry["ref"]), entry["type"]))
        self.batch.append(_Item(name, position, activity, activity.content_hash()))

    # -- writing ----------------------------------------------------------------------

    async def _write_batch(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        await self._resolve_organizations(batch)
        table = Programme.__table__
        existing = {
            identifier: (pid, content_hash)
            for pid, identifier, content_hash in (
                await self.session.execute(
                    sa.select(table.c.id, table.c.iati_identifier, table.c.content_hash).where(
                        _any(table.c.iati_identifier, [i.activity.identifier for i in batch])
                    )
                )
            ).all()
        }
        new: list[_Item] = []
        changed: list[tuple[int, _Item]] = []
        for item in batch:
            found = existing.get(item.activity.identifier)
            if found is None:
                new.append(item)
            elif found[1] == item.content_hash:
                self.report.unchanged += 1
            else:
                changed.append((found[0], item))
        events: list[dict[str, Any]] = []
        ids: dict[int, _Item] = {}
        if new:
            columns = [c for c in table.c if c.key != "search_vector"]
            rows = (
                (
                    await self.session.execute(
                        sa.insert(table).returning(*columns),
                        [
                            self._programme_values(item)
                            | {"open_to_requests": item.activity.activity_status not in CLOSED_STATUSES}
                            for item in new
                        ],
                    )
                )
                .mappings()
                .all()
            )
            by_identifier = {item.activity.identifier: item for item in new}
            for row in rows:
                item = by_identifier[row["iati_identifier"]]
                ids[row["id"]] = item
                events.append(self._event("Programme", row["id"], "create", None, self._snapshot(row, item), item.file))
            self.report.created += len(new)
            self.report.created_by_type["Programme"] += len(new)
        if changed:
            events.extend(await self._update(changed))
            ids.update(dict(changed))
            self.report.updated += len(changed)
        if ids:
            await self._replace_children(ids, replace=bool(changed))
            self.written.extend(ids)
        await self._audit(events)

    def _programme_values(self, item: _Item) -> dict[str, Any]:
        a = item.activity
        return {
            "iati_identifier": a.identifier,
            "title": a.title(),
            "description": a.description(),
            "reporting_organization_id": self.org_ids[a.reporting_org.key],
            "activity_status": a.activity_status,
            "start_date": a.start_date,
            "end_date": a.end_date,
            "currency": a.currency,
            "budget_amount": a.budget_amount,
            "committed_amount": a.committed_amount,
            "disbursed_amount": a.disbursed_amount,
            "sectors": a.sectors,
            "sector_categories": a.sector_categories,
            "sdg_goals": a.sdg_goals,
            "sdg_targets": a.sdg_targets,
            "titles": a.titles,
            "descriptions": a.descriptions,
            "default_language": a.default_language,
            "policy_markers": a.policy_markers,
            "related_activities": a.related_activities,
            "source_file": Path(item.file).name,
            "last_imported_at": self.now,
            "content_hash": item.content_hash,
        }

    async def _update(self, changed: list[tuple[int, _Item]]) -> list[dict[str, Any]]:
        """Update in place; curated fields (themes, modalities, languages, open_to_requests
        unless the activity closed, is_global) are the programme owner's and stay."""
        table = Programme.__table__
        ids = [pid for pid, _ in changed]
        before = await self._snapshots(ids)
        values = [self._programme_values(item) for _, item in changed]
        keys = list(values[0])
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values(
                {key: sa.bindparam(f"_{key}", type_=table.c[key].type) for key in keys}
                | {
                    "updated_at": sa.bindparam("_updated_at", type_=table.c.updated_at.type),
                    "open_to_requests": sa.case(
                        (sa.bindparam("_closed", type_=sa.Boolean()), sa.false()), else_=table.c.open_to_requests
                    ),
                }
            )
        )
        await self.session.execute(
            stmt,
            [
                {"_id": pid, "_updated_at": self.now, "_closed": item.activity.activity_status in CLOSED_STATUSES}
                | {f"_{key}": v[key] for key in keys}
                for (pid, item), v in zip(changed, values)
            ],
        )
        items = dict(changed)
        after = await self._snapshots(ids, items)
        return [self._event("Programme", pid, "update", before[pid], after[pid], item.file) for pid, item in changed]

    async def _snapshots(self, ids: list[int], items: dict[int, _Item] | None = None) -> dict[int, dict[str, Any]]:
        """Programmes as stored (columns, recipients, participants) for the audit trail; with
        `items`, the links are the ones about to be written."""
        table = Programme.__table__
        columns = [c for c in table.c if c.key != "search_vector"]
        rows = (
            (await self.session.execute(sa.select(*columns).where(_any(table.c.id, ids, sa.Integer()))))
            .mappings()
            .all()
        )
        if items is not None:
            return {row["id"]: self._snapshot(row, items[row["id"]]) for row in rows}
        links: dict[int, dict[str, list[Any]]] = {
            pid: {"recipient_states": [], "recipient_regions": [], "participants": []} for pid in ids
        }
        for pid, state, percentage in (
            await self.session.execute(
                sa.select(
                    ProgrammeRecipientState.programme_id,
                    ProgrammeRecipientState.state_iso3,
                    ProgrammeRecipientState.percentage,
                )
                .where(_any(ProgrammeRecipientState.programme_id, ids, sa.Integer()))
                .order_by(ProgrammeRecipientState.programme_id, ProgrammeRecipientState.state_iso3)
            )
        ).all():
            links[pid]["recipient_states"].append({"state": state, "percentage": percentage})
        region = ProgrammeRecipientRegion
        for pid, vocabulary, code, percentage in (
            await self.session.execute(
                sa.select(region.programme_id, region.vocabulary, region.region_code, region.percentage)
                .where(_any(region.programme_id, ids, sa.Integer()))
                .order_by(region.programme_id, region.vocabulary, region.region_code)
            )
        ).all():
            links[pid]["recipient_regions"].append({"vocabulary": vocabulary, "region": code, "percentage": percentage})
        for pid, org_id, role in (
            await self.session.execute(
                sa.select(
                    ProgrammeParticipant.programme_id, ProgrammeParticipant.organization_id, ProgrammeParticipant.role
                )
                .where(_any(ProgrammeParticipant.programme_id, ids, sa.Integer()))
                .order_by(
                    ProgrammeParticipant.programme_id, ProgrammeParticipant.role, ProgrammeParticipant.organization_id
                )
            )
        ).all():
            links[pid]["participants"].append({"organization_id": org_id, "role": role.value})
        return {row["id"]: dict(row) | links[row["id"]] for row in rows}

    def _snapshot(self, row: Any, item: _Item) -> dict[str, Any]:
        a = item.activity
        return dict(row) | {
            "recipient_states": [{"state": s, "percentage": p} for s, p in sorted(a.recipient_states)],
            "recipient_regions": [
                {"vocabulary": v, "region": c, "percentage": p} for v, c, p in sorted(a.recipient_regions)
            ],
            "participants": sorted(
                ({"organization_id": self.org_ids[org.key], "role": role} for org, role in a.participants),
                key=lambda p: (p["role"], p["organization_id"]),
            ),
        }

    async def _replace_children(self, ids: dict[int, _Item], *, replace: bool) -> None:
        """Participants, recipients, budgets and transactions of the programmes written."""
        session = self.session
        if replace:
            for model in (
                ProgrammeParticipant,
                ProgrammeRecipientState,
                ProgrammeRecipientRegion,
                ProgrammeBudget,
                ProgrammeTransaction,
            ):
                table = model.__table__
                await session.execute(sa.delete(table).where(_any(table.c.programme_id, list(ids), sa.Integer())))
        participants: dict[tuple[int, int, str], dict[str, Any]] = {}
        states, regions, budgets, transactions = [], [], [], []
        for pid, item in ids.items():
            a = item.activity
            for org, role in a.participants:
                org_id = self.org_ids[org.key]
                participants.setdefault(
                    (pid, org_id, role), {"programme_id": pid, "organization_id": org_id, "role": ParticipantRole(role)}
                )
            states += [{"programme_id": pid, "state_iso3": s, "percentage": p} for s, p in a.recipient_states]
            regions += [
                {"programme_id": pid, "vocabulary": v, "region_code": c, "percentage": p}
                for v, c, p in a.recipient_regions
            ]
            budgets += [{"programme_id": pid, **row} for row in a.budgets]
            transactions += [{"programme_id": pid, **row} for row in a.transactions]
        for model, rows in (
            (ProgrammeParticipant, list(participants.values())),
            (ProgrammeRecipientState, states),
            (ProgrammeRecipientRegion, regions),
            (ProgrammeBudget, budgets),
            (ProgrammeTransaction, transactions),
        ):
            if rows:
                await session.execute(sa.insert(model.__table__), rows)

    async def _resolve_organizations(self, batch: list[_Item]) -> None:
        """Organization ids for every organization the batch names: found by IATI identifier
        (else by exact name), or created. An existing organization keeps its curated name and
        category; only what it lacks (OrganisationType, State, a name that was just the ref)
        is filled in."""
        pending: dict[tuple[str, str], tuple[OrgRef, _Item]] = {}
        for item in batch:
            for org in item.activity.organizations():
                if org.key not in self.org_ids:
                    pending.setdefault(org.key, (org, item))
        if not pending:
            return
        table = Organization.__table__
        refs = [key[1] for key in pending if key[0] == "ref"]
        names = [key[1] for key in pending if key[0] == "name"]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if refs:
            for row in (
                await self.session.execute(sa.select(table).where(_any(table.c.iati_identifier, refs)))
            ).mappings():
                found[("ref", row["iati_identifier"])] = dict(row)
        if names:
            stmt = sa.select(table).where(_any(table.c.name, names)).order_by(table.c.id)
            for row in (await self.session.execute(stmt)).mappings():
                found.setdefault(("name", row["name"]), dict(row))
        events: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for key, row in found.items():
            org, item = pending[key]
            self.org_ids[key] = row["id"]
            change: dict[str, Any] = {}
            if row["organisation_type"] is None and org.type is not None:
                change["organisation_type"] = org.type
            if row["state_iso3"] is None and (state := self._state_of(org)) is not None:
                change["state_iso3"] = state
            if org.ref and row["name"] == org.ref and org.name and org.name != org.ref:
                change["name"] = org.name
            if change:
                updates.append({"_id": row["id"], **{f"_{k}": v for k, v in change.items()}, "_keys": tuple(change)})
                events.append(self._event("Organization", row["id"], "update", row, row | change, item.file))
        for update in updates:  # rare: one statement each is fine
            keys = update.pop("_keys")
            await self.session.execute(
                sa.update(table)
                .where(table.c.id == update["_id"])
                .values({k: update[f"_{k}"] for k in keys} | {"updated_at": sa.func.now()})
            )
        creating = [(key, pending[key]) for key in pending if key not in found]
        if creating:
            values = []
            for _key, (org, item) in creating:
                category, guessed = organization_category(org.type, org.ref)
                if guessed:
                    self.report.warn(
                        item.file,
                        item.position,
                        f"organization {org.ref or org.name!r} has "
                        + (f"OrganisationType {org.type}" if org.type else "no OrganisationType")
                        + f"; created as {category.value}",
                    )
                values.append(
                    {
                        "name": org.name or org.ref,
                        "category": category,
                        "organisation_type": org.type,
                        "iati_identifier": org.ref,
                        "state_iso3": self._state_of(org),
                    }
                )
            rows = (await self.session.execute(sa.insert(table).returning(table), values)).mappings().all()
            by_key = {("ref", r["iati_identifier"]) if r["iati_identifier"] else ("name", r["name"]): r for r in rows}
            for key, (_org, item) in creating:
                row = by_key[key]
                self.org_ids[key] = row["id"]
                events.append(self._event("Organization", row["id"], "create", None, dict(row), item.file))
            self.report.created_by_type["Organization"] += len(creating)
        await self._audit(events)

    def _state_of(self, org: OrgRef) -> str | None:
        """A government organization's State, from its identifier's country prefix (GB-GOV-1)."""
        if org.type not in GOVERNMENT_TYPES or not org.ref or self.reference is None:
            return None
        return self.reference.iso2_to_iso3.get(org.ref.split("-", 1)[0].upper())

    def _event(
        self,
        entity_type: str,
        entity_id: int,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        file: str,
        reason: str | None = None,
    ) -> dict[str, Any]:
        p = self.principal
        return {
            "actor": p.actor,
            "actor_role": p.role.value,
            "actor_state_iso3": p.state_iso3,
            "actor_organization_id": p.organization_id,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "action": action,
            "before": _jsonable(before) if before is not None else None,
            "after": _jsonable(after) if after is not None else None,
            "reason": reason or f"IATI import of {Path(file).name}",
        }

    async def _audit(self, events: list[dict[str, Any]]) -> None:
        if events:
            await self.session.execute(sa.insert(AuditEvent.__table__), events)
            event_log.from_audit_rows(self.session, events)

    # -- after the last file ----------------------------------------------------------

    async def finish(self) -> None:
        await self._link_parents()
        await self._refresh_matches()

    async def _link_parents(self) -> None:
        """parent_id from related-activity (type 1 on the child wins over type 2 on the
        parent), only where the parent exists; references to activities we hold neither in
        this import nor in the database are warned about and kept as references."""
        if not self.relations:
            return
        table = Programme.__table__
        identifiers = sorted({r[2] for r in self.relations} | {r[3] for r in self.relations})
        stored: dict[str, tuple[int, int | None]] = {}
        for start in range(0, len(identifiers), 10_000):
            chunk = identifiers[start : start + 10_000]
            for pid, identifier, parent_id in (
                await self.session.execute(
                    sa.select(table.c.id, table.c.iati_identifier, table.c.parent_id).where(
                        _any(table.c.iati_identifier, chunk)
                    )
                )
            ).all():
                stored[identifier] = (pid, parent_id)
        parents: dict[str, tuple[int, str]] = {}  # child identifier -> (priority, parent identifier)
        for file, position, identifier, ref, kind in self.relations:
            if ref not in stored:
                label = RELATED_TYPES.get(kind or "", f"type {kind}")
                self.report.warn(
                    file,
                    position,
                    f"related-activity {ref} ({label}) is neither in this import nor in the database; kept as a reference",
                )
                continue
            if kind == "1" and identifier in stored:
                parents[identifier] = min(parents.get(identifier, (9, "")), (0, ref))
            elif kind == "2" and identifier in stored:
                child_id, child_parent = stored[ref]
                if ref in self.seen or child_parent is None:
                    parents[ref] = min(parents.get(ref, (9, "")), (1, identifier))
        changes = []
        for child, (_, parent) in sorted(parents.items()):
            child_id, current = stored[child]
            parent_id = stored[parent][0]
            if parent_id != child_id and current != parent_id:
                changes.append((child_id, current, parent_id))
        link = sa.update(table).where(table.c.id == sa.bindparam("_id")).values(parent_id=sa.bindparam("_parent"))
        for start in range(0, len(changes), BATCH_SIZE):  # in batches, like the rest: memory stays flat
            chunk = changes[start : start + BATCH_SIZE]
            await self.session.execute(
                link, [{"_id": child_id, "_parent": parent_id} for child_id, _, parent_id in chunk]
            )
            await self._audit(
                [
                    self._event(
                        "Programme",
                        child_id,
                        "update",
                        {"parent_id": current},
                        {"parent_id": parent_id},
                        "",
                        reason="IATI import: parent linked by related-activity",
                    )
                    for child_id, current, parent_id in chunk
                ]
            )
        self.written.extend(child_id for child_id, _, _ in changes)

    async def _refresh_matches(self) -> None:
        """Suggestions stay current in the same transaction, as for an edit through the API:
        one re-match of the needs the written programmes may serve or already match."""
        if not self.written:
            return
        from service.matching import engine
        from service.models import AssistanceNeed
        from service.models.enums import NeedStatus
        from service.models.matching import Match
        from service.programmes_geography import covered_states_select

        ids = sorted(set(self.written))
        covered = covered_states_select().subquery("covered_state")
        states = sa.select(covered.c.state_iso3).where(_any(covered.c.programme_id, ids, sa.Integer()))
        stmt = sa.select(AssistanceNeed.id).where(
            AssistanceNeed.status != NeedStatus.WITHDRAWN,
            sa.or_(
                AssistanceNeed.state_iso3.in_(states),
                AssistanceNeed.id.in_(sa.select(Match.need_id).where(_any(Match.programme_id, ids, sa.Integer()))),
            ),
        )
        need_ids = list((await self.session.execute(stmt)).scalars())
        if need_ids:
            await engine.rematch_needs(self.session, need_ids)


async def import_iati(
    *,
    session: AsyncSession,
    principal: Principal,
    files: Sequence[Path],
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import IATI 2.x activity files as programmes, in the caller's transaction (committing
    is the caller's decision). Raises ImportRefused, having undone its writes, for a file
    that cannot be read as IATI 2.x activities."""
    started = time.perf_counter()
    paths = [Path(f) for f in files]
    report = ImportReport(source="iati", files=[str(p) for p in paths], dry_run=dry_run)
    total = sum(count_activities(p) for p in paths if p.is_file())
    queued = outbox.mark(session)
    savepoint = await session.begin_nested()
    try:
        importer = _Importer(session=session, principal=principal, report=report)
        await importer.prepare()
        done = 0
        for path in paths:
            done = await importer.import_file(path, progress, done, total)
        await importer.finish()
    except BaseException:
        await savepoint.rollback()
        outbox.discard_since(session, queued)
        raise
    if dry_run:
        await savepoint.rollback()
        outbox.discard_since(session, queued)
    else:
        await savepoint.commit()
    report.seconds = time.perf_counter() - started
    return report
