"""GraphQL types, inputs and mutations for implementation tracking. Resolvers call
`service.tracking`; visibility is decided there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from graphql_schema import nodes
from graphql_schema.common import OrderDirection, StakeholderKind, UserError, Visibility, descending, user_errors
from graphql_schema.needs import filter_key
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
from service.errors import ValidationFailed
from service.models import ActionNeed, ActionRecommendation
from service.models import ImplementationAction as ActionRow
from service.models import Indicator as IndicatorRow
from service.models import ProgressComment as CommentRow
from service.models import ProgressReport as ReportRow
from service.models import enums as domain
from service.pagination import PageArgs
from service.tracking import actions as service
from service.tracking import progress as progress_service
from service.tracking import rollups

if TYPE_CHECKING:
    from graphql_schema.needs import Need
    from graphql_schema.offers import Organization
    from graphql_schema.recommendations import Recommendation

ImplementationStatus = strawberry.enum(
    domain.ImplementationStatus,
    name="ImplementationStatus",
    description="Where implementation stands (the NRTD scale): NOT_STARTED, ONGOING, PARTIAL (some results, not all), COMPLETED.",
)
ImplementationActionOrderField = strawberry.enum(
    service.ActionOrderField,
    name="ImplementationActionOrderField",
    description="Fields actions can be ordered by. END_DATE puts open-ended actions last (ascending).",
)


# -- types ----------------------------------------------------------------------------------


@strawberry.type(description="A national institution leading or supporting an action.")
class Institution:
    name: str = strawberry.field(description="Name of the institution, e.g. Judiciary of Kenya.")
    kind: StakeholderKind = strawberry.field(description="Kind of institution.")
    organization_id: strawberry.Private[int | None]

    @strawberry.field(description="The institution as an organization of the graph, when it is one (e.g. the NHRI).")
    async def organization(
        self, info: Info
    ) -> Annotated["Organization", strawberry.lazy("graphql_schema.offers")] | None:
        from graphql_schema.offers import load_organization

        return None if self.organization_id is None else await load_organization(info, self.organization_id)


@strawberry.type(description="How an action's result is measured: a baseline, a target and a due date.")
class Indicator(Node):
    row: strawberry.Private[IndicatorRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Indicator", self.row.id))

    @strawberry.field(description="What is measured.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Unit of the values, e.g. days, cases, %.")
    def unit(self) -> str | None:
        return self.row.unit

    @strawberry.field(description="Value at the start.")
    def baseline(self) -> Decimal | None:
        return self.row.baseline

    @strawberry.field(description="Value aimed for by the due date.")
    def target(self) -> Decimal | None:
        return self.row.target

    @strawberry.field(description="When the target should be reached.")
    def due_date(self) -> dt.date | None:
        return self.row.due_date

    @strawberry.field(description="The action measured.")
    async def action(
        self, info: Info
    ) -> Annotated["ImplementationAction", strawberry.lazy("graphql_schema.tracking")] | None:
        return await load_action(info, self.row.action_id)


@strawberry.type(description="An indicator's value as of a progress report.")
class IndicatorValue:
    indicator: Indicator = strawberry.field(description="The indicator.")
    value: Decimal = strawberry.field(description="Its value as of the report's date.")


@strawberry.type(
    description="A comment on a progress report by an NHRI or civil society organization (resolution paras 8, 16)."
)
class ProgressComment(Node):
    row: strawberry.Private[CommentRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("ProgressComment", self.row.id))

    @strawberry.field(description="The comment's text.")
    def body(self) -> str:
        return self.row.body

    @strawberry.field(description="The commenting organization.")
    async def organization(
        self, info: Info
    ) -> Annotated["Organization", strawberry.lazy("graphql_schema.offers")] | None:
        from graphql_schema.offers import load_organization

        return await load_organization(info, self.row.organization_id)

    @strawberry.field(description="When it was made (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at


@strawberry.type(
    description="A dated report on an action's progress. PRIVATE until the State publishes it; never visible to whoever may not see its action."
)
class ProgressReport(Node):
    row: strawberry.Private[ReportRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("ProgressReport", self.row.id))

    @strawberry.field(description="The date the report speaks for.")
    def reported_on(self) -> dt.date:
        return self.row.reported_on

    @strawberry.field(description="Status of the action as of this report.")
    def status(self) -> ImplementationStatus:
        return self.row.status

    @strawberry.field(description="What was done, and what is left.")
    def narrative(self) -> str:
        return self.row.narrative

    @strawberry.field(description="Links to evidence (laws adopted, reports, statistics).")
    def evidence_links(self) -> list[str]:
        return list(self.row.evidence_links)

    @strawberry.field(description="Who may see this report (never more than may see its action).")
    def visibility(self) -> Visibility:
        return self.row.visibility

    @strawberry.field(description="The action reported on.")
    async def action(
        self, info: Info
    ) -> Annotated["ImplementationAction", strawberry.lazy("graphql_schema.tracking")] | None:
        return await load_action(info, self.row.action_id)

    @strawberry.field(description="Indicator values as of this report.")
    async def indicator_values(self, info: Info) -> list[IndicatorValue]:
        async def batch(session, ids):
            return await progress_service.indicator_values_of(session=session, report_ids=ids)

        pairs = await info.context.loader("progressReport.indicatorValues", batch, default=[]).load(self.row.id)
        return [IndicatorValue(indicator=Indicator(row=indicator), value=value.value) for value, indicator in pairs]

    @strawberry.field(description="Comments by NHRIs and civil society, oldest first.")
    async def comments(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[ProgressComment]:
        args = page_args(first, after, last, before)
        ctx = info.context

        async def batch(session, ids):
            return await progress_service.comments_per_report(
                session=session, principal=ctx.principal, report_ids=ids, page=args
            )

        async def count_batch(session, ids):
            return await progress_service.count_comments_per_report(
                session=session, principal=ctx.principal, report_ids=ids
            )

        page = await ctx.loader("progressReport.comments", batch, args=args).load(self.row.id)
        count_loader = ctx.loader("progressReport.comments.count", count_batch, default=0)
        return connection(page, lambda r: ProgressComment(row=r), lambda: count_loader.load(self.row.id))

    @strawberry.field(description="When it was recorded (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at


@strawberry.type(
    description="What a State does about a cluster of the recommendations it received, led by a national institution, with indicators and dated progress (resolution 21/21 paras 10, 13, 14). Its visibility follows the needs' consent rule."
)
class ImplementationAction(Node):
    row: strawberry.Private[ActionRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("ImplementationAction", self.row.id))

    @strawberry.field(description="Short title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="What the action is.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The State acting.")
    async def state(self, info: Info) -> State:
        state = await load_state(info, self.row.state_iso3)
        assert state is not None
        return state

    @strawberry.field(description="The national institution leading the action.")
    def lead_institution(self) -> Institution:
        return Institution(
            name=self.row.lead_institution,
            kind=self.row.lead_institution_kind,
            organization_id=self.row.lead_organization_id,
        )

    @strawberry.field(description="Other national institutions involved.")
    async def supporting_institutions(self, info: Info) -> list[Institution]:
        async def batch(session, ids):
            return await service.supporting_institutions_of(session=session, action_ids=ids)

        rows = await info.context.loader("action.supporting", batch, default=[]).load(self.row.id)
        return [Institution(name=r.name, kind=r.kind, organization_id=r.organization_id) for r in rows]

    @strawberry.field(description="Planned start.")
    def start_date(self) -> dt.date | None:
        return self.row.start_date

    @strawberry.field(description="Planned end.")
    def end_date(self) -> dt.date | None:
        return self.row.end_date

    @strawberry.field(description="Who may see this action.")
    def visibility(self) -> Visibility:
        return self.row.visibility

    @strawberry.field(description="Status of its latest progress report you may see; NOT_STARTED without one.")
    async def status(self, info: Info) -> ImplementationStatus:
        ctx = info.context

        async def batch(session, ids):
            return await service.statuses_of(session=session, principal=ctx.principal, action_ids=ids)

        return await ctx.loader("action.status", batch, default=domain.ImplementationStatus.NOT_STARTED).load(
            self.row.id
        )

    @strawberry.field(description="Its latest progress report you may see (by date, then ID).")
    async def latest_progress_report(self, info: Info) -> ProgressReport | None:
        ctx = info.context

        async def batch(session, ids):
            return await progress_service.latest_reports(session=session, principal=ctx.principal, action_ids=ids)

        row = await ctx.loader("action.latestReport", batch).load(self.row.id)
        return ProgressReport(row=row) if row else None

    @strawberry.field(description="How results are measured (at most 50 per action).")
    async def indicators(self, info: Info) -> list[Indicator]:
        async def batch(session, ids):
            return await service.indicators_of(session=session, action_ids=ids)

        rows = await info.context.loader("action.indicators", batch, default=[]).load(self.row.id)
        return [Indicator(row=r) for r in rows]

    @strawberry.field(description="Progress reports you may see, newest first.")
    async def progress_reports(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[ProgressReport]:
        args = page_args(first, after, last, before)
        ctx = info.context

        async def batch(session, ids):
            return await progress_service.reports_per_action(
                session=session, principal=ctx.principal, action_ids=ids, page=args
            )

        async def count_batch(session, ids):
            return await progress_service.count_reports_per_action(
                session=session, principal=ctx.principal, action_ids=ids
            )

        page = await ctx.loader("action.reports", batch, args=args).load(self.row.id)
        count_loader = ctx.loader("action.reports.count", count_batch, default=0)
        return connection(page, lambda r: ProgressReport(row=r), lambda: count_loader.load(self.row.id))

    @strawberry.field(description="The recommendations this action implements (its cluster), by UPR session.")
    async def recommendations(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Recommendation", strawberry.lazy("graphql_schema.recommendations")]]:
        from graphql_schema.recommendations import Recommendation

        args = page_args(first, after, last, before)
        ctx = info.context

        async def batch(session, ids):
            return await service.recommendations_per_action(session=session, action_ids=ids, page=args)

        async def count_batch(session, ids):
            return await service.count_recommendations_per_action(session=session, action_ids=ids)

        page = await ctx.loader("action.recommendations", batch, args=args).load(self.row.id)
        count_loader = ctx.loader("action.recommendations.count", count_batch, default=0)
        return connection(page, lambda r: Recommendation(row=r), lambda: count_loader.load(self.row.id))

    @strawberry.field(description="Needs attached to this action that you may see.")
    async def needs(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Need", strawberry.lazy("graphql_schema.needs")]]:
        from graphql_schema.needs import wrap_need

        args = page_args(first, after, last, before)
        ctx = info.context

        async def batch(session, ids):
            return await service.needs_per_action(session=session, principal=ctx.principal, action_ids=ids, page=args)

        async def count_batch(session, ids):
            return await service.count_needs_per_action(session=session, principal=ctx.principal, action_ids=ids)

        page = await ctx.loader("action.needs", batch, args=args).load(self.row.id)
        count_loader = ctx.loader("action.needs.count", count_batch, default=0)
        return connection(page, wrap_need, lambda: count_loader.load(self.row.id))

    @strawberry.field(description="When it was created (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it, its indicators or its reports last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at


@strawberry.type(
    description="A recommendation's implementation, rolled up from the actions you may see: none → status null; all COMPLETED → COMPLETED; any COMPLETED or PARTIAL → PARTIAL; any ONGOING → ONGOING; else NOT_STARTED."
)
class RecommendationImplementation:
    status: ImplementationStatus | None = strawberry.field(
        description="Rolled-up status; null when no action you may see covers it."
    )
    action_count: int = strawberry.field(description="Actions you may see that cluster it.")


@strawberry.type(description="How many recommendations are in a status.")
class ImplementationStatusCount:
    status: ImplementationStatus = strawberry.field(description="The rolled-up status.")
    count: int = strawberry.field(description="Accepted recommendations in it.")


@strawberry.type(
    description="A State's implementation figures for a UPR cycle, over the actions and reports you may see. Accepted means SUPPORTED."
)
class ImplementationSummary:
    state_code: strawberry.Private[str]
    cycle: int = strawberry.field(description="The UPR cycle.")
    as_of: dt.date = strawberry.field(description="The day the 12-month window ends (inclusive).")
    recommendations: int = strawberry.field(description="Recommendations the State received in the cycle.")
    accepted: int = strawberry.field(description="Of them SUPPORTED.")
    noted: int = strawberry.field(description="Of them NOTED.")
    accepted_covered: int = strawberry.field(description="Accepted recommendations clustered by at least one action.")
    accepted_with_recent_progress: int = strawberry.field(
        description="Accepted recommendations with a progress report dated in the 12 months up to asOf."
    )
    accepted_completed: int = strawberry.field(
        description="Accepted recommendations whose rolled-up status is COMPLETED."
    )
    accepted_by_status: list[ImplementationStatusCount] = strawberry.field(
        description="Covered accepted recommendations by rolled-up status."
    )
    actions: int = strawberry.field(description="Actions clustering recommendations of the cycle.")

    @strawberry.field(description="The State.")
    async def state(self, info: Info) -> State:
        state = await load_state(info, self.state_code)
        assert state is not None
        return state


# -- loading and listing --------------------------------------------------------------------


async def load_action(info: Info, action_id: int) -> ImplementationAction | None:
    ctx = info.context

    async def batch(session, ids):
        return await service.get_actions(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("action", batch).load(action_id)
    return ImplementationAction(row=row) if row else None


async def load_indicator(info: Info, indicator_id: int) -> Indicator | None:
    ctx = info.context

    async def batch(session, ids):
        return await service.get_indicators(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("indicator", batch).load(indicator_id)
    return Indicator(row=row) if row else None


async def load_report(info: Info, report_id: int) -> ProgressReport | None:
    ctx = info.context

    async def batch(session, ids):
        return await progress_service.get_reports(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("progressReport", batch).load(report_id)
    return ProgressReport(row=row) if row else None


async def load_comment(info: Info, comment_id: int) -> ProgressComment | None:
    ctx = info.context

    async def batch(session, ids):
        return await progress_service.get_comments(session=session, principal=ctx.principal, ids=ids)

    row = await ctx.loader("progressComment", batch).load(comment_id)
    return ProgressComment(row=row) if row else None


nodes.register_int("ImplementationAction", load_action)
nodes.register_int("Indicator", load_indicator)
nodes.register_int("ProgressReport", load_report)
nodes.register_int("ProgressComment", load_comment)


@strawberry.input(description="Order of an actions list; the ID breaks ties so pages are stable.")
class ImplementationActionOrder:
    field: ImplementationActionOrderField = strawberry.field(description="What to sort by.")  # type: ignore[valid-type]
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")

    def to_domain(self) -> service.ActionOrder:
        return service.ActionOrder(self.field, descending(self.direction))


@strawberry.input(description="Filter of an actions list. Lists mean any of; several fields mean all of.")
class ImplementationActionFilter:
    states: list[str] | None = strawberry.field(
        default=None, description="ISO 3166 alpha-3 codes of the acting States."
    )
    statuses: list[ImplementationStatus] | None = strawberry.field(
        default=None, description="Current statuses (as you see them)."
    )
    visibilities: list[Visibility] | None = strawberry.field(
        default=None, description="Visibilities (only actions you may see are ever listed)."
    )
    lead_institution_kinds: list[StakeholderKind] | None = strawberry.field(
        default=None, description="Kinds of lead institution."
    )
    recommendation_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Actions clustering any of these recommendations."
    )
    need_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Actions these needs are attached to."
    )
    search: str | None = strawberry.field(
        default=None, description="Full-text search over title and description (web-search syntax)."
    )
    updated_since: dt.datetime | None = strawberry.field(
        default=None, description="Only actions changed at or after this time (UTC)."
    )

    def to_domain(self) -> service.ActionFilter:
        return service.ActionFilter(
            states=self.states,
            statuses=self.statuses,
            visibilities=self.visibilities,
            lead_institution_kinds=self.lead_institution_kinds,
            recommendation_ids=None
            if self.recommendation_ids is None
            else [
                expect_int_id(i, "Recommendation", argument="filter.recommendationIds") for i in self.recommendation_ids
            ],
            need_ids=None
            if self.need_ids is None
            else [expect_int_id(i, "Need", argument="filter.needIds") for i in self.need_ids],
            search=self.search,
            updated_since=self.updated_since,
        )


async def list_actions(
    info: Info, filter: ImplementationActionFilter | None, order_by: ImplementationActionOrder | None, args: PageArgs
) -> Connection[ImplementationAction]:
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    async with ctx.read_session() as session:
        page = await service.list_actions(
            session=session,
            principal=ctx.principal,
            action_filter=domain_filter,
            order=order_by.to_domain() if order_by else None,
            page=args,
        )

    async def counter() -> int:
        async with ctx.read_session() as session:
            return await service.count_actions(session=session, principal=ctx.principal, action_filter=domain_filter)

    return connection(page, lambda r: ImplementationAction(row=r), counter)


async def nested_actions(
    info: Info,
    name: str,
    parent_id: int,
    link: Any,
    parent_column: Any,
    filter: ImplementationActionFilter | None,
    order_by: ImplementationActionOrder | None,
    args: PageArgs,
) -> Connection[ImplementationAction]:
    """Actions under a recommendation or a need, batched per request."""
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    domain_order = order_by.to_domain() if order_by else None

    async def batch(session, ids):
        return await service.actions_per_parent(
            session=session,
            principal=ctx.principal,
            link=link,
            parent_column=parent_column,
            parent_ids=ids,
            action_filter=domain_filter,
            order=domain_order,
            page=args,
        )

    async def count_batch(session, ids):
        return await service.count_actions_per_parent(
            session=session,
            principal=ctx.principal,
            link=link,
            parent_column=parent_column,
            parent_ids=ids,
            action_filter=domain_filter,
        )

    page = await ctx.loader(name, batch, args=(args, filter_key(filter), filter_key(order_by))).load(parent_id)
    count_loader = ctx.loader(name + ".count", count_batch, args=filter_key(filter), default=0)
    return connection(page, lambda r: ImplementationAction(row=r), lambda: count_loader.load(parent_id))


async def actions_of_recommendation(
    info: Info, recommendation_id: int, filter, order_by, args
) -> Connection[ImplementationAction]:
    return await nested_actions(
        info,
        "recommendation.actions",
        recommendation_id,
        ActionRecommendation,
        ActionRecommendation.recommendation_id,
        filter,
        order_by,
        args,
    )


async def actions_of_need(info: Info, need_id: int, filter, order_by, args) -> Connection[ImplementationAction]:
    return await nested_actions(info, "need.actions", need_id, ActionNeed, ActionNeed.need_id, filter, order_by, args)


async def implementation_of_recommendation(info: Info, recommendation_id: int) -> RecommendationImplementation:
    ctx = info.context

    async def batch(session, ids):
        return await rollups.implementation_of(session=session, principal=ctx.principal, recommendation_ids=ids)

    found = await ctx.loader("recommendation.implementation", batch).load(recommendation_id)
    return RecommendationImplementation(status=found.status, action_count=found.action_count)


async def implementation_summary(info: Info, state: str, cycle: int, as_of: dt.date | None) -> ImplementationSummary:
    ctx = info.context
    async with ctx.read_session() as session:
        s = await rollups.summary(session=session, principal=ctx.principal, state_iso3=state, cycle=cycle, as_of=as_of)
    return ImplementationSummary(
        state_code=s.state_iso3,
        cycle=s.cycle,
        as_of=s.as_of,
        recommendations=s.recommendations,
        accepted=s.accepted,
        noted=s.noted,
        accepted_covered=s.accepted_covered,
        accepted_with_recent_progress=s.accepted_with_recent_progress,
        accepted_completed=s.accepted_completed,
        accepted_by_status=[ImplementationStatusCount(status=k, count=v) for k, v in s.accepted_by_status.items()],
        actions=s.actions,
    )


# -- mutations -------------------------------------------------------------------------------


@strawberry.input(description="A national institution leading or supporting an action.")
class InstitutionInput:
    name: str = strawberry.field(description="Name of the institution, e.g. Ministry of Justice.")
    kind: StakeholderKind = strawberry.field(description="Kind of institution.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The institution as an organization of the graph (e.g. the NHRI), if it is one."
    )


def _institution(value: InstitutionInput | None, argument: str) -> service.Institution | None:
    if value is None:
        return None
    organization_id = (
        None
        if value.organization_id is None
        else expect_int_id(value.organization_id, "Organization", argument=argument)
    )
    return service.Institution(name=value.name, kind=value.kind, organization_id=organization_id)


@strawberry.input(description="A new implementation action of your State.")
class CreateImplementationActionInput:
    state: str = strawberry.field(description="ISO 3166 alpha-3 code of your State.")
    title: str = strawberry.field(description="Short title.")
    description: str = strawberry.field(default="", description="What the action is.")
    lead_institution: InstitutionInput = strawberry.field(description="The national institution leading it.")
    supporting_institutions: list[InstitutionInput] = strawberry.field(
        default_factory=list, description="Other institutions involved (at most 20)."
    )
    start_date: dt.date | None = strawberry.field(default=None, description="Planned start.")
    end_date: dt.date | None = strawberry.field(default=None, description="Planned end (not before the start).")
    visibility: Visibility = strawberry.field(
        default=Visibility.PRIVATE, description="Who may see it; PRIVATE by default."
    )
    recommendation_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Recommendations to your State it implements (any response; at most 200)."
    )
    need_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Your State's needs attached to it (at most 200)."
    )


@strawberry.input(description="Changes to an action; omitted fields stay as they are, lists are replaced whole.")
class UpdateImplementationActionInput:
    id: strawberry.ID = strawberry.field(description="ID of the action.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="Short title.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="What the action is.")
    lead_institution: InstitutionInput | None = strawberry.field(
        default=strawberry.UNSET, description="The lead institution."
    )
    supporting_institutions: list[InstitutionInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Supporting institutions (replaces the list)."
    )
    start_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="Planned start.")
    end_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="Planned end.")
    visibility: Visibility | None = strawberry.field(default=strawberry.UNSET, description="Who may see it.")
    recommendation_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Recommendations implemented (replaces the list)."
    )
    need_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Needs attached (replaces the list)."
    )


def _action_fields(data: Any) -> service.ActionFields:
    values = service.ActionFields()
    for name in ("title", "description", "start_date", "end_date", "visibility"):
        value = getattr(data, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            setattr(values, name, value)
    lead = getattr(data, "lead_institution", strawberry.UNSET)
    if lead is not strawberry.UNSET:
        values.lead_institution = _institution(lead, "input.leadInstitution.organizationId")
    supporting = getattr(data, "supporting_institutions", strawberry.UNSET)
    if supporting is not strawberry.UNSET:
        values.supporting_institutions = [
            _institution(s, f"input.supportingInstitutions.{i}.organizationId") for i, s in enumerate(supporting or [])
        ]
    for name, type_name, argument in (
        ("recommendation_ids", "Recommendation", "input.recommendationIds"),
        ("need_ids", "Need", "input.needIds"),
    ):
        ids = getattr(data, name, strawberry.UNSET)
        if ids is not strawberry.UNSET:
            setattr(values, name, [expect_int_id(i, type_name, argument=argument) for i in (ids or [])])
    return values


@strawberry.type(description="Result of a mutation on an action: the action, or what was wrong with the input.")
class ImplementationActionPayload:
    action: ImplementationAction | None = strawberry.field(
        description="The action after the change (null when userErrors is not empty)."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="A new indicator of one of your State's actions.")
class CreateIndicatorInput:
    action_id: strawberry.ID = strawberry.field(description="ID of the action.")
    name: str = strawberry.field(description="What is measured.")
    unit: str | None = strawberry.field(default=None, description="Unit of the values, e.g. days.")
    baseline: Decimal | None = strawberry.field(default=None, description="Value at the start (at most 4 decimals).")
    target: Decimal | None = strawberry.field(default=None, description="Value aimed for (at most 4 decimals).")
    due_date: dt.date | None = strawberry.field(default=None, description="When the target should be reached.")


@strawberry.input(description="Changes to an indicator; omitted fields stay as they are.")
class UpdateIndicatorInput:
    id: strawberry.ID = strawberry.field(description="ID of the indicator.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="What is measured.")
    unit: str | None = strawberry.field(default=strawberry.UNSET, description="Unit; null clears it.")
    baseline: Decimal | None = strawberry.field(default=strawberry.UNSET, description="Baseline; null clears it.")
    target: Decimal | None = strawberry.field(default=strawberry.UNSET, description="Target; null clears it.")
    due_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="Due date; null clears it.")


def _indicator_fields(data: Any) -> service.IndicatorFields:
    values = service.IndicatorFields()
    for name in ("name", "unit", "baseline", "target", "due_date"):
        value = getattr(data, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            setattr(values, name, value)
    return values


@strawberry.type(description="Result of a mutation on an indicator.")
class IndicatorPayload:
    indicator: Indicator | None = strawberry.field(
        description="The indicator after the change (null when userErrors is not empty)."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="An indicator's value as of a report.")
class IndicatorValueInput:
    indicator_id: strawberry.ID = strawberry.field(description="ID of an indicator of the report's action.")
    value: Decimal = strawberry.field(description="The value (at most 4 decimals).")


@strawberry.input(description="A progress report on one of your State's actions. PRIVATE unless you say otherwise.")
class ReportProgressInput:
    action_id: strawberry.ID = strawberry.field(description="ID of the action.")
    reported_on: dt.date = strawberry.field(description="The date the report speaks for (not in the future).")
    status: ImplementationStatus = strawberry.field(description="Status of the action as of that date.")
    narrative: str = strawberry.field(default="", description="What was done, and what is left.")
    evidence_links: list[str] = strawberry.field(
        default_factory=list, description="http(s) links to evidence (at most 20)."
    )
    indicator_values: list[IndicatorValueInput] = strawberry.field(
        default_factory=list, description="Values of the action's indicators as of that date."
    )
    visibility: Visibility = strawberry.field(
        default=Visibility.PRIVATE, description="Who may see the report (never more than may see the action)."
    )


@strawberry.input(description="Changes to a progress report (e.g. publish it); omitted fields stay as they are.")
class UpdateProgressReportInput:
    id: strawberry.ID = strawberry.field(description="ID of the report.")
    reported_on: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="The date the report speaks for."
    )
    status: ImplementationStatus | None = strawberry.field(
        default=strawberry.UNSET, description="Status as of that date."
    )
    narrative: str | None = strawberry.field(default=strawberry.UNSET, description="What was done, and what is left.")
    evidence_links: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Evidence links (replaces the list)."
    )
    indicator_values: list[IndicatorValueInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Indicator values (replaces them)."
    )
    visibility: Visibility | None = strawberry.field(
        default=strawberry.UNSET, description="Who may see the report: PUBLIC publishes it."
    )


def _report_fields(data: Any) -> progress_service.ReportFields:
    values = progress_service.ReportFields()
    for name in ("reported_on", "status", "narrative", "evidence_links", "visibility"):
        value = getattr(data, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            setattr(values, name, value)
    pairs = getattr(data, "indicator_values", strawberry.UNSET)
    if pairs is not strawberry.UNSET:
        values.indicator_values = [
            (expect_int_id(p.indicator_id, "Indicator", argument=f"input.indicatorValues.{i}.indicatorId"), p.value)
            for i, p in enumerate(pairs or [])
        ]
    return values


@strawberry.type(description="Result of a mutation on a progress report.")
class ProgressReportPayload:
    progress_report: ProgressReport | None = strawberry.field(
        description="The report after the change (null when userErrors is not empty)."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(
    description="A comment on a progress report you can see, from your NHRI or civil society organization."
)
class AddProgressCommentInput:
    report_id: strawberry.ID = strawberry.field(description="ID of the progress report.")
    body: str = strawberry.field(description="Your comment.")


@strawberry.type(description="The comment added, or what was wrong.")
class ProgressCommentPayload:
    comment: ProgressComment | None = strawberry.field(description="The comment recorded.")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


async def _write(info: Info, work: Callable[[Any], Awaitable[Any]]) -> tuple[Any, list[UserError]]:
    try:
        async with info.context.write_session() as session:
            return await work(session), []
    except ValidationFailed as failure:
        return None, user_errors(failure)


@strawberry.type
class TrackingMutation:
    @strawberry.mutation(description="Create an implementation action for your State (focal points only).")
    async def create_implementation_action(
        self, info: Info, input: CreateImplementationActionInput
    ) -> ImplementationActionPayload:
        values = _action_fields(input)
        row, errors = await _write(
            info,
            lambda s: service.create_action(
                session=s, principal=info.context.principal, state_iso3=input.state, values=values
            ),
        )
        return ImplementationActionPayload(action=ImplementationAction(row=row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Edit one of your State's implementation actions (e.g. its cluster, its visibility)."
    )
    async def update_implementation_action(
        self, info: Info, input: UpdateImplementationActionInput
    ) -> ImplementationActionPayload:
        action_id = expect_int_id(input.id, "ImplementationAction", argument="input.id")
        values = _action_fields(input)
        row, errors = await _write(
            info,
            lambda s: service.update_action(
                session=s, principal=info.context.principal, action_id=action_id, values=values
            ),
        )
        return ImplementationActionPayload(action=ImplementationAction(row=row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Add an indicator to one of your State's actions.")
    async def create_indicator(self, info: Info, input: CreateIndicatorInput) -> IndicatorPayload:
        action_id = expect_int_id(input.action_id, "ImplementationAction", argument="input.actionId")
        values = _indicator_fields(input)
        row, errors = await _write(
            info,
            lambda s: service.create_indicator(
                session=s, principal=info.context.principal, action_id=action_id, values=values
            ),
        )
        return IndicatorPayload(indicator=Indicator(row=row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Edit an indicator of one of your State's actions.")
    async def update_indicator(self, info: Info, input: UpdateIndicatorInput) -> IndicatorPayload:
        indicator_id = expect_int_id(input.id, "Indicator", argument="input.id")
        values = _indicator_fields(input)
        row, errors = await _write(
            info,
            lambda s: service.update_indicator(
                session=s, principal=info.context.principal, indicator_id=indicator_id, values=values
            ),
        )
        return IndicatorPayload(indicator=Indicator(row=row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Report progress on one of your State's actions (PRIVATE unless you say otherwise)."
    )
    async def report_progress(self, info: Info, input: ReportProgressInput) -> ProgressReportPayload:
        action_id = expect_int_id(input.action_id, "ImplementationAction", argument="input.actionId")
        values = _report_fields(input)
        row, errors = await _write(
            info,
            lambda s: progress_service.create_report(
                session=s, principal=info.context.principal, action_id=action_id, values=values
            ),
        )
        return ProgressReportPayload(progress_report=ProgressReport(row=row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Edit a progress report of your State, or publish it (visibility PUBLIC).")
    async def update_progress_report(self, info: Info, input: UpdateProgressReportInput) -> ProgressReportPayload:
        report_id = expect_int_id(input.id, "ProgressReport", argument="input.id")
        values = _report_fields(input)
        row, errors = await _write(
            info,
            lambda s: progress_service.update_report(
                session=s, principal=info.context.principal, report_id=report_id, values=values
            ),
        )
        return ProgressReportPayload(progress_report=ProgressReport(row=row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Comment on a progress report you can see (NHRIs and civil society organizations)."
    )
    async def add_progress_comment(self, info: Info, input: AddProgressCommentInput) -> ProgressCommentPayload:
        report_id = expect_int_id(input.report_id, "ProgressReport", argument="input.reportId")
        row, errors = await _write(
            info,
            lambda s: progress_service.add_comment(
                session=s, principal=info.context.principal, report_id=report_id, body=input.body
            ),
        )
        return ProgressCommentPayload(comment=ProgressComment(row=row) if row else None, user_errors=errors)


@strawberry.type
class TrackingQuery:
    @strawberry.field(description="Implementation actions you may see.")
    async def implementation_actions(
        self,
        info: Info,
        filter: ImplementationActionFilter | None = None,
        order_by: ImplementationActionOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[ImplementationAction]:
        return await list_actions(info, filter, order_by, page_args(first, after, last, before))

    @strawberry.field(
        description="A State's implementation figures for a UPR cycle, over the actions and reports you may see."
    )
    async def implementation_summary(
        self,
        info: Info,
        state: Annotated[str, strawberry.argument(description="ISO 3166 alpha-3 code, e.g. KEN.")],
        cycle: Annotated[int, strawberry.argument(description="UPR cycle (1 2008–11 … 4 2022–27).")],
        as_of: Annotated[
            dt.date | None, strawberry.argument(description="End of the 12-month progress window (default today).")
        ] = None,
    ) -> ImplementationSummary:
        return await implementation_summary(info, state, cycle, as_of)
