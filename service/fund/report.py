"""The public decision report of a Fund round as Markdown, JSON or CSV (`tcgraph fund report`)."""

from __future__ import annotations

import csv
import io
import json

from service.audit import _jsonable
from service.fund.criteria import CRITERIA
from service.fund.rounds import DecisionReport


def report_markdown(report: DecisionReport) -> str:
    r = report.fund_round
    lines = [
        f"# {r.name}: decision report",
        "",
        f"Budget: {r.currency} {r.budget:,.2f}; window {r.opens_on} to {r.closes_on}; status {r.status.value}.",
    ]
    if r.approved_at:
        lines.append(
            f"Approved {r.approved_at:%Y-%m-%d %H:%M} UTC by {r.approved_by}; allocated {r.currency} {report.allocated:,.2f}."
        )
    lines += [
        "",
        f"## Criteria (version {report.criteria.version})",
        "",
        "| Criterion | Weight | How it is scored |",
        "|---|---|---|",
    ]
    for c in CRITERIA:
        lines.append(f"| {c.name} | {report.criteria.weights.get(c.key, 0):g} | {c.description} |")
    lines += [
        "",
        "## Decisions",
        "",
        "| Rank | State | Requested | Score | Decision | Allocated | Reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in report.lines:
        a = line.application
        lines.append(
            f"| {a.final_rank or ''} | {line.state_name} ({a.state_iso3}) | {a.currency} {a.requested_amount:,.2f} | "
            f"{line.score.score if line.score else ''} | {a.decision.value if a.decision else 'pending'} | "
            f"{a.currency} {(a.allocated_amount or 0):,.2f} | {a.decision_reason or ''} |"
        )
    for line in report.lines:
        if line.score is None:
            continue
        lines += [
            "",
            f"### {line.state_name}: {line.application.title}",
            "",
            "| Criterion | Raw value | Normalised | Weight | Contribution | Explanation |",
            "|---|---|---|---|---|---|",
        ]
        for item in line.score.breakdown:
            lines.append(
                f"| {item['criterion']} | {item['raw_value']:g} {item['unit']} | {item['normalised']:g} | "
                f"{item['weight']:g} | {item['contribution']:g} | {item['explanation']} |"
            )
    return "\n".join(lines) + "\n"


def report_json(report: DecisionReport) -> str:
    r = report.fund_round
    return (
        json.dumps(
            _jsonable(
                {
                    "round": {
                        "id": r.id,
                        "name": r.name,
                        "status": r.status,
                        "budget": r.budget,
                        "currency": r.currency,
                        "opens_on": r.opens_on,
                        "closes_on": r.closes_on,
                        "min_partial_share": r.min_partial_share,
                        "approved_at": r.approved_at,
                        "approval_note": r.approval_note,
                        "allocated": report.allocated,
                    },
                    "criteria": {
                        "version": report.criteria.version,
                        "note": report.criteria.note,
                        "criteria": [
                            {
                                "key": c.key,
                                "name": c.name,
                                "description": c.description,
                                "weight": report.criteria.weights.get(c.key, 0.0),
                            }
                            for c in CRITERIA
                        ],
                    },
                    "decisions": [
                        {
                            "rank": line.application.final_rank,
                            "state": line.application.state_iso3,
                            "state_name": line.state_name,
                            "title": line.application.title,
                            "requested": line.application.requested_amount,
                            "co_financing": line.application.co_financing,
                            "decision": line.application.decision,
                            "allocated": line.application.allocated_amount,
                            "reason": line.application.decision_reason,
                            "score": line.score.score if line.score else None,
                            "breakdown": line.score.breakdown if line.score else [],
                        }
                        for line in report.lines
                    ],
                }
            ),
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def report_csv(report: DecisionReport) -> str:
    """One row per decision; each criterion's normalised value and contribution in columns."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "rank",
            "state",
            "state_name",
            "title",
            "requested",
            "currency",
            "score",
            "decision",
            "allocated",
            "reason",
            *[f"{c.key}_{part}" for c in CRITERIA for part in ("normalised", "contribution")],
        ]
    )
    for line in report.lines:
        a = line.application
        items = {i["criterion"]: i for i in (line.score.breakdown if line.score else [])}
        writer.writerow(
            [
                a.final_rank or "",
                a.state_iso3,
                line.state_name,
                a.title,
                a.requested_amount,
                a.currency,
                line.score.score if line.score else "",
                a.decision.value if a.decision else "",
                a.allocated_amount if a.allocated_amount is not None else "",
                a.decision_reason or "",
                *[items.get(c.key, {}).get(part, "") for c in CRITERIA for part in ("normalised", "contribution")],
            ]
        )
    return out.getvalue()
