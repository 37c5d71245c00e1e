"""The allocation rule: greedy by score within the budget.

Applications are taken in rank order (score descending; ties: the earlier application
first). Each is funded in full while the remaining budget covers its request. When it does
not, the application is *partially funded* with everything that remains, but only if that is
at least the round's `min_partial_share` of its request (default 50%: a project cut by more
than half is rarely implementable); otherwise it is not funded and the next one is considered,
so a smaller request further down can still be funded in full. Nothing is ever allocated
beyond the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from service.models.fund import FundDecision


@dataclass(frozen=True)
class Candidate:
    application_id: int
    score: float
    requested: Decimal


@dataclass(frozen=True)
class Allocation:
    application_id: int
    rank: int
    score: float
    requested: Decimal
    decision: FundDecision
    amount: Decimal
    reason: str


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.score, c.application_id))


def allocate(
    candidates: Sequence[Candidate], *, budget: Decimal, min_partial_share: Decimal, currency: str
) -> list[Allocation]:
    remaining = budget
    result: list[Allocation] = []
    for position, c in enumerate(rank(candidates), start=1):
        if c.requested <= remaining:
            remaining -= c.requested
            result.append(
                Allocation(
                    c.application_id,
                    position,
                    c.score,
                    c.requested,
                    FundDecision.FUNDED,
                    c.requested,
                    f"funded in full; {currency} {remaining:,.2f} of the budget remains",
                )
            )
        elif remaining > 0 and remaining >= c.requested * min_partial_share:
            amount, remaining = remaining, Decimal(0)
            result.append(
                Allocation(
                    c.application_id,
                    position,
                    c.score,
                    c.requested,
                    FundDecision.PARTIALLY_FUNDED,
                    amount,
                    f"partially funded with the remaining {currency} {amount:,.2f} "
                    f"({amount / c.requested:.0%} of the request, at least {min_partial_share:.0%} required)",
                )
            )
        else:
            why = (
                "the budget is exhausted"
                if remaining <= 0
                else (
                    f"the remaining {currency} {remaining:,.2f} covers less than {min_partial_share:.0%} of the request"
                )
            )
            result.append(
                Allocation(
                    c.application_id,
                    position,
                    c.score,
                    c.requested,
                    FundDecision.NOT_FUNDED,
                    Decimal(0),
                    f"not funded: {why}",
                )
            )
    return result
