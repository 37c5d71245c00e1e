"""GraphQL for the UPR Voluntary Fund: rounds, published criteria, applications with their
score breakdown, the allocation proposal, its approval and the public decision report.
Resolvers call service.fund.rounds, which decides who sees what."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from graphql_schema.common import Money, MoneyInput, UserError, money, user_errors
from graphql_schema.relay import (
    AFTER,
    BEFORE,
    FIRST,
    LAST,
    Connection,
    Node,
    connection,
    expect_int_id,
    page_args,
    to_global_id,
)
from service.errors import InvalidInput, ValidationFailed
from service.fund import allocation
from service.fund import rounds as service
from service.fund.criteria import CRITERIA
from service.models.fund import FundApplication as ApplicationRow
from service.models.fund import FundCriteriaVersion as CriteriaRow
from service.models.fund import FundDecision as DomainFundDecision
from service.models.fund import FundRound as RoundRow
from service.models.fund import FundRoundStatus as DomainFundRoundStatus
from service.pagination import PageArgs

if TYPE_CHECKING:
    from graphql_schema.needs import Need
    from graphql_schema.states import State

FundRoundStatus = strawberry.enum(
    DomainFundRoundStatus,
    name="FundRoundStatus",
    description="DRAFT (Fund administrators only) → OPEN (applications taken) → CLOSED (scored, proposal reviewed) → ALLOCATED (approved; decisions public).",
)
FundDecision = strawberry.enum(
    DomainFundDecision,
    name="FundDecision",
    description="The decision on an application, written when the allocation is approved.",
)


@strawberry.enum(description="What a criterion's raw value measures.")
class FundValueUnit(Enum):
    FLAG = "FLAG"
    SHARE = "SHARE"
    USD = "USD"


@strawberry.type(description="One of the Fund's published criteria.")
class FundCriterion:
    key: str = strawberry.field(description="Its key in weights and breakdowns, e.g. ldc_sids.")
    name: str = strawberry.field(description="Its name.")
    description: str = strawberry.field(description="How it is scored, 0..1 (higher is a stronger claim on the Fund).")


@strawberry.type(description="A criterion's weight in a criteria version.")
class FundCriterionWeight:
    criterion: str = strawberry.field(description="The criterion's key.")
    weight: float = strawberry.field(description="Its weight (the score is the weighted mean).")


@strawberry.type(
    description="One published version of a round's criteria weights. A changed weight makes a new version."
)
class FundCriteriaVersion:
    row: strawberry.Private[CriteriaRow]

    @strawberry.field(description="Version number, from 1.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="Every criterion's weight.")
    def weights(self) -> list[FundCriterionWeight]:
        return [FundCriterionWeight(criterion=c.key, weight=float(self.row.weights.get(c.key, 0.0))) for c in CRITERIA]

    @strawberry.field(description="Why it was published.")
    def note(self) -> str:
        return self.row.note

    @strawberry.field(description="When it was published (UTC).")
    def published_at(self) -> dt.datetime:
        return self.row.created_at


@strawberry.type(description="One criterion's part in an application's score, like a match's breakdown.")
class FundCriterionScore:
    criterion: str = strawberry.field(description="Its key in `fundCriteria`.")
    raw_value: float = strawberry.field(description="What was measured (see `unit`).")
    unit: FundValueUnit = strawberry.field(description="FLAG (1/0.5/0), SHARE (0..1) or USD.")
    normalised_value: float = strawberry.field(
        description="The raw value on the 0..1 scale the criterion's description gives."
    )
    weight: float = strawberry.field(description="Its weight in the criteria version that scored the application.")
    contribution: float = strawberry.field(
        description="Its part of the score: weight × normalised value ÷ sum of weights (rounded to 4 places). The contributions add up to the score."
    )
    explanation: str = strawberry.field(description="Why, in a sentence a person understands.")


def _breakdown(items: list[dict]) -> list[FundCriterionScore]:
    return [
        FundCriterionScore(
            criterion=i["criterion"],
            raw_value=i["raw_value"],
            unit=FundValueUnit(i["unit"]),
            normalised_value=i["normalised"],
            weight=i["weight"],
            contribution=i["contribution"],
            explanation=i["explanation"],
        )
        for i in items
    ]


@strawberry.type(description="An application's score under one criteria version.")
class FundScore:
    score: float = strawberry.field(
        description="0..1: the weighted mean of the criteria (the sum of the contributions)."
    )
    criteria_version: int = strawberry.field(description="The criteria version that scored it.")
    breakdown: list[FundCriterionScore] = strawberry.field(description="Every criterion, zeros included.")
    scored_at: dt.datetime = strawberry.field(
        description="When (UTC): on application, on each new criteria version and when the round closed."
    )


@strawberry.type(
    description="A State's application to a Fund round. Until the round is ALLOCATED only the State, Fund administrators and administrators see it; then it is public with its decision and scores."
)
class FundApplication(Node):
    row: strawberry.Private[ApplicationRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("FundApplication", self.row.id))

    @strawberry.field(description="The round.")
    async def round(self, info: Info) -> "FundRound":
        found = await load_round(info, self.row.round_id)
        assert found is not None  # the application was loaded under its round's visibility
        return found

    @strawberry.field(description="The applying State.")
    async def state(self, info: Info) -> Annotated["State", strawberry.lazy("graphql_schema.states")]:
        from graphql_schema.states import load_state

        return await load_state(info, self.row.state_iso3)

    @strawberry.field(description="What the State asks support for.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="The project in brief.")
    def summary(self) -> str:
        return self.row.summary

    @strawberry.field(description="The amount requested from the Fund, in the round's currency.")
    def requested(self) -> Money:
        return Money(amount=self.row.requested_amount, currency=self.row.currency)

    @strawberry.field(description="What the State or others contribute to the same project.")
    def co_financing(self) -> Money:
        return Money(amount=self.row.co_financing, currency=self.row.currency)

    @strawberry.field(description="The needs it serves that you may see (a need you may not see is left out).")
    async def needs(self, info: Info) -> list[Annotated["Need", strawberry.lazy("graphql_schema.needs")]]:
        from graphql_schema.needs import load_need

        async def batch(session, ids):
            return await service.linked_need_ids(session=session, application_ids=ids)

        need_ids = await info.context.loader("fundApplication.needs", batch, default=[]).load(self.row.id)
        found = await asyncio.gather(*(load_need(info, need_id) for need_id in need_ids))  # one batch
        return [n for n in found if n is not None]

    @strawberry.field(
        description="Its score with the per-criterion breakdown, under the criteria in force (or `criteriaVersion`)."
    )
    async def score(
        self,
        info: Info,
        criteria_version: Annotated[
            int | None,
            strawberry.argument(description="A criteria version of the round; the one in force when omitted."),
        ] = None,
    ) -> FundScore | None:
        async def batch(session, ids):
            return await service.scores_of(session=session, application_ids=ids, version=criteria_version)

        found = await info.context.loader("fundApplication.score", batch, args=criteria_version).load(self.row.id)
        if found is None:
            return None
        return FundScore(
            score=found.score,
            criteria_version=found.criteria_version,
            breakdown=_breakdown(found.breakdown),
            scored_at=found.scored_at,
        )

    @strawberry.field(description="The decision, once the allocation is approved.")
    def decision(self) -> FundDecision | None:  # type: ignore[valid-type]
        return self.row.decision

    @strawberry.field(description="The amount allocated, once approved.")
    def allocated(self) -> Money | None:
        return money(self.row.allocated_amount, self.row.currency)

    @strawberry.field(description="Its rank in the approved allocation.")
    def rank(self) -> int | None:
        return self.row.final_rank

    @strawberry.field(description="Why it was (partially) funded or not, once approved.")
    def decision_reason(self) -> str | None:
        return self.row.decision_reason

    @strawberry.field(description="When it was submitted (UTC).")
    def submitted_at(self) -> dt.datetime:
        return self.row.created_at


@strawberry.type(
    description="One line of an allocation: an application's rank, score and the decision (proposed, or approved)."
)
class FundAllocationLine:
    line: strawberry.Private[allocation.Allocation]
    currency: strawberry.Private[str]

    @strawberry.field(description="The application.")
    async def application(self, info: Info) -> FundApplication | None:
        return await load_application(info, self.line.application_id)

    @strawberry.field(description="Rank by score (ties: the earlier application first).")
    def rank(self) -> int:
        return self.line.rank

    @strawberry.field(description="Score under the criteria version of the proposal.")
    def score(self) -> float:
        return self.line.score

    @strawberry.field(description="Amount requested.")
    def requested(self) -> Money:
        return Money(amount=self.line.requested, currency=self.currency)

    @strawberry.field(description="FUNDED, PARTIALLY_FUNDED or NOT_FUNDED.")
    def decision(self) -> FundDecision:  # type: ignore[valid-type]
        return self.line.decision

    @strawberry.field(description="Amount allocated (0 when not funded).")
    def amount(self) -> Money:
        return Money(amount=self.line.amount, currency=self.currency)

    @strawberry.field(description="Why, following the allocation rule.")
    def reason(self) -> str:
        return self.line.reason


@strawberry.type(description="How an application's rank and score changed between two criteria versions.")
class FundRankMovement:
    movement: strawberry.Private[service.Movement]

    @strawberry.field(description="The application.")
    async def application(self, info: Info) -> FundApplication | None:
        return await load_application(info, self.movement.application_id)

    @strawberry.field(description="ISO 3166 alpha-3 code of the applying State.")
    def state(self) -> str:
        return self.movement.state_iso3

    @strawberry.field(description="Rank under the earlier version (null when it was not scored under it).")
    def previous_rank(self) -> int | None:
        return self.movement.previous_rank

    @strawberry.field(description="Rank under the later version.")
    def rank(self) -> int:
        return self.movement.rank

    @strawberry.field(description="Places gained (positive) or lost (negative); null when not ranked before.")
    def moved(self) -> int | None:
        return self.movement.moved

    @strawberry.field(description="Score under the earlier version.")
    def previous_score(self) -> float | None:
        return self.movement.previous_score

    @strawberry.field(description="Score under the later version.")
    def score(self) -> float:
        return self.movement.score


@strawberry.type(description="One decision of the public report, with the scores behind it.")
class FundReportDecision:
    application: FundApplication = strawberry.field(
        description="The application (with its decision, amount and reason)."
    )
    state_name: str = strawberry.field(description="The State's English short name.")
    score: FundScore | None = strawberry.field(
        description="Its score and breakdown under the criteria version of the allocation."
    )


@strawberry.type(
    description="The public report of a round's allocation: the criteria, and every decision with its scores."
)
class FundDecisionReport:
    criteria: FundCriteriaVersion = strawberry.field(description="The criteria version the decisions rest on.")
    allocated: Money = strawberry.field(description="Total allocated.")
    approved_at: dt.datetime | None = strawberry.field(
        description="When a Fund administrator approved it (UTC); null in a preview before approval."
    )
    approval_note: str | None = strawberry.field(description="The approver's note.")
    decisions: list[FundReportDecision] = strawberry.field(description="Every application, in rank order.")


@strawberry.type(
    description="A round of the UPR Voluntary Fund for Financial and Technical Assistance (resolution 21/21 para 15)."
)
class FundRound(Node):
    row: strawberry.Private[RoundRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("FundRound", self.row.id))

    @strawberry.field(description='Its name, e.g. "2027 round".')
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="What it funds.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The budget to allocate.")
    def budget(self) -> Money:
        return Money(amount=self.row.budget, currency=self.row.currency)

    @strawberry.field(description="First day applications are taken.")
    def opens_on(self) -> dt.date:
        return self.row.opens_on

    @strawberry.field(description="Last day applications are taken.")
    def closes_on(self) -> dt.date:
        return self.row.closes_on

    @strawberry.field(description="Where the round is.")
    def status(self) -> FundRoundStatus:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field(
        description="Partial funding rule: the last application reached gets what remains only if that covers at least this share of its request."
    )
    def min_partial_share(self) -> Decimal:
        return self.row.min_partial_share

    @strawberry.field(description="The criteria in force.")
    async def criteria(self, info: Info) -> FundCriteriaVersion:
        return (await self._versions(info))[-1]

    @strawberry.field(description="Every published criteria version, oldest first.")
    async def criteria_history(self, info: Info) -> list[FundCriteriaVersion]:
        return await self._versions(info)

    async def _versions(self, info: Info) -> list[FundCriteriaVersion]:
        async def batch(session, ids):
            return await service.criteria_versions(session=session, round_ids=ids)

        rows = await info.context.loader("fundRound.criteria", batch, default=[]).load(self.row.id)
        return [FundCriteriaVersion(row=r) for r in rows if r.version <= self.row.criteria_version]

    @strawberry.field(description="Applications you may see, in rank order under the criteria in force.")
    async def applications(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[FundApplication]:
        return await _applications(info, [self.row.id], None, page_args(first, after, last, before))

    @strawberry.field(
        description="The ranked allocation within the budget (greedy by score; see the README for the partial-funding rule). Fund administrators and administrators before approval; everyone after, as approved."
    )
    async def allocation_proposal(self, info: Info) -> list[FundAllocationLine]:
        async with info.context.read_session() as session:
            lines = await service.proposal(session=session, principal=info.context.principal, fund_round=self.row)
        return [FundAllocationLine(line=line, currency=self.row.currency) for line in lines]

    @strawberry.field(
        description="What moved between two criteria versions: each application's rank and score under both. Fund administrators before approval; everyone after."
    )
    async def criteria_changes(
        self,
        info: Info,
        from_version: Annotated[int, strawberry.argument(description="The earlier criteria version.")],
        to_version: Annotated[
            int | None, strawberry.argument(description="The later one; the version in force when omitted.")
        ] = None,
    ) -> list[FundRankMovement]:
        async with info.context.read_session() as session:
            moved = await service.criteria_changes(
                session=session,
                principal=info.context.principal,
                fund_round=self.row,
                from_version=from_version,
                to_version=to_version if to_version is not None else self.row.criteria_version,
            )
        return [FundRankMovement(movement=m) for m in moved]

    @strawberry.field(
        description="The public report of every decision with its scores (after approval; a preview for Fund administrators before)."
    )
    async def decision_report(self, info: Info) -> FundDecisionReport:
        async with info.context.read_session() as session:
            report = await service.decision_report(
                session=session, principal=info.context.principal, fund_round=self.row
            )
        return FundDecisionReport(
            criteria=FundCriteriaVersion(row=report.criteria),
            allocated=Money(amount=report.allocated, currency=self.row.currency),
            approved_at=self.row.approved_at,
            approval_note=self.row.approval_note,
            decisions=[
                FundReportDecision(
                    application=FundApplication(row=line.application),
                    state_name=line.state_name,
                    score=FundScore(
                        score=line.score.score,
                        criteria_version=line.score.criteria_version,
                        breakdown=_breakdown(line.score.breakdown),
                        scored_at=line.score.scored_at,
                    )
                    if line.score
                    else None,
                )
                for line in report.lines
            ],
        )

    @strawberry.field(description="When the allocation was approved (UTC).")
    def approved_at(self) -> dt.datetime | None:
        return self.row.approved_at

    @strawberry.field(description="When the round was created (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at


async def load_round(info: Info, round_id: int) -> FundRound | None:
    ctx = info.context

    async def batch(session, ids):
        return await service.get_rounds(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("fundRound", batch).load(round_id)
    return FundRound(row=row) if row else None


async def load_application(info: Info, application_id: int) -> FundApplication | None:
    ctx = info.context

    async def batch(session, ids):
        return await service.get_applications(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("fundApplication", batch).load(application_id)
    return FundApplication(row=row) if row else None


async def _applications(
    info: Info, round_ids: list[int] | None, states: list[str] | None, args: PageArgs
) -> Connection[FundApplication]:
    ctx = info.context
    async with ctx.read_session() as session:
        page = await service.list_applications(
            session=session, principal=ctx.principal, round_ids=round_ids, states=states, page=args
        )

    async def counter() -> int:
        async with ctx.read_session() as session:
            return await service.count_applications(
                session=session, principal=ctx.principal, round_ids=round_ids, states=states
            )

    return connection(page, lambda row: FundApplication(row=row), counter)


@strawberry.input(description="Filter of Fund rounds.")
class FundRoundFilter:
    statuses: list[FundRoundStatus] | None = strawberry.field(default=None, description="Round statuses.")  # type: ignore[valid-type]


@strawberry.input(description="Filter of Fund applications (only those you may see are ever listed).")
class FundApplicationFilter:
    rounds: list[strawberry.ID] | None = strawberry.field(default=None, description="IDs of Fund rounds.")
    states: list[str] | None = strawberry.field(default=None, description="ISO 3166 alpha-3 codes of applying States.")


@strawberry.type(description="The UPR Voluntary Fund.")
class FundQuery:
    @strawberry.field(description="The Fund's published criteria (each round publishes their weights).")
    def fund_criteria(self) -> list[FundCriterion]:
        return [FundCriterion(key=c.key, name=c.name, description=c.description) for c in CRITERIA]

    @strawberry.field(
        description="Fund rounds you may see (DRAFT rounds: Fund administrators only), newest window first."
    )
    async def fund_rounds(
        self,
        info: Info,
        filter: FundRoundFilter | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[FundRound]:
        ctx = info.context
        args = page_args(first, after, last, before)
        statuses = list(filter.statuses) if filter and filter.statuses is not None else None
        async with ctx.read_session() as session:
            page = await service.list_rounds(session=session, principal=ctx.principal, statuses=statuses, page=args)

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await service.count_rounds(session=session, principal=ctx.principal, statuses=statuses)

        return connection(page, lambda row: FundRound(row=row), counter)

    @strawberry.field(description="Fund applications you may see, in rank order under their round's criteria in force.")
    async def fund_applications(
        self,
        info: Info,
        filter: FundApplicationFilter | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[FundApplication]:
        rounds = (
            [expect_int_id(r, "FundRound", argument="filter.rounds") for r in filter.rounds]
            if filter and filter.rounds is not None
            else None
        )
        states = list(filter.states) if filter and filter.states is not None else None
        return await _applications(info, rounds, states, page_args(first, after, last, before))


# -- mutations ---------------------------------------------------------------------------------


@strawberry.type(description="The round after the change, or what was wrong.")
class FundRoundPayload:
    round: FundRound | None = strawberry.field(description="The round (null when userErrors is not empty).")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.type(description="The new criteria version and what moved, or what was wrong.")
class FundCriteriaPayload:
    round: FundRound | None = strawberry.field(description="The round, now under the new version.")
    criteria: FundCriteriaVersion | None = strawberry.field(description="The new criteria version.")
    movements: list[FundRankMovement] = strawberry.field(
        description="Each application's rank and score under the previous version and the new one, in the new rank order."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.type(description="The application, or what was wrong.")
class FundApplicationPayload:
    application: FundApplication | None = strawberry.field(
        description="The application, scored under the criteria in force."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="A criterion's weight.")
class FundCriterionWeightInput:
    criterion: str = strawberry.field(description="The criterion's key (see `fundCriteria`).")
    weight: float = strawberry.field(description="Its weight, 0 to 1000 (0 switches it off).")


def _weights(items: list[FundCriterionWeightInput] | None) -> dict[str, float] | None:
    if items is None:
        return None
    repeated = sorted({i.criterion for i in items if sum(j.criterion == i.criterion for j in items) > 1})
    if repeated:
        raise InvalidInput(f"Give each criterion one weight; repeated: {', '.join(repeated)}.", field="input.weights")
    return {i.criterion: i.weight for i in items}


@strawberry.input(description="A new Fund round (Fund administrators). It starts as a DRAFT with criteria version 1.")
class CreateFundRoundInput:
    name: str = strawberry.field(description='A unique name, e.g. "2027 round".')
    description: str | None = strawberry.field(default=None, description="What it funds.")
    budget: MoneyInput = strawberry.field(description="The budget (a currency with a rate in the rate table).")
    opens_on: dt.date = strawberry.field(description="First day applications are taken.")
    closes_on: dt.date = strawberry.field(description="Last day applications are taken.")
    min_partial_share: Decimal | None = strawberry.field(
        default=None, description="Partial funding rule (0 < share ≤ 1; 0.5 when omitted)."
    )
    weights: list[FundCriterionWeightInput] | None = strawberry.field(
        default=None, description="A weight for every criterion; the defaults when omitted."
    )
    note: str | None = strawberry.field(default=None, description="Why these criteria (published with them).")


@strawberry.input(description="Open or close a round.")
class FundRoundTransitionInput:
    id: strawberry.ID = strawberry.field(description="ID of the round.")


@strawberry.input(
    description="Publish new criteria weights for a round (not yet allocated); every application is rescored and re-ranked."
)
class SetFundCriteriaInput:
    round_id: strawberry.ID = strawberry.field(description="ID of the round.")
    weights: list[FundCriterionWeightInput] = strawberry.field(description="A weight for every criterion.")
    note: str = strawberry.field(description="Why the weights changed (published with them).")


@strawberry.input(description="A State's application to an OPEN round (the State's focal points).")
class SubmitFundApplicationInput:
    round_id: strawberry.ID = strawberry.field(description="ID of the round.")
    state: str = strawberry.field(description="ISO 3166 alpha-3 code of your State.")
    title: str = strawberry.field(description="What you ask support for.")
    summary: str | None = strawberry.field(default=None, description="The project in brief.")
    requested: MoneyInput = strawberry.field(description="Amount requested, in the round's currency.")
    co_financing: Decimal | None = strawberry.field(
        default=None, description="Co-financing of the same project, in the round's currency."
    )
    need_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="IDs of your State's needs the project serves (at most 50)."
    )


@strawberry.input(description="Approve a closed round's allocation proposal (Fund administrators).")
class ApproveFundAllocationInput:
    round_id: strawberry.ID = strawberry.field(description="ID of a CLOSED round.")
    criteria_version: int = strawberry.field(
        description="The criteria version whose proposal you reviewed (must be the one in force)."
    )
    note: str | None = strawberry.field(default=None, description="A note published with the decisions.")


async def _round_payload(info: Info, action: Callable[[Any], Awaitable[RoundRow]]) -> FundRoundPayload:
    try:
        async with info.context.write_session() as session:
            row = await action(session)
    except ValidationFailed as failure:
        return FundRoundPayload(round=None, user_errors=user_errors(failure))
    return FundRoundPayload(round=FundRound(row=row), user_errors=[])


@strawberry.type(description="The UPR Voluntary Fund.")
class FundMutation:
    @strawberry.mutation(description="Create a Fund round as a DRAFT (Fund administrators and administrators).")
    async def create_fund_round(self, info: Info, input: CreateFundRoundInput) -> FundRoundPayload:
        values = service.RoundFields(
            name=input.name,
            description=input.description or "",
            budget=input.budget.amount,
            currency=input.budget.currency,
            opens_on=input.opens_on,
            closes_on=input.closes_on,
            min_partial_share=input.min_partial_share,
            weights=_weights(input.weights),
            note=input.note or "",
        )
        return await _round_payload(
            info, lambda session: service.create_round(session=session, principal=info.context.principal, values=values)
        )

    @strawberry.mutation(description="Open a DRAFT round for applications (Fund administrators and administrators).")
    async def open_fund_round(self, info: Info, input: FundRoundTransitionInput) -> FundRoundPayload:
        round_id = expect_int_id(input.id, "FundRound", argument="input.id")
        return await _round_payload(
            info,
            lambda session: service.change_round_status(
                session=session, principal=info.context.principal, round_id=round_id, to=DomainFundRoundStatus.OPEN
            ),
        )

    @strawberry.mutation(
        description="Close an OPEN round: applications are rescored and the allocation proposal can be reviewed."
    )
    async def close_fund_round(self, info: Info, input: FundRoundTransitionInput) -> FundRoundPayload:
        round_id = expect_int_id(input.id, "FundRound", argument="input.id")
        return await _round_payload(
            info,
            lambda session: service.change_round_status(
                session=session, principal=info.context.principal, round_id=round_id, to=DomainFundRoundStatus.CLOSED
            ),
        )

    @strawberry.mutation(
        description="Publish new criteria weights (a new version); applications are re-ranked and the movement reported."
    )
    async def set_fund_criteria(self, info: Info, input: SetFundCriteriaInput) -> FundCriteriaPayload:
        round_id = expect_int_id(input.round_id, "FundRound", argument="input.roundId")
        try:
            async with info.context.write_session() as session:
                row, version, moved = await service.set_weights(
                    session=session,
                    principal=info.context.principal,
                    round_id=round_id,
                    weights=_weights(input.weights) or {},
                    note=input.note,
                )
        except ValidationFailed as failure:
            return FundCriteriaPayload(round=None, criteria=None, movements=[], user_errors=user_errors(failure))
        return FundCriteriaPayload(
            round=FundRound(row=row),
            criteria=FundCriteriaVersion(row=version),
            movements=[FundRankMovement(movement=m) for m in moved],
            user_errors=[],
        )

    @strawberry.mutation(description="Apply to an OPEN round for your State (its focal points); scored at once.")
    async def submit_fund_application(self, info: Info, input: SubmitFundApplicationInput) -> FundApplicationPayload:
        round_id = expect_int_id(input.round_id, "FundRound", argument="input.roundId")
        need_ids = [expect_int_id(n, "Need", argument="input.needIds") for n in input.need_ids or []]
        values = service.ApplicationFields(
            round_id=round_id,
            state_iso3=input.state,
            title=input.title,
            summary=input.summary or "",
            requested=input.requested.amount,
            currency=input.requested.currency,
            co_financing=input.co_financing if input.co_financing is not None else Decimal(0),
            need_ids=need_ids,
        )
        try:
            async with info.context.write_session() as session:
                row = await service.submit_application(session=session, principal=info.context.principal, values=values)
        except ValidationFailed as failure:
            return FundApplicationPayload(application=None, user_errors=user_errors(failure))
        return FundApplicationPayload(application=FundApplication(row=row), user_errors=[])

    @strawberry.mutation(
        description="Approve a CLOSED round's allocation proposal (Fund administrators only): decisions are written and the report becomes public."
    )
    async def approve_fund_allocation(self, info: Info, input: ApproveFundAllocationInput) -> FundRoundPayload:
        round_id = expect_int_id(input.round_id, "FundRound", argument="input.roundId")
        return await _round_payload(
            info,
            lambda session: service.approve_allocation(
                session=session,
                principal=info.context.principal,
                round_id=round_id,
                criteria_version=input.criteria_version,
                note=input.note or "",
            ),
        )
