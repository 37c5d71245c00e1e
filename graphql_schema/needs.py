"""GraphQL types, inputs and mutations for assistance needs. Resolvers call `service.needs`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Hashable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from graphql_schema.common import (
    Modality,
    Money,
    MoneyInput,
    NeedStatus,
    OrderDirection,
    RightsDimension,
    StakeholderKind,
    UserError,
    Visibility,
    descending,
    money,
    user_errors,
)
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
from graphql_schema.states import State, load_state
from service import needs as service
from service import recommendations as recommendations_service
from service import stakeholder_input as stakeholder_input_service
from service.errors import ValidationFailed
from service.models import AssistanceNeed, NeedStakeholder
from service.models import StakeholderInput as StakeholderInputRow
from service.models.enums import NeedStatus as DomainNeedStatus
from service.pagination import PageArgs

if TYPE_CHECKING:  # strawberry.lazy names, resolved at schema build time
    from graphql_schema.matching import Match, MatchStatus


if TYPE_CHECKING:
    from graphql_schema.recommendations import Pledge, Recommendation, RecommendationFilter
    from graphql_schema.tracking import ImplementationAction

NeedOrderField = strawberry.enum(
    service.NeedOrderField,
    name="NeedOrderField",
    description="Fields needs can be ordered by. RELEVANCE needs a `search` text; ESTIMATED_COST compares in USD.",
)


@strawberry.input(description="Order of a needs list; the ID breaks ties so pages are stable.")
class NeedOrder:
    field: NeedOrderField = strawberry.field(description="What to sort by.")  # type: ignore[valid-type]
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")

    def to_domain(self) -> service.NeedOrder:
        return service.NeedOrder(self.field, descending(self.direction))


@strawberry.input(description="A range of estimated cost, compared through the currency rate table.")
class CostRangeInput:
    min: Decimal | None = strawberry.field(default=None, description="Lowest estimated cost, inclusive.")
    max: Decimal | None = strawberry.field(default=None, description="Highest estimated cost, inclusive.")
    currency: str = strawberry.field(default="USD", description="ISO 4217 currency of min and max.")


@strawberry.input(description="Filter of a needs list. Lists mean any of; several fields mean all of.")
class NeedFilter:
    states: list[str] | None = strawberry.field(
        default=None, description="ISO 3166 alpha-3 codes of the requesting States."
    )
    regions: list[str] | None = strawberry.field(
        default=None, description="UN M49 region, sub-region or intermediate region codes (001 is the world)."
    )
    regional_groups: list[str] | None = strawberry.field(default=None, description="UN regional groups, e.g. AFRICAN.")
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes, e.g. JUSTICE.")
    sectors: list[str] | None = strawberry.field(
        default=None, description="DAC 5-digit sector codes, or 3-digit categories (151 matches 15130, 15160, …)."
    )
    sdgs: list[str] | None = strawberry.field(default=None, description='SDG goals ("16") or targets ("16.3").')
    statuses: list[NeedStatus] | None = strawberry.field(default=None, description="Lifecycle statuses.")
    visibilities: list[Visibility] | None = strawberry.field(
        default=None, description="Visibilities (only needs you may see are ever listed)."
    )
    cost: CostRangeInput | None = strawberry.field(default=None, description="Estimated cost range.")
    search: str | None = strawberry.field(
        default=None,
        description='Full-text search over title and description (web-search syntax: words, "phrases", OR, -word).',
    )
    updated_since: dt.datetime | None = strawberry.field(
        default=None, description="Only needs changed at or after this time (UTC)."
    )

    def to_domain(self) -> service.NeedFilter:
        cost = None
        if self.cost is not None:
            cost = service.CostRange(self.cost.min, self.cost.max, self.cost.currency.upper())
        return service.NeedFilter(
            states=self.states,
            regions=self.regions,
            regional_groups=self.regional_groups,
            themes=self.themes,
            sectors=self.sectors,
            sdgs=self.sdgs,
            statuses=self.statuses,
            visibilities=self.visibilities,
            cost=cost,
            search=self.search,
            updated_since=self.updated_since,
        )


def filter_key(value: Any) -> Hashable:
    """A hashable key for loader caching from a strawberry input (or None)."""
    if value is None:
        return None
    if hasattr(value, "__dataclass_fields__"):
        return tuple((k, filter_key(getattr(value, k))) for k in value.__dataclass_fields__)
    if isinstance(value, list):
        return tuple(filter_key(v) for v in value)
    return value


@strawberry.type(description="A national stakeholder involved in a need (ministry, NHRI, civil society …).")
class NationalStakeholder:
    name: str = strawberry.field(description="Name of the body.")
    kind: StakeholderKind = strawberry.field(description="Kind of body.")


@strawberry.type(
    description="A technical-assistance need published by a State under review, tied to the UPR recommendations and pledges it implements."
)
class Need(Node):
    row: strawberry.Private[AssistanceNeed]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Need", self.row.id))

    @strawberry.field(description="Short title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="What is needed, and why.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The State asking for assistance.")
    async def state(self, info: Info) -> State:
        state = await load_state(info, self.row.state_iso3)
        assert state is not None
        return state

    @strawberry.field(description="Theme codes (see `themes`).")
    def themes(self) -> list[str]:
        return list(self.row.themes)

    @strawberry.field(description="DAC 5-digit sector codes.")
    def sectors(self) -> list[str]:
        return list(self.row.sectors)

    @strawberry.field(description="SDG target codes, e.g. 16.3.")
    def sdg_targets(self) -> list[str]:
        return list(self.row.sdg_targets)

    @strawberry.field(description="Rights dimensions the need touches.")
    def rights_dimensions(self) -> list[RightsDimension]:
        return [RightsDimension(v) for v in self.row.rights_dimensions]

    @strawberry.field(description="How the assistance would be delivered.")
    def modalities(self) -> list[Modality]:
        return [Modality(v) for v in self.row.modalities]

    @strawberry.field(description="ISO 639-1 codes of the languages the work would be done in.")
    def working_languages(self) -> list[str]:
        return list(self.row.working_languages)

    @strawberry.field(description="Estimated cost, when known.")
    def estimated_cost(self) -> Money | None:
        return money(self.row.estimated_cost, self.row.currency)

    @strawberry.field(description="When the work would start.")
    def start_date(self) -> dt.date | None:
        return self.row.start_date

    @strawberry.field(description="When the work would end.")
    def end_date(self) -> dt.date | None:
        return self.row.end_date

    @strawberry.field(description="Lifecycle status.")
    def status(self) -> NeedStatus:
        return self.row.status

    @strawberry.field(description="Statuses this need may move to next.")
    def allowed_transitions(self) -> list[NeedStatus]:
        return sorted(service.allowed_transitions(self.row.status), key=lambda s: list(DomainNeedStatus).index(s))

    @strawberry.field(description="Who may see this need.")
    def visibility(self) -> Visibility:
        return self.row.visibility

    @strawberry.field(description="When the State submitted it.")
    def submitted_at(self) -> dt.datetime | None:
        return self.row.submitted_at

    @strawberry.field(description="When it was created (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field(description="National stakeholders involved (ministries, NHRI, civil society …).")
    async def national_stakeholders(self, info: Info) -> list[NationalStakeholder]:
        async def batch(session, ids):
            return await service.stakeholders_of(session=session, need_ids=ids)

        rows: list[NeedStakeholder] = await info.context.loader("need.stakeholders", batch, default=[]).load(
            self.row.id
        )
        return [NationalStakeholder(name=r.name, kind=r.kind) for r in rows]

    @strawberry.field(description="The UPR recommendations this need implements.")
    async def recommendations(
        self,
        info: Info,
        filter: Annotated["RecommendationFilter", strawberry.lazy("graphql_schema.recommendations")] | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Recommendation", strawberry.lazy("graphql_schema.recommendations")]]:
        from graphql_schema.recommendations import Recommendation

        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        ctx = info.context

        async def batch(session, ids):
            return await recommendations_service.recommendations_per_need(
                session=session, need_ids=ids, recommendation_filter=domain_filter, order=None, page=args
            )

        async def count_batch(session, ids):
            return await recommendations_service.count_recommendations_per_need(
                session=session, need_ids=ids, recommendation_filter=domain_filter
            )

        key = (args, filter_key(filter))
        page = await ctx.loader("need.recommendations", batch, args=key).load(self.row.id)
        count_loader = ctx.loader("need.recommendations.count", count_batch, args=filter_key(filter), default=0)
        return connection(page, lambda r: Recommendation(row=r), lambda: count_loader.load(self.row.id))

    @strawberry.field(description="The voluntary pledges this need implements.")
    async def pledges(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Pledge", strawberry.lazy("graphql_schema.recommendations")]]:
        from graphql_schema.recommendations import Pledge

        args = page_args(first, after, last, before)
        ctx = info.context

        async def batch(session, ids):
            return await recommendations_service.pledges_per_need(session=session, need_ids=ids, page=args)

        page = await ctx.loader("need.pledges", batch, args=args).load(self.row.id)

        async def counter() -> int:
            async with ctx.read_session() as session:
                ids = await service.pledge_ids_of(session=session, need_ids=[self.row.id])
            return len(ids[self.row.id])

        return connection(page, lambda r: Pledge(row=r), counter)

    @strawberry.field(
        description="Programmes and capabilities matched to this need, best first (ties by ID), each with its score breakdown."
    )
    async def matches(
        self,
        info: Info,
        min_score: Annotated[
            float | None, strawberry.argument(description="Only matches scoring at least this (0..1).")
        ] = None,
        statuses: Annotated[
            list[Annotated["MatchStatus", strawberry.lazy("graphql_schema.matching")]] | None,
            strawberry.argument(description="Only matches in these statuses."),
        ] = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Match", strawberry.lazy("graphql_schema.matching")]]:
        from graphql_schema.matching import nested_matches

        return await nested_matches(
            info, "need", self.row.id, min_score, statuses, page_args(first, after, last, before)
        )

    @strawberry.field(
        description="Agreed funding (engaged matches) in the need's currency, and the gap to its estimated cost."
    )
    async def funding(self, info: Info) -> Annotated["NeedFunding", strawberry.lazy("graphql_schema.needs")]:
        from service.matching import queries as matching_queries

        async def batch(session, ids):
            return await matching_queries.funding_of(session=session, need_ids=ids)

        funded, gap = await info.context.loader("need.funding", batch, default=(None, None)).load(self.row.id)
        currency = self.row.currency
        return NeedFunding(
            agreed=money(funded, currency) if funded is not None else None,
            gap=money(gap, currency) if gap is not None else None,
        )

    @strawberry.field(description="Input from NHRIs and civil society organizations, oldest first.")
    async def stakeholder_inputs(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["StakeholderInputEntry", strawberry.lazy("graphql_schema.needs")]]:
        return await _stakeholder_inputs(self, info, first, after, last, before)

    @strawberry.field(description="Implementation actions this need is attached to that you may see.")
    async def actions(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["ImplementationAction", strawberry.lazy("graphql_schema.tracking")]]:
        from graphql_schema.tracking import actions_of_need

        return await actions_of_need(info, self.row.id, None, None, page_args(first, after, last, before))


@strawberry.type(description="A need's agreed funding and remaining gap.")
class NeedFunding:
    agreed: Money | None = strawberry.field(
        description="Sum of agreed amounts of engaged matches (agreed, active, completed), in the need's currency."
    )
    gap: Money | None = strawberry.field(
        description="Estimated cost minus agreed funding (null without a cost estimate)."
    )


@strawberry.type(description="Input on a need from an NHRI or civil society organization (resolution para 8).")
class StakeholderInputEntry(Node):
    row: strawberry.Private[StakeholderInputRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("StakeholderInput", self.row.id))

    @strawberry.field(description="The input's text.")
    def body(self) -> str:
        return self.row.body

    @strawberry.field(description="Global ID of the contributing organization.")
    def organization_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Organization", self.row.organization_id))

    @strawberry.field(description="When it was given (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at


def wrap_need(row: AssistanceNeed) -> Need:
    return Need(row=row)


async def _stakeholder_inputs(
    self: Need, info: Info, first: int | None, after: str | None, last: int | None, before: str | None
):
    args = page_args(first, after, last, before)
    ctx = info.context

    async def batch(session, ids):
        return await stakeholder_input_service.inputs_per_need(
            session=session, principal=ctx.principal, need_ids=ids, page=args
        )

    async def count_batch(session, ids):
        return await stakeholder_input_service.count_inputs_per_need(
            session=session, principal=ctx.principal, need_ids=ids
        )

    page = await ctx.loader("need.stakeholderInputs", batch, args=args).load(self.row.id)
    count_loader = ctx.loader("need.stakeholderInputs.count", count_batch, default=0)
    return connection(page, lambda r: StakeholderInputEntry(row=r), lambda: count_loader.load(self.row.id))


async def load_need(info: Info, need_id: int) -> Need | None:
    ctx = info.context

    async def batch(session, ids):
        return await service.get_needs(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("need", batch).load(need_id)
    return Need(row=row) if row else None


async def list_needs(
    info: Info, filter: NeedFilter | None, order_by: NeedOrder | None, args: PageArgs
) -> Connection[Need]:
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    async with ctx.read_session() as session:
        page = await service.list_needs(
            session=session,
            principal=ctx.principal,
            need_filter=domain_filter,
            order=order_by.to_domain() if order_by else None,
            page=args,
        )

    async def counter() -> int:
        async with ctx.read_session() as session:
            return await service.count_needs(session=session, principal=ctx.principal, need_filter=domain_filter)

    return connection(page, wrap_need, counter)


async def nested_needs(
    info: Info,
    name: str,
    parent_key: Any,
    filter: NeedFilter | None,
    order_by: NeedOrder | None,
    args: PageArgs,
    per_parent: Callable[..., Awaitable[dict]],
    count_per_parent: Callable[..., Awaitable[dict]],
    keyword: str,
) -> Connection[Need]:
    """A needs connection under a parent (a State, a recommendation), batched per request."""
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    domain_order = order_by.to_domain() if order_by else None

    async def batch(session, keys):
        return await per_parent(
            session=session,
            principal=ctx.principal,
            need_filter=domain_filter,
            order=domain_order,
            page=args,
            **{keyword: keys},
        )

    async def count_batch(session, keys):
        return await count_per_parent(
            session=session, principal=ctx.principal, need_filter=domain_filter, **{keyword: keys}
        )

    page = await ctx.loader(name, batch, args=(args, filter_key(filter), filter_key(order_by))).load(parent_key)
    count_loader = ctx.loader(name + ".count", count_batch, args=filter_key(filter), default=0)
    return connection(page, wrap_need, lambda: count_loader.load(parent_key))


# -- mutations -------------------------------------------------------------------------------


@strawberry.input(description="A national stakeholder involved in a need.")
class NationalStakeholderInput:
    name: str = strawberry.field(description="Name of the body, e.g. Ministry of Justice.")
    kind: StakeholderKind = strawberry.field(description="Kind of body.")


@strawberry.input(description="A new need. It starts as a DRAFT; submit it with `submitNeed`.")
class CreateNeedInput:
    state: str = strawberry.field(description="ISO 3166 alpha-3 code of your State.")
    title: str = strawberry.field(description="Short title.")
    description: str = strawberry.field(default="", description="What is needed, and why.")
    themes: list[str] = strawberry.field(default_factory=list, description="Theme codes.")
    sectors: list[str] = strawberry.field(default_factory=list, description="DAC 5-digit sector codes.")
    sdg_targets: list[str] = strawberry.field(default_factory=list, description="SDG target codes.")
    rights_dimensions: list[RightsDimension] = strawberry.field(default_factory=list, description="Rights dimensions.")
    modalities: list[Modality] = strawberry.field(default_factory=list, description="Delivery modalities.")
    working_languages: list[str] = strawberry.field(default_factory=list, description="ISO 639-1 language codes.")
    estimated_cost: MoneyInput | None = strawberry.field(default=None, description="Estimated cost.")
    start_date: dt.date | None = strawberry.field(default=None, description="Planned start.")
    end_date: dt.date | None = strawberry.field(default=None, description="Planned end (not before the start).")
    visibility: Visibility = strawberry.field(
        default=Visibility.PRIVATE, description="Who may see it; PRIVATE by default."
    )
    national_stakeholders: list[NationalStakeholderInput] = strawberry.field(
        default_factory=list, description="National stakeholders involved."
    )
    recommendation_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="IDs of recommendations to your State that this need implements."
    )
    pledge_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="IDs of your State's pledges this need implements."
    )


@strawberry.input(description="Changes to a need; omitted fields stay as they are, lists are replaced whole.")
class UpdateNeedInput:
    id: strawberry.ID = strawberry.field(description="ID of the need.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="Short title.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="What is needed, and why.")
    themes: list[str] | None = strawberry.field(default=strawberry.UNSET, description="Theme codes.")
    sectors: list[str] | None = strawberry.field(default=strawberry.UNSET, description="DAC 5-digit sector codes.")
    sdg_targets: list[str] | None = strawberry.field(default=strawberry.UNSET, description="SDG target codes.")
    rights_dimensions: list[RightsDimension] | None = strawberry.field(
        default=strawberry.UNSET, description="Rights dimensions."
    )
    modalities: list[Modality] | None = strawberry.field(default=strawberry.UNSET, description="Delivery modalities.")
    working_languages: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 639-1 language codes."
    )
    estimated_cost: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="Estimated cost; null clears it."
    )
    start_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="Planned start.")
    end_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="Planned end.")
    visibility: Visibility | None = strawberry.field(default=strawberry.UNSET, description="Who may see it.")
    national_stakeholders: list[NationalStakeholderInput] | None = strawberry.field(
        default=strawberry.UNSET, description="National stakeholders (replaces the list)."
    )
    recommendation_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Recommendations implemented (replaces the list)."
    )
    pledge_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Pledges implemented (replaces the list)."
    )


def _fields_from_input(data: Any) -> service.NeedFields:
    values = service.NeedFields()
    simple = (
        "title",
        "description",
        "themes",
        "sectors",
        "sdg_targets",
        "rights_dimensions",
        "modalities",
        "working_languages",
        "start_date",
        "end_date",
        "visibility",
    )
    for name in simple:
        value = getattr(data, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            setattr(values, name, value)
    cost = getattr(data, "estimated_cost", strawberry.UNSET)
    if cost is not strawberry.UNSET:
        values.estimated_cost = cost.amount if cost else None
        values.currency = cost.currency if cost else None
    stakeholders = getattr(data, "national_stakeholders", strawberry.UNSET)
    if stakeholders is not strawberry.UNSET:
        values.national_stakeholders = [
            service.StakeholderInput(name=s.name, kind=s.kind) for s in (stakeholders or [])
        ]
    for name, type_name in (("recommendation_ids", "Recommendation"), ("pledge_ids", "Pledge")):
        ids = getattr(data, name, strawberry.UNSET)
        if ids is not strawberry.UNSET:
            setattr(values, name, [expect_int_id(i, type_name, argument=name) for i in (ids or [])])
    return values


@strawberry.type(description="Result of a mutation on a need: the need, or what was wrong with the input.")
class NeedPayload:
    need: Need | None = strawberry.field(description="The need after the change (null when userErrors is not empty).")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="Move a need along its lifecycle.")
class TransitionNeedInput:
    id: strawberry.ID = strawberry.field(description="ID of the need.")
    reason: str | None = strawberry.field(default=None, description="Why (kept in the audit trail).")


@strawberry.input(description="Move a need to a given status, if the transition table allows it.")
class ChangeNeedStatusInput:
    id: strawberry.ID = strawberry.field(description="ID of the need.")
    status: NeedStatus = strawberry.field(description="The status to move to.")
    reason: str | None = strawberry.field(default=None, description="Why (kept in the audit trail).")


@strawberry.input(description="Link or unlink recommendations and a need.")
class NeedRecommendationsInput:
    need_id: strawberry.ID = strawberry.field(description="ID of the need.")
    recommendation_ids: list[strawberry.ID] = strawberry.field(
        description="IDs of recommendations to the need's State."
    )


async def _run(info: Info, action: Callable[[Any], Awaitable[AssistanceNeed]]) -> NeedPayload:
    try:
        async with info.context.write_session() as session:
            row = await action(session)
    except ValidationFailed as failure:
        return NeedPayload(need=None, user_errors=user_errors(failure))
    return NeedPayload(need=Need(row=row), user_errors=[])


async def create_need(info: Info, data: CreateNeedInput) -> NeedPayload:
    try:
        values = _fields_from_input(data)
    except ValidationFailed as failure:
        return NeedPayload(need=None, user_errors=user_errors(failure))
    return await _run(
        info,
        lambda session: service.create_need(
            session=session, principal=info.context.principal, state_iso3=data.state, values=values
        ),
    )


async def update_need(info: Info, data: UpdateNeedInput) -> NeedPayload:
    need_id = expect_int_id(data.id, "Need", argument="input.id")
    values = _fields_from_input(data)
    return await _run(
        info,
        lambda session: service.update_need(
            session=session, principal=info.context.principal, need_id=need_id, values=values
        ),
    )


async def change_status(info: Info, raw_id: str, to: DomainNeedStatus, reason: str | None) -> NeedPayload:
    need_id = expect_int_id(raw_id, "Need", argument="input.id")
    return await _run(
        info,
        lambda session: service.transition_need(
            session=session, principal=info.context.principal, need_id=need_id, to=to, reason=reason
        ),
    )


async def link_recommendations(info: Info, data: NeedRecommendationsInput, link: bool) -> NeedPayload:
    need_id = expect_int_id(data.need_id, "Need", argument="input.needId")
    ids = [expect_int_id(i, "Recommendation", argument="input.recommendationIds") for i in data.recommendation_ids]
    return await _run(
        info,
        lambda session: service.link_recommendations(
            session=session, principal=info.context.principal, need_id=need_id, recommendation_ids=ids, link=link
        ),
    )


@strawberry.input(description="Input on a need from your NHRI or civil society organization.")
class AddStakeholderInputInput:
    need_id: strawberry.ID = strawberry.field(description="ID of a need you can see.")
    body: str = strawberry.field(description="Your input.")


@strawberry.type(description="The input added, or what was wrong.")
class AddStakeholderInputPayload:
    stakeholder_input: StakeholderInputEntry | None = strawberry.field(description="The input recorded.")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


async def add_stakeholder_input(info: Info, data: AddStakeholderInputInput) -> AddStakeholderInputPayload:
    need_id = expect_int_id(data.need_id, "Need", argument="input.needId")
    try:
        async with info.context.write_session() as session:
            row = await stakeholder_input_service.add_stakeholder_input(
                session=session, principal=info.context.principal, need_id=need_id, body=data.body
            )
    except ValidationFailed as failure:
        return AddStakeholderInputPayload(stakeholder_input=None, user_errors=user_errors(failure))
    return AddStakeholderInputPayload(stakeholder_input=StakeholderInputEntry(row=row), user_errors=[])
