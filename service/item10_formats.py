"""The Item 10 report as files: Markdown (headings and tables, for a document), CSV (one
long table a spreadsheet pivots) and JSON (the GraphQL shape, for other systems).

All three render one `service.item10.Item10Report` and add nothing to it: what the caller
may not see was never in the report.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TextIO

from service.exports import global_id
from service.item10 import Amount, Amounts, Item10Report, StageCounts

FORMATS = ("markdown", "csv", "json")
CSV_COLUMNS = ("section", "id", "code", "name", "measure", "currency", "value")
STAGES = ("agreed", "active", "completed", "withdrawn", "total")


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def _amounts(amounts: Amounts, *, usd: bool = True) -> str:
    """'USD 200,000.00; EUR 40,000.00 (≈ USD 246,400.00)'; '—' when there is nothing."""
    if amounts.is_empty:
        return "—"
    text = "; ".join(_money(a.amount, a.currency) for a in amounts.by_currency)
    if usd and amounts.usd_equivalent is not None and [a.currency for a in amounts.by_currency] != ["USD"]:
        text += f" (≈ {_money(amounts.usd_equivalent, 'USD')})"
    elif usd and amounts.currencies_without_rate:
        text += f" (no USD rate for {', '.join(amounts.currencies_without_rate)})"
    return text


def _cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _organization_name(name: str, acronym: str | None) -> str:
    return f"{name} ({acronym})" if acronym and acronym not in name else name


def _counts(c: StageCounts) -> list[int]:
    return [c.agreed, c.active, c.completed, c.withdrawn, c.total]


def render_markdown(report: Item10Report, *, audience: str | None = None) -> str:
    r = report
    region = f"{r.region_name} ({r.region_code})" if r.region_code else "all regions"
    out = [
        f"# Item 10 report: {r.theme_name} ({r.theme_code})",
        "",
        f"- Period: {r.period_start.isoformat()} to {r.period_end.isoformat()}",
        f"- Region: {region}",
        f"- Themes covered: {', '.join(r.theme_codes)}",
        f"- Generated: {r.generated_at.strftime('%Y-%m-%d %H:%M')} UTC (open needs and gaps as of then)",
    ]
    if audience:
        out.append(f"- Counts cover only the needs and engagements visible to: {audience}")
    out += [
        "",
        "An engagement is a match the State agreed to; its stage is where it stood at the end of the period. "
        "Amounts are summed per currency; USD equivalents use the rates listed at the end.",
        "",
        "## Summary",
        "",
        *_table(
            ["", "Agreed", "Active", "Completed", "Withdrawn", "Total"], [["Engagements", *_counts(r.engagements)]]
        ),
        "",
        f"Committed: {_amounts(r.committed)}",
        "",
        "## Engagements by agency, fund or donor",
        "",
    ]
    if r.by_organization:
        out += _table(
            ["Organization", "Category", "Agreed", "Active", "Completed", "Withdrawn", "Total", "Committed", "States"],
            [
                [
                    _organization_name(o.name, o.acronym),
                    o.category.replace("_", " ").lower(),
                    *_counts(o.engagements),
                    _amounts(o.committed, usd=False),
                    ", ".join(o.states),
                ]
                for o in r.by_organization
            ],
        )
    else:
        out.append("No engagements in this theme and period.")
    out += ["", "## Engagements by State", ""]
    if r.by_state:
        out += _table(
            ["State", "Agreed", "Active", "Completed", "Withdrawn", "Total", "Committed", "Organizations"],
            [
                [
                    f"{s.name} ({s.state_iso3})",
                    *_counts(s.engagements),
                    _amounts(s.committed, usd=False),
                    ", ".join(s.organizations),
                ]
                for s in r.by_state
            ],
        )
    else:
        out.append("No engagements in this theme and period.")
    out += ["", "## Lessons learned and good practices", ""]
    if not r.lessons:
        out.append("No lessons recorded on engagements completed in this period.")
    for lesson in r.lessons:
        paragraphs = [line.strip() for line in lesson.text.splitlines() if line.strip()]
        quoted = [part for paragraph in paragraphs for part in (">", "> " + paragraph)][1:]
        out += [
            f"### {lesson.organization_name} with {lesson.state_name}: {lesson.need_title}",
            "",
            f"Completed {lesson.completed_on.isoformat()}.",
            "",
            *quoted,
            "",
        ]
    if not r.lessons:
        out.append("")
    g = r.funding_gap
    out += [
        "## Open needs and funding gaps",
        "",
        f"- Open needs: {g.open_needs}",
        f"- Requested: {_amounts(g.requested)}",
        f"- Committed: {_amounts(g.committed)}",
        f"- Gap: {_amounts(g.gap)}",
    ]
    if g.needs_without_cost:
        out.append(f"- Without an estimated cost (no gap known): {g.needs_without_cost}")
    if g.needs_without_gap:
        out.append(f"- Committed in a currency without a rate (no gap known): {g.needs_without_gap}")
    out.append("")
    if r.open_needs:
        out += _table(
            ["State", "Need", "Status", "Requested", "Committed", "Gap"],
            [
                [
                    f"{n.state_name} ({n.state_iso3})",
                    n.title,
                    n.status.value,
                    _money(n.requested.amount, n.requested.currency) if n.requested else "—",
                    _amounts(n.committed, usd=False),
                    _money(n.gap.amount, n.gap.currency) if n.gap else "—",
                ]
                for n in r.open_needs
            ],
        )
        out.append("")
    out += ["## Exchange rates", ""]
    if r.exchange_rates:
        out += _table(
            ["Currency", "USD per unit", "As of"],
            [[x.currency, f"{x.usd_per_unit.normalize():f}", x.as_of.isoformat()] for x in r.exchange_rates],
        )
    else:
        out.append("None used.")
    return "\n".join(out).rstrip() + "\n"


# -- CSV -------------------------------------------------------------------------------------------


def _amount_rows(section: str, ident: str, code: str, name: str, measure: str, amounts: Amounts) -> list[tuple]:
    rows = [(section, ident, code, name, measure, a.currency, f"{a.amount:.2f}") for a in amounts.by_currency]
    if not amounts.is_empty and amounts.usd_equivalent is not None:
        rows.append((section, ident, code, name, f"{measure}_usd_equivalent", "USD", f"{amounts.usd_equivalent:.2f}"))
    return rows


def _stage_rows(section: str, ident: str, code: str, name: str, counts: StageCounts) -> list[tuple]:
    return [
        (section, ident, code, name, f"engagements_{stage}", "", str(n)) for stage, n in zip(STAGES, _counts(counts))
    ]


def csv_rows(report: Item10Report) -> list[tuple]:
    """One measure per row: (section, id, code, name, measure, currency, value)."""
    r = report
    rows: list[tuple] = [
        ("report", "", r.theme_code, r.theme_name, "period_from", "", r.period_start.isoformat()),
        ("report", "", r.theme_code, r.theme_name, "period_to", "", r.period_end.isoformat()),
        ("report", "", r.region_code or "", r.region_name or "", "region", "", r.region_code or ""),
        ("report", "", r.theme_code, r.theme_name, "generated_at", "", r.generated_at.isoformat()),
    ]
    rows += _stage_rows("total", "", r.theme_code, r.theme_name, r.engagements)
    rows += _amount_rows("total", "", r.theme_code, r.theme_name, "committed", r.committed)
    for o in r.by_organization:
        ident = global_id("Organization", o.organization_id)
        rows += _stage_rows("organization", ident, o.acronym or "", o.name, o.engagements)
        rows += _amount_rows("organization", ident, o.acronym or "", o.name, "committed", o.committed)
        rows.append(("organization", ident, o.acronym or "", o.name, "states", "", " ".join(o.states)))
    for s in r.by_state:
        rows += _stage_rows("state", "", s.state_iso3, s.name, s.engagements)
        rows += _amount_rows("state", "", s.state_iso3, s.name, "committed", s.committed)
    for lesson in r.lessons:
        ident = global_id("Match", lesson.match_id)
        name = f"{lesson.organization_name} with {lesson.state_name}: {lesson.need_title}"
        rows.append(("lesson", ident, lesson.state_iso3, name, "completed_on", "", lesson.completed_on.isoformat()))
        rows.append(("lesson", ident, lesson.state_iso3, name, "lessons", "", lesson.text))
    for n in r.open_needs:
        ident = global_id("Need", n.need_id)
        rows.append(("open_need", ident, n.state_iso3, n.title, "status", "", n.status.value))
        if n.requested:
            rows.append(
                (
                    "open_need",
                    ident,
                    n.state_iso3,
                    n.title,
                    "requested",
                    n.requested.currency,
                    f"{n.requested.amount:.2f}",
                )
            )
        rows += _amount_rows("open_need", ident, n.state_iso3, n.title, "committed", n.committed)
        if n.gap:
            rows.append(("open_need", ident, n.state_iso3, n.title, "gap", n.gap.currency, f"{n.gap.amount:.2f}"))
    g = r.funding_gap
    rows.append(("funding_gap", "", r.theme_code, r.theme_name, "open_needs", "", str(g.open_needs)))
    for measure, amounts in (("requested", g.requested), ("committed", g.committed), ("gap", g.gap)):
        rows += _amount_rows("funding_gap", "", r.theme_code, r.theme_name, measure, amounts)
    rows.append(("funding_gap", "", r.theme_code, r.theme_name, "needs_without_cost", "", str(g.needs_without_cost)))
    rows.append(("funding_gap", "", r.theme_code, r.theme_name, "needs_without_gap", "", str(g.needs_without_gap)))
    for x in r.exchange_rates:
        rows.append(
            ("exchange_rate", "", x.currency, x.currency, "usd_per_unit", "USD", f"{x.usd_per_unit.normalize():f}")
        )
        rows.append(("exchange_rate", "", x.currency, x.currency, "as_of", "", x.as_of.isoformat()))
    return rows


def write_csv(report: Item10Report, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(report))


# -- JSON ------------------------------------------------------------------------------------------


def _amount_json(a: Amount | None) -> dict[str, str] | None:
    return None if a is None else {"amount": f"{a.amount:.2f}", "currency": a.currency}


def _amounts_json(amounts: Amounts) -> dict[str, Any]:
    return {
        "amounts": [_amount_json(a) for a in amounts.by_currency],
        "usdEquivalent": None
        if amounts.usd_equivalent is None
        else _amount_json(Amount(amounts.usd_equivalent, "USD")),
        "currenciesWithoutRate": list(amounts.currencies_without_rate),
    }


def _counts_json(c: StageCounts) -> dict[str, int]:
    return dict(zip(STAGES, _counts(c)))


def to_json(report: Item10Report) -> dict[str, Any]:
    """The report in the shape of the GraphQL `Item10Report` (IDs as global IDs)."""
    r = report
    return {
        "theme": r.theme_code,
        "themeName": r.theme_name,
        "themes": list(r.theme_codes),
        "periodFrom": r.period_start.isoformat(),
        "periodTo": r.period_end.isoformat(),
        "region": r.region_code,
        "regionName": r.region_name,
        "generatedAt": r.generated_at.isoformat(),
        "engagements": _counts_json(r.engagements),
        "committed": _amounts_json(r.committed),
        "organizations": [
            {
                "id": global_id("Organization", o.organization_id),
                "name": o.name,
                "acronym": o.acronym,
                "category": o.category,
                "engagements": _counts_json(o.engagements),
                "committed": _amounts_json(o.committed),
                "states": list(o.states),
            }
            for o in r.by_organization
        ],
        "states": [
            {
                "code": s.state_iso3,
                "name": s.name,
                "engagements": _counts_json(s.engagements),
                "committed": _amounts_json(s.committed),
                "organizations": list(s.organizations),
            }
            for s in r.by_state
        ],
        "lessons": [
            {
                "engagementId": global_id("Match", x.match_id),
                "needId": global_id("Need", x.need_id),
                "needTitle": x.need_title,
                "stateCode": x.state_iso3,
                "stateName": x.state_name,
                "organizationName": x.organization_name,
                "completedOn": x.completed_on.isoformat(),
                "lessons": x.text,
            }
            for x in r.lessons
        ],
        "openNeeds": [
            {
                "id": global_id("Need", n.need_id),
                "title": n.title,
                "stateCode": n.state_iso3,
                "stateName": n.state_name,
                "status": n.status.value,
                "requested": _amount_json(n.requested),
                "committed": _amounts_json(n.committed),
                "gap": _amount_json(n.gap),
            }
            for n in r.open_needs
        ],
        "fundingGap": {
            "openNeeds": r.funding_gap.open_needs,
            "requested": _amounts_json(r.funding_gap.requested),
            "committed": _amounts_json(r.funding_gap.committed),
            "gap": _amounts_json(r.funding_gap.gap),
            "needsWithoutCost": r.funding_gap.needs_without_cost,
            "needsWithoutGap": r.funding_gap.needs_without_gap,
        },
        "exchangeRates": [
            {"currency": x.currency, "usdPerUnit": f"{x.usd_per_unit.normalize():f}", "asOf": x.as_of.isoformat()}
            for x in r.exchange_rates
        ],
    }


def write(report: Item10Report, fmt: str, out: TextIO, *, audience: str | None = None) -> None:
    if fmt == "markdown":
        out.write(render_markdown(report, audience=audience))
    elif fmt == "csv":
        write_csv(report, out)
    elif fmt == "json":
        json.dump(to_json(report), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
