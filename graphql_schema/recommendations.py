"""GraphQL types for UPR recommendations, reviews and pledges (public reads)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from graphql_schema.common import OrderDirection, RecommendationResponse, RecommendationSource, descending
from graphql_schema.relay import AFTER, BEFORE, FIRST, LAST, Connection, Node, connection, page_args, to_global_id
from graphql_schema.states import State, StateOrder, load_state, state_order
from service import needs as needs_service
from service import recommendations as service
from service import states as states_service
from service.models import Pledge as PledgeRow
from service.models import Recommendation as RecommendationRow
from service.models import Review as ReviewRow

if TYPE_CHECKING:
    from graphql_schema.needs import Need, NeedFilter, NeedOrder
    from graphql_schema.tracking import (
        ImplementationAction,
        ImplementationActionFilter,
        ImplementationActionOrder,
        RecommendationImplementation,
    )

RecommendationOrderField = strawberry.enum(
    service.RecommendationOrderField,
    name="RecommendationOrderField",
    description="Fields recommendations can be ordered by. RELEVANCE needs a `search` text.",
)


@strawberry.input(description="Order of a recommendations list; the ID breaks ties.")
class RecommendationOrder:
    field: RecommendationOrderField = strawberry.field(description="What to sort by.")  # type: ignore[valid-type]
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")


@strawberry.input(description="Filter of a recommendations list. Lists mean any of; several fields mean all of.")
class RecommendationFilter:
    states: list[str] | None = strawberry.field(default=None, description="ISO3 codes of the States under review.")
    recommending_states: list[str] | None = strawberry.field(
        default=None, description="ISO3 codes of recommending States."
    )
    responses: list[RecommendationResponse] | None = strawberry.field(default=None, description="SUPPORTED or NOTED.")
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes.")
    sessions: list[int] | None = strawberry.field(default=None, description="UPR Working Group session numbers.")
    cycles: list[int] | None = strawberry.field(default=None, description="UPR cycles (1–4).")
    action_categories: list[int] | None = strawberry.field(
        default=None, description="UPR Info action categories (1 minimal … 5 specific action)."
    )
    sources: list[RecommendationSource] | None = strawberry.field(
        default=None, description="Mechanisms: UPR, TREATY_BODY, SPECIAL_PROCEDURE."
    )  # type: ignore[valid-type]
    bodies: list[str] | None = strawberry.field(
        default=None,
        description="Treaty bodies or special-procedure mandates as in `body` (e.g. CRC, CEDAW, SR Torture); case-insensitive.",
    )
    search: str | None = strawberry.field(
        default=None, description="Full-text search over the text (web-search syntax)."
    )

    def to_domain(self) -> service.RecommendationFilter:
        return service.RecommendationFilter(
            states=self.states,
            recommending_states=self.recommending_states,
            responses=self.responses,
            themes=self.themes,
            sessions=self.sessions,
            cycles=self.cycles,
            action_categories=self.action_categories,
            sources=self.sources,
            bodies=self.bodies,
            search=self.search,
        )


def recommendation_filter_key(f: RecommendationFilter | None):
    from graphql_schema.needs import filter_key

    return filter_key(f)


@strawberry.type(description="A State's review at one UPR Working Group session.")
class Review(Node):
    row: strawberry.Private[ReviewRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Review", self.row.id))

    @strawberry.field(description="UPR cycle: 1 (2008–11), 2 (2012–16), 3 (2017–22), 4 (2022–27).")
    def cycle(self) -> int:
        return self.row.cycle

    @strawberry.field(description="UPR Working Group session number.")
    def session(self) -> int:
        return self.row.session

    @strawberry.field(description="Year of the session, when known.")
    def year(self) -> int | None:
        return self.row.year

    @strawberry.field(description="The State under review.")
    async def state(self, info: Info) -> State:
        state = await load_state(info, self.row.state_iso3)
        assert state is not None
        return state


async def load_review(info: Info, review_id: int | None) -> Review | None:
    if review_id is None:
        return None

    async def batch(session, ids):
        return await service.reviews_by_id(session=session, ids=ids)

    row = await info.context.loader("review", batch).load(review_id)
    return Review(row=row) if row else None


@strawberry.type(
    description="A recommendation to a State, by the UPR, a treaty body or a special procedure: the anchor of the graph."
)
class Recommendation(Node):
    row: strawberry.Private[RecommendationRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Recommendation", self.row.id))

    @strawberry.field(description="The recommendation's text.")
    def text(self) -> str:
        return self.row.text

    @strawberry.field(description="The State it is addressed to (for the UPR: the State under review).")
    async def state(self, info: Info) -> State:
        state = await load_state(info, self.row.state_iso3)
        assert state is not None
        return state

    @strawberry.field(
        description="The UPR review in which it was made (null for treaty bodies and special procedures)."
    )
    async def review(self, info: Info) -> Review | None:
        return await load_review(info, self.row.review_id)

    @strawberry.field(description="The mechanism that made it: UPR, TREATY_BODY or SPECIAL_PROCEDURE.")
    def source(self) -> RecommendationSource:  # type: ignore[valid-type]
        return self.row.source

    @strawberry.field(
        description="The treaty body (e.g. CRC, CEDAW) or special-procedure mandate (e.g. SR Torture); null for the UPR."
    )
    def body(self) -> str | None:
        return self.row.body

    @strawberry.field(description="The UN document symbol it was published in (e.g. CRC/C/PER/CO/6-7, A/HRC/44/9).")
    def symbol(self) -> str | None:
        return self.row.symbol

    @strawberry.field(description="When that document was published.")
    def publication_date(self) -> dt.date | None:
        return self.row.publication_date

    @strawberry.field(
        description="Its annotation id (UUID) in the Universal Human Rights Index, when imported from or matched to UHRI."
    )
    def uhri_id(self) -> str | None:
        return str(self.row.uhri_annotation_id) if self.row.uhri_annotation_id else None

    @strawberry.field(description="SUPPORTED or NOTED (null when not yet known).")
    def response(self) -> RecommendationResponse | None:
        return self.row.response

    @strawberry.field(description="UPR Info action category: 1 minimal … 5 specific action.")
    def action_category(self) -> int | None:
        return self.row.action_category

    @strawberry.field(description="Theme codes.")
    def themes(self) -> list[str]:
        return list(self.row.themes)

    @strawberry.field(description="SDG target codes.")
    def sdg_targets(self) -> list[str]:
        return list(self.row.sdg_targets)

    @strawberry.field(description="Groups of persons affected (e.g. women and girls, persons with disabilities).")
    def affected_persons(self) -> list[str]:
        return list(self.row.affected_persons)

    @strawberry.field(description="Source reference: document symbol and paragraph.")
    def source_reference(self) -> str | None:
        return self.row.source_reference

    @strawberry.field(description="Recommending entities that are not States (kept as text).")
    def other_recommenders(self) -> list[str]:
        return list(self.row.other_recommenders)

    @strawberry.field(description="The States that made this recommendation.")
    async def recommending_states(
        self,
        info: Info,
        order_by: StateOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[State]:
        args = page_args(first, after, last, before)
        order = state_order(order_by)
        ctx = info.context

        async def batch(session, ids):
            return await states_service.recommending_states_per_recommendation(
                session=session, recommendation_ids=ids, page=args, order=order
            )

        async def count_batch(session, ids):
            return await states_service.count_recommending_states(session=session, recommendation_ids=ids)

        page = await ctx.loader("recommendation.recommendingStates", batch, args=(args, order)).load(self.row.id)
        count_loader = ctx.loader("recommendation.recommendingStates.count", count_batch, default=0)
        return connection(page, lambda s: State(row=s), lambda: count_loader.load(self.row.id))

    @strawberry.field(description="Needs implementing this recommendation that the caller may see.")
    async def needs(
        self,
        info: Info,
        filter: Annotated["NeedFilter", strawberry.lazy("graphql_schema.needs")] | None = None,
        order_by: Annotated["NeedOrder", strawberry.lazy("graphql_schema.needs")] | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Need", strawberry.lazy("graphql_schema.needs")]]:
        from graphql_schema.needs import nested_needs

        return await nested_needs(
            info,
            "recommendation.needs",
            self.row.id,
            filter,
            order_by,
            page_args(first, after, last, before),
            needs_service.needs_per_recommendation,
            needs_service.count_needs_per_recommendation,
            "recommendation_ids",
        )

    @strawberry.field(description="Implementation actions clustering this recommendation that the caller may see.")
    async def actions(
        self,
        info: Info,
        filter: Annotated["ImplementationActionFilter", strawberry.lazy("graphql_schema.tracking")] | None = None,
        order_by: Annotated["ImplementationActionOrder", strawberry.lazy("graphql_schema.tracking")] | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["ImplementationAction", strawberry.lazy("graphql_schema.tracking")]]:
        from graphql_schema.tracking import actions_of_recommendation

        return await actions_of_recommendation(
            info, self.row.id, filter, order_by, page_args(first, after, last, before)
        )

    @strawberry.field(description="Its implementation status, rolled up from the actions the caller may see.")
    async def implementation(
        self, info: Info
    ) -> Annotated["RecommendationImplementation", strawberry.lazy("graphql_schema.tracking")]:
        from graphql_schema.tracking import implementation_of_recommendation

        return await implementation_of_recommendation(info, self.row.id)


@strawberry.input(description="Filter of a pledges list.")
class PledgeFilter:
    states: list[str] | None = strawberry.field(default=None, description="ISO3 codes of the pledging States.")
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes.")
    search: str | None = strawberry.field(default=None, description="Full-text search over the text.")

    def to_domain(self) -> service.PledgeFilter:
        return service.PledgeFilter(states=self.states, themes=self.themes, search=self.search)


@strawberry.type(description="A voluntary pledge or commitment of a State.")
class Pledge(Node):
    row: strawberry.Private[PledgeRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Pledge", self.row.id))

    @strawberry.field(description="The pledge's text.")
    def text(self) -> str:
        return self.row.text

    @strawberry.field(description="The pledging State.")
    async def state(self, info: Info) -> State:
        state = await load_state(info, self.row.state_iso3)
        assert state is not None
        return state

    @strawberry.field(description="When it was made.")
    def made_on(self) -> dt.date | None:
        return self.row.made_on

    @strawberry.field(description="Theme codes.")
    def themes(self) -> list[str]:
        return list(self.row.themes)


async def list_recommendations(info: Info, filter, order_by, args) -> Connection[Recommendation]:
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    order = service.RecommendationOrder(order_by.field, descending(order_by.direction)) if order_by else None
    async with ctx.read_session() as session:
        page = await service.list_recommendations(
            session=session, recommendation_filter=domain_filter, order=order, page=args
        )

    async def counter() -> int:
        async with ctx.read_session() as session:
            return await service.count_recommendations(session=session, recommendation_filter=domain_filter)

    return connection(page, lambda r: Recommendation(row=r), counter)


async def list_pledges(info: Info, filter, args) -> Connection[Pledge]:
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    async with ctx.read_session() as session:
        page = await service.list_pledges(session=session, pledge_filter=domain_filter, page=args)

    async def counter() -> int:
        async with ctx.read_session() as session:
            return await service.count_pledges(session=session, pledge_filter=domain_filter)

    return connection(page, lambda r: Pledge(row=r), counter)
