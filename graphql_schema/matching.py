"""GraphQL for matching: explainable matches, criteria, opportunities, funding gaps, lessons,
and the match lifecycle mutations. Resolvers call service.matching."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from graphql_schema.common import Money, MoneyInput, OrderDirection, UserError, descending, money, user_errors
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
from service.matching import lifecycle, queries
from service.models.matching import Match as MatchRow
from service.models.matching import MatchStatus as DomainMatchStatus
from service.models.matching import OfferKind as DomainOfferKind
from service.needs import CostRange
from service.pagination import PageArgs

if TYPE_CHECKING:  # strawberry.lazy names, resolved at schema build time
    from graphql_schema.relay import PageInfo


if TYPE_CHECKING:
    from graphql_schema.needs import Need
    from graphql_schema.offers import Capability, Organization, Programme

MatchStatus = strawberry.enum(
    DomainMatchStatus,
    name="MatchStatus",
    description="SUGGESTED → PROPOSED → ENDORSED/DECLINED → AGREED → ACTIVE → COMPLETED; or WITHDRAWN.",
)
OfferKind = strawberry.enum(
    DomainOfferKind, name="OfferKind", description="What kind of offer a match links a need to."
)
GapGrouping = strawberry.enum(
    queries.GapGrouping, name="FundingGapGrouping", description="How funding gaps are grouped."
)
OpportunityOrderField = strawberry.enum(
    queries.OpportunityOrderField, name="OpportunityOrderField", description="Fields opportunities can be ordered by."
)


@strawberry.type(description="One criterion's contribution to a match score.")
class CriterionScore:
    criterion: str = strawberry.field(description="Its key in `matchingCriteria`.")
    weight: float = strawberry.field(description="Its weight in the criteria version that scored the match.")
    score: float = strawberry.field(description="Its score, 0..1.")
    explanation: str = strawberry.field(description="Why, in a sentence a person understands.")


@strawberry.type(description="Who moved a match, when, from where to where, and why.")
class MatchTransition:
    from_status: MatchStatus = strawberry.field(description="Status before.")  # type: ignore[valid-type]
    to_status: MatchStatus = strawberry.field(description="Status after.")  # type: ignore[valid-type]
    actor: str = strawberry.field(description="Who: api-key:N or token:SUBJECT.")
    actor_role: str = strawberry.field(description="The actor's role.")
    reason: str | None = strawberry.field(description="Why, when given.")
    occurred_at: dt.datetime = strawberry.field(description="When (UTC).")


@strawberry.type(description="A need linked to a programme or capability, with an explainable score and a lifecycle.")
class Match(Node):
    row: strawberry.Private[MatchRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Match", self.row.id))

    @strawberry.field(description="Overall score, 0..1: the weighted mean of the criteria.")
    def score(self) -> float:
        return self.row.score

    @strawberry.field(description="Every scored criterion, zeros included.")
    async def breakdown(self, info: Info) -> list[CriterionScore]:
        items = sa.inspect(self.row).dict.get("breakdown")  # read paths defer it (queries.DEFERRED)
        if items is None:

            async def batch(session, ids):
                return await queries.breakdown_of(session=session, match_ids=ids)

            items = await info.context.loader("match.breakdown", batch, default=[]).load(self.row.id)
        return [CriterionScore(**item) for item in items]

    @strawberry.field(description="Version of `matchingCriteria` that scored it.")
    def criteria_version(self) -> int:
        return self.row.criteria_version

    @strawberry.field(description="Where it is in its lifecycle.")
    def status(self) -> MatchStatus:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field(description="Statuses this match may move to next (by someone).")
    def allowed_transitions(self) -> list[MatchStatus]:  # type: ignore[valid-type]
        return [s.to for s in lifecycle.TRANSITIONS[self.row.status]]

    @strawberry.field(description="A programme or a capability.")
    def offer_kind(self) -> OfferKind:  # type: ignore[valid-type]
        return self.row.offer_kind

    @strawberry.field(description="The need.")
    async def need(self, info: Info) -> Annotated["Need", strawberry.lazy("graphql_schema.needs")]:
        from graphql_schema.needs import load_need

        need = await load_need(info, self.row.need_id)
        assert need is not None  # the match was loaded under the need's visibility
        return need

    @strawberry.field(description="The programme, when the offer is one.")
    async def programme(self, info: Info) -> Annotated["Programme", strawberry.lazy("graphql_schema.offers")] | None:
        if self.row.programme_id is None:
            return None
        from graphql_schema.offers import load_programme

        return await load_programme(info, self.row.programme_id)

    @strawberry.field(description="The capability, when the offer is one.")
    async def capability(self, info: Info) -> Annotated["Capability", strawberry.lazy("graphql_schema.offers")] | None:
        if self.row.capability_id is None:
            return None
        from graphql_schema.offers import load_capability

        return await load_capability(info, self.row.capability_id)

    @strawberry.field(description="The offering organization.")
    async def organization(
        self, info: Info
    ) -> Annotated["Organization", strawberry.lazy("graphql_schema.offers")] | None:
        from graphql_schema.offers import load_organization

        return await load_organization(info, self.row.organization_id)

    @strawberry.field(description="The proposer's message to the State.")
    def message(self) -> str | None:
        return self.row.message

    @strawberry.field(description="Amount offered with the proposal.")
    def amount_offered(self) -> Money | None:
        return money(self.row.amount_offered, self.row.currency)

    @strawberry.field(description="Amount agreed: the need's funding once AGREED.")
    def agreed_amount(self) -> Money | None:
        return money(self.row.agreed_amount, self.row.currency)

    @strawberry.field(description="Lessons learned and good practices of a completed engagement.")
    def lessons_learned(self) -> str | None:
        return self.row.lessons_learned

    @strawberry.field(description="Every transition: who, when, why.")
    async def history(self, info: Info) -> list[MatchTransition]:
        async def batch(session, ids):
            return await queries.transitions_of(session=session, match_ids=ids)

        rows = await info.context.loader("match.history", batch, default=[]).load(self.row.id)
        return [
            MatchTransition(
                from_status=r.from_status,
                to_status=r.to_status,
                actor=r.actor,
                actor_role=r.actor_role,
                reason=r.reason,
                occurred_at=r.occurred_at,
            )
            for r in rows
        ]

    @strawberry.field(description="When it was first computed or proposed (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at


def wrap_match(row: MatchRow) -> Match:
    return Match(row=row)


async def load_match(info: Info, match_id: int) -> Match | None:
    ctx = info.context

    async def batch(session, ids):
        return await queries.get_matches(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("match", batch).load(match_id)
    return Match(row=row) if row else None


async def nested_matches(
    info: Info,
    parent: str,
    parent_id: int,
    min_score: float | None,
    statuses: list[DomainMatchStatus] | None,
    args: PageArgs,
) -> Connection[Match]:
    """`need.matches`, `programme.matches`, `capability.matches`: one batch per request."""
    if min_score is not None and not 0 <= min_score <= 1:
        raise InvalidInput(f"`minScore` must be between 0 and 1; got {min_score}.", field="minScore")
    ctx = info.context
    status_key = tuple(statuses) if statuses is not None else None

    async def batch(session, ids):
        return await queries.matches_per_parent(
            session=session,
            principal=ctx.principal,
            parent=parent,
            parent_ids=ids,
            min_score=min_score,
            statuses=statuses,
            page=args,
        )

    async def count_batch(session, ids):
        return await queries.count_matches_per_parent(
            session=session,
            principal=ctx.principal,
            parent=parent,
            parent_ids=ids,
            min_score=min_score,
            statuses=statuses,
        )

    page = await ctx.loader(f"{parent}.matches", batch, args=(args, min_score, status_key)).load(parent_id)
    count_loader = ctx.loader(f"{parent}.matches.count", count_batch, args=(min_score, status_key), default=0)
    return connection(page, wrap_match, lambda: count_loader.load(parent_id))


MIN_SCORE = strawberry.argument(description="Only matches scoring at least this (0..1).")
STATUSES = strawberry.argument(description="Only matches in these statuses.")


# -- criteria, gaps, opportunities, lessons --------------------------------------------------


@strawberry.type(description="A scored criterion and its weight in the current version.")
class MatchingCriterion:
    key: str = strawberry.field(description="Key used in `Match.breakdown`.")
    name: str = strawberry.field(description="Human-readable name.")
    description: str = strawberry.field(description="How the score is computed.")
    weight: float = strawberry.field(description="Weight in the current version.")


@strawberry.type(description="The published, versioned matching criteria (resolution 21/21 para 15).")
class MatchingCriteria:
    version: int = strawberry.field(description="Version number; each match records the version that scored it.")
    note: str = strawberry.field(description="What changed in this version.")
    published_at: dt.datetime = strawberry.field(description="When it was published (UTC).")
    criteria: list[MatchingCriterion] = strawberry.field(description="Every scored criterion.")
    geographic_rule: str = strawberry.field(description="Geography is a filter, not a score: how it applies.")


@strawberry.type(description="Cost, agreed funding and gap in USD for one group of needs.")
class FundingGap:
    key: str = strawberry.field(description="Theme code, M49 sub-region code, ISO3 code or DAC sector code.")
    label: str = strawberry.field(description="Readable name of the group.")
    needs: int = strawberry.field(description="Number of needs in the group.")
    cost: Money = strawberry.field(description="Estimated cost in USD.")
    funded: Money = strawberry.field(description="Agreed funding in USD.")
    gap: Money = strawberry.field(description="Cost minus funding, in USD.")


@strawberry.input(description="Filter of opportunities. Lists mean any of; several fields mean all of.")
class OpportunityFilter:
    states: list[str] | None = strawberry.field(default=None, description="ISO3 codes of requesting States.")
    regions: list[str] | None = strawberry.field(default=None, description="UN M49 region codes.")
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes.")
    sectors: list[str] | None = strawberry.field(default=None, description="DAC 5-digit codes or 3-digit categories.")
    cost_min: Decimal | None = strawberry.field(default=None, description="Lowest estimated cost.")
    cost_max: Decimal | None = strawberry.field(default=None, description="Highest estimated cost.")
    cost_currency: str = strawberry.field(default="USD", description="Currency of costMin and costMax.")
    min_score: float | None = strawberry.field(
        default=None, description="Only needs whose best match scores at least this."
    )
    search: str | None = strawberry.field(default=None, description="Full-text search over the needs.")

    def to_domain(self) -> queries.OpportunityFilter:
        cost = None
        if self.cost_min is not None or self.cost_max is not None:
            cost = CostRange(self.cost_min, self.cost_max, self.cost_currency.upper())
        return queries.OpportunityFilter(
            states=self.states,
            regions=self.regions,
            themes=self.themes,
            sectors=self.sectors,
            cost=cost,
            min_score=self.min_score,
            search=self.search,
        )


@strawberry.input(description="Order of opportunities; the need's ID breaks ties.")
class OpportunityOrder:
    field: OpportunityOrderField = strawberry.field(description="What to sort by.")  # type: ignore[valid-type]
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")


@strawberry.type(description="A need open to you, with its best match to your own programmes and capabilities.")
class Opportunity:
    score: float = strawberry.field(description="Best match score against your offers.")
    need_row: strawberry.Private[Any]
    best_match_id: strawberry.Private[int]

    @strawberry.field(description="The need.")
    def need(self) -> Annotated["Need", strawberry.lazy("graphql_schema.needs")]:
        from graphql_schema.needs import Need

        return Need(row=self.need_row)

    @strawberry.field(description="Your best-scoring match for it, with its breakdown.")
    async def best_match(self, info: Info) -> Match | None:
        return await load_match(info, self.best_match_id)


@strawberry.type(description="A page of opportunities.")
class OpportunityEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: Opportunity = strawberry.field(description="The opportunity.")


@strawberry.type(description="Opportunities for a donor or agency, ranked by fit to its own offers.")
class OpportunityConnection:
    edges: list[OpportunityEdge] = strawberry.field(description="The opportunities of this page.")
    page_info: Annotated["PageInfo", strawberry.lazy("graphql_schema.relay")] = strawberry.field(
        description="Pagination state."
    )
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of opportunities under the filter.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(description="Matching, opportunities and funding.")
class MatchingQuery:
    @strawberry.field(description="The published criteria and weights that score every match.")
    async def matching_criteria(self, info: Info) -> MatchingCriteria:
        async with info.context.read_session() as session:
            version, criteria = await queries.matching_criteria(session=session)
        return MatchingCriteria(
            version=version.version,
            note=version.note,
            published_at=version.created_at,
            criteria=[
                MatchingCriterion(key=c.key, name=c.name, description=c.description, weight=c.weight) for c in criteria
            ],
            geographic_rule=(
                "An offer is a candidate only where it works: a programme's recipient States, the States of its "
                "recipient regions, or anywhere when global; a capability's regions served (M49). "
                "Programmes must be open to requests and in pipeline or implementation."
            ),
        )

    @strawberry.field(
        description="Needs open to you (donors and agencies), ranked by fit to your own programmes and capabilities."
    )
    async def opportunities(
        self,
        info: Info,
        filter: OpportunityFilter | None = None,
        order_by: OpportunityOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> OpportunityConnection:
        from graphql_schema.relay import PageInfo

        ctx = info.context
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        field = order_by.field if order_by else queries.OpportunityOrderField.SCORE
        desc = descending(order_by.direction) if order_by else True
        async with ctx.read_session() as session:
            page = await queries.opportunities(
                session=session,
                principal=ctx.principal,
                opportunity_filter=domain_filter,
                order=field,
                descending=desc,
                page=args,
            )

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await queries.count_opportunities(
                    session=session, principal=ctx.principal, opportunity_filter=domain_filter
                )

        return OpportunityConnection(
            edges=[
                OpportunityEdge(
                    cursor=c, node=Opportunity(score=o.score, need_row=o.need, best_match_id=o.best_match_id)
                )
                for c, o in zip(page.cursors, page.items)
            ],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.start_cursor,
                end_cursor=page.end_cursor,
            ),
            counter=counter,
        )

    @strawberry.field(
        description="Estimated cost, agreed funding and the gap in USD, grouped, over the needs you may see."
    )
    async def funding_gaps(
        self,
        info: Info,
        group_by: Annotated[GapGrouping, strawberry.argument(description="THEME, REGION, STATE or SECTOR.")],  # type: ignore[valid-type]
    ) -> list[FundingGap]:
        async with info.context.read_session() as session:
            rows = await queries.funding_gaps(session=session, principal=info.context.principal, group_by=group_by)
        return [
            FundingGap(
                key=r.key,
                label=r.label,
                needs=r.needs,
                cost=Money(amount=r.cost_usd, currency="USD"),
                funded=Money(amount=r.funded_usd, currency="USD"),
                gap=Money(amount=r.gap_usd, currency="USD"),
            )
            for r in rows
        ]

    @strawberry.field(description="Lessons learned and good practices of completed engagements you may see.")
    async def lessons(
        self,
        info: Info,
        search: Annotated[str | None, strawberry.argument(description="Full-text search over the lessons.")] = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Match]:
        ctx = info.context
        args = page_args(first, after, last, before)
        async with ctx.read_session() as session:
            page = await queries.lessons(session=session, principal=ctx.principal, search=search, page=args)

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await queries.count_lessons(session=session, principal=ctx.principal, search=search)

        return connection(page, wrap_match, counter)


# -- mutations -------------------------------------------------------------------------------


@strawberry.type(description="The match after the change, or what was wrong.")
class MatchPayload:
    match: Match | None = strawberry.field(description="The match (null when userErrors is not empty).")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="Propose a suggested match to the State (the offering donor or agency).")
class ProposeMatchInput:
    id: strawberry.ID = strawberry.field(description="ID of a SUGGESTED match of one of your offers.")
    message: str = strawberry.field(description="What you offer and how.")
    amount_offered: MoneyInput | None = strawberry.field(default=None, description="Amount you offer, if any.")


@strawberry.input(description="Move a match along its lifecycle.")
class MatchTransitionInput:
    id: strawberry.ID = strawberry.field(description="ID of the match.")
    reason: str | None = strawberry.field(default=None, description="Why (kept in its history).")


@strawberry.input(description="Confirm an endorsed match (the proposer).")
class AgreeMatchInput:
    id: strawberry.ID = strawberry.field(description="ID of an ENDORSED match.")
    agreed_amount: MoneyInput | None = strawberry.field(
        default=None, description="The amount agreed; the amount offered when omitted."
    )
    reason: str | None = strawberry.field(default=None, description="Why (kept in its history).")


@strawberry.input(description="Lessons learned / good practices of a completed engagement.")
class RecordLessonsInput:
    id: strawberry.ID = strawberry.field(description="ID of a COMPLETED match.")
    lessons: str = strawberry.field(description="What worked, what did not, what others can reuse.")


async def _run(info: Info, action: Callable[[Any], Awaitable[MatchRow]]) -> MatchPayload:
    try:
        async with info.context.write_session() as session:
            row = await action(session)
    except ValidationFailed as failure:
        return MatchPayload(match=None, user_errors=user_errors(failure))
    return MatchPayload(match=Match(row=row), user_errors=[])


def _move(info: Info, raw_id: str, to: DomainMatchStatus, reason: str | None, **extra: Any):
    match_id = expect_int_id(raw_id, "Match", argument="input.id")
    return _run(
        info,
        lambda session: lifecycle.transition(
            session=session, principal=info.context.principal, match_id=match_id, to=to, reason=reason, **extra
        ),
    )


@strawberry.type(description="The match lifecycle.")
class MatchingMutation:
    @strawberry.mutation(description="Propose a suggested match to the need's State (offering donor or agency).")
    async def propose_match(self, info: Info, input: ProposeMatchInput) -> MatchPayload:
        amount = input.amount_offered
        return await _move(
            info,
            input.id,
            DomainMatchStatus.PROPOSED,
            None,
            message=input.message,
            amount=amount.amount if amount else None,
            currency=amount.currency if amount else None,
        )

    @strawberry.mutation(description="Endorse a proposal (the need's State): only this makes it an engagement.")
    async def endorse_match(self, info: Info, input: MatchTransitionInput) -> MatchPayload:
        return await _move(info, input.id, DomainMatchStatus.ENDORSED, input.reason)

    @strawberry.mutation(description="Decline a proposal (the need's State).")
    async def decline_match(self, info: Info, input: MatchTransitionInput) -> MatchPayload:
        return await _move(info, input.id, DomainMatchStatus.DECLINED, input.reason)

    @strawberry.mutation(
        description="Confirm an endorsed match (the proposer); the agreed amount becomes the need's funding."
    )
    async def agree_match(self, info: Info, input: AgreeMatchInput) -> MatchPayload:
        amount = input.agreed_amount
        return await _move(
            info,
            input.id,
            DomainMatchStatus.AGREED,
            input.reason,
            amount=amount.amount if amount else None,
            currency=amount.currency if amount else None,
        )

    @strawberry.mutation(description="Record that an agreed engagement has started (either side).")
    async def activate_match(self, info: Info, input: MatchTransitionInput) -> MatchPayload:
        return await _move(info, input.id, DomainMatchStatus.ACTIVE, input.reason)

    @strawberry.mutation(description="Record that an engagement is completed (either side).")
    async def complete_match(self, info: Info, input: MatchTransitionInput) -> MatchPayload:
        return await _move(info, input.id, DomainMatchStatus.COMPLETED, input.reason)

    @strawberry.mutation(description="Withdraw from a match before completion (either side).")
    async def withdraw_match(self, info: Info, input: MatchTransitionInput) -> MatchPayload:
        return await _move(info, input.id, DomainMatchStatus.WITHDRAWN, input.reason)

    @strawberry.mutation(description="Record lessons learned on a completed engagement (either side).")
    async def record_lessons(self, info: Info, input: RecordLessonsInput) -> MatchPayload:
        match_id = expect_int_id(input.id, "Match", argument="input.id")
        return await _run(
            info,
            lambda session: lifecycle.record_lessons(
                session=session, principal=info.context.principal, match_id=match_id, lessons=input.lessons
            ),
        )
