"""The Fund's published criteria (resolution 21/21 para 15: "transparent criteria for its
allocation"), scored the way matches are (service/matching/criteria.py): each criterion is a
pure function of what is known about an application, returning its raw value, a value
normalised to 0..1 (higher = stronger claim on the Fund) and a sentence a person
understands. The score is the weighted mean; each criterion's contribution is its share of
it, so the breakdown adds up to the score exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
# Co-financing of this share of the whole project (request + co-financing) or more scores 1.
FULL_CO_FINANCING_SHARE = 0.5


@dataclass(frozen=True)
class ApplicationFacts:
    """What scoring knows about an application, gathered by service/fund/rounds.py."""

    state_name: str
    is_ldc: bool
    is_sids: bool
    is_lldc: bool
    accepted_recommendations: int  # the State's SUPPORTED recommendations
    unsupported_recommendations: int  # of those, linked to no need with agreed funding
    linked_cost_usd: Decimal  # estimated cost of the linked needs counted (visible to partners)
    linked_gap_usd: Decimal  # of that, not covered by agreed funding
    needs_counted: int
    needs_not_counted: int  # linked PRIVATE needs (or without cost): not counted, never described
    prior_support_usd: Decimal  # allocated to the State in earlier allocated rounds
    round_budget_usd: Decimal
    requested: Decimal  # in the round's currency
    co_financing: Decimal
    currency: str


@dataclass(frozen=True)
class CriterionResult:
    raw_value: float
    unit: str  # FLAG | SHARE | USD
    normalised: float
    explanation: str


def ldc_sids(f: ApplicationFacts) -> CriterionResult:
    groups = [
        name
        for flag, name in ((f.is_ldc, "a Least Developed Country"), (f.is_sids, "a Small Island Developing State"))
        if flag
    ]
    if groups:
        return CriterionResult(1.0, "FLAG", 1.0, f"{f.state_name} is " + " and ".join(groups))
    if f.is_lldc:
        return CriterionResult(
            0.5, "FLAG", 0.5, f"{f.state_name} is a Landlocked Developing Country (neither LDC nor SIDS)"
        )
    return CriterionResult(0.0, "FLAG", 0.0, f"{f.state_name} is on neither the LDC nor the SIDS list")


def unsupported_recommendations(f: ApplicationFacts) -> CriterionResult:
    if f.accepted_recommendations == 0:
        return CriterionResult(0.0, "SHARE", 0.0, "no accepted recommendations on record")
    share = f.unsupported_recommendations / f.accepted_recommendations
    return CriterionResult(
        round(share, 4),
        "SHARE",
        round(share, 4),
        f"{f.unsupported_recommendations} of {f.accepted_recommendations} accepted recommendations have no funded support",
    )


def funding_gap(f: ApplicationFacts) -> CriterionResult:
    hidden = (
        f"; {f.needs_not_counted} linked need(s) not counted (private or without a cost estimate)"
        if f.needs_not_counted
        else ""
    )
    if f.needs_counted == 0 or f.linked_cost_usd <= 0:
        return CriterionResult(0.0, "USD", 0.0, "no linked need visible to partners with a cost estimate" + hidden)
    share = float(min(f.linked_gap_usd / f.linked_cost_usd, Decimal(1)))
    return CriterionResult(
        float(round(f.linked_gap_usd, 2)),
        "USD",
        round(share, 4),
        f"about USD {f.linked_gap_usd:,.0f} of the USD {f.linked_cost_usd:,.0f} cost of {f.needs_counted} linked need(s) "
        f"is unfunded ({share:.0%})" + hidden,
    )


def prior_support(f: ApplicationFacts) -> CriterionResult:
    if f.prior_support_usd <= 0:
        return CriterionResult(0.0, "USD", 1.0, "no allocation from earlier rounds")
    used = float(min(f.prior_support_usd / f.round_budget_usd, Decimal(1))) if f.round_budget_usd > 0 else 1.0
    return CriterionResult(
        float(round(f.prior_support_usd, 2)),
        "USD",
        round(1.0 - used, 4),
        f"received about USD {f.prior_support_usd:,.0f} in earlier rounds ({used:.0%} of this round's budget)",
    )


def co_financing(f: ApplicationFacts) -> CriterionResult:
    total = f.requested + f.co_financing
    share = float(f.co_financing / total) if total > 0 else 0.0
    if share == 0:
        return CriterionResult(0.0, "SHARE", 0.0, "no co-financing")
    normalised = min(share / FULL_CO_FINANCING_SHARE, 1.0)
    return CriterionResult(
        round(share, 4),
        "SHARE",
        round(normalised, 4),
        f"co-financing of {f.currency} {f.co_financing:,.0f} is {share:.0%} of the project",
    )


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    description: str
    score: Callable[[ApplicationFacts], CriterionResult]


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "ldc_sids",
        "LDC / SIDS status",
        "1 for a Least Developed Country or Small Island Developing State (UN-OHRLLS lists), 0.5 for a Landlocked Developing Country, else 0.",
        ldc_sids,
    ),
    Criterion(
        "unsupported_recommendations",
        "Accepted recommendations without support",
        "Share of the State's accepted (SUPPORTED) recommendations not linked to any need visible to partners with agreed funding.",
        unsupported_recommendations,
    ),
    Criterion(
        "funding_gap",
        "Funding gap",
        "Unfunded share of the estimated cost of the linked needs visible to partners (in USD through the rate table); private needs are not counted.",
        funding_gap,
    ),
    Criterion(
        "prior_support",
        "Prior support received",
        "1 minus the State's allocations from earlier allocated rounds (opening before this one) as a share of this round's budget (in USD), floored at 0.",
        prior_support,
    ),
    Criterion(
        "co_financing",
        "Co-financing",
        f"Co-financing as a share of the whole project (request + co-financing); {FULL_CO_FINANCING_SHARE:.0%} or more scores 1.",
        co_financing,
    ),
)
CRITERIA_BY_KEY = {c.key: c for c in CRITERIA}


def default_weights() -> dict[str, float]:
    return {k: float(v) for k, v in json.loads(WEIGHTS_FILE.read_text())["weights"].items()}


def score_application(facts: ApplicationFacts, weights: dict[str, float]) -> tuple[float, list[dict]]:
    """Weighted mean of every criterion, and the breakdown (zeros included). Contributions are
    rounded to 4 places and the score is their sum, so the breakdown adds up to the score."""
    weight_sum = sum(float(weights.get(c.key, 0.0)) for c in CRITERIA)
    breakdown: list[dict] = []
    for criterion in CRITERIA:
        result = criterion.score(facts)
        weight = float(weights.get(criterion.key, 0.0))
        contribution = round(weight * result.normalised / weight_sum, 4) if weight_sum else 0.0
        breakdown.append(
            {
                "criterion": criterion.key,
                "raw_value": result.raw_value,
                "unit": result.unit,
                "normalised": result.normalised,
                "weight": weight,
                "contribution": contribution,
                "explanation": result.explanation,
            }
        )
    total = round(sum(item["contribution"] for item in breakdown), 4)
    if total > 1.0:  # rounding up every contribution of a perfect score: take the excess off the largest
        largest = max(breakdown, key=lambda item: item["contribution"])
        largest["contribution"] = round(largest["contribution"] - (total - 1.0), 4)
        total = 1.0
    return total, breakdown
