"""GraphQL types for States and their lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from graphql_schema.common import Language, OrderDirection, RegionalGroup, UnMembership, descending
from graphql_schema.relay import AFTER, BEFORE, FIRST, LAST, Connection, Node, connection, page_args, to_global_id
from service import needs as needs_service
from service import recommendations as recommendations_service
from service import states as states_service
from service.models import State as StateRow

if TYPE_CHECKING:
    from graphql_schema.needs import Need, NeedFilter, NeedOrder
    from graphql_schema.recommendations import Recommendation, RecommendationFilter


StateOrderFieldEnum = strawberry.enum(
    states_service.StateOrderField,
    name="StateOrderField",
    description="Fields States can be ordered by (NAME is the English short name).",
)


@strawberry.input(description="Order of a States list; ISO3 code breaks ties.")
class StateOrder:
    field: StateOrderFieldEnum = strawberry.field(description="What to sort by.")  # type: ignore[valid-type]
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="ASC or DESC.")


@strawberry.input(description="Filter of a States list. Lists mean any of; several fields mean all of.")
class StateFilter:
    codes: list[str] | None = strawberry.field(default=None, description="ISO 3166 alpha-3 codes.")
    regions: list[str] | None = strawberry.field(
        default=None,
        description="UN M49 region, sub-region or intermediate region codes, e.g. 002 (Africa), 202 (Sub-Saharan Africa).",
    )
    regional_groups: list[RegionalGroup] | None = strawberry.field(default=None, description="UN regional groups.")
    membership: list[UnMembership] | None = strawberry.field(default=None, description="MEMBER or OBSERVER.")
    ldc: bool | None = strawberry.field(
        default=None, description="Least developed countries only (true) or none of them (false)."
    )
    lldc: bool | None = strawberry.field(default=None, description="Landlocked developing countries.")
    sids: bool | None = strawberry.field(default=None, description="Small island developing States.")
    search: str | None = strawberry.field(
        default=None, description="Part of a name in any of the six languages, or an ISO3 code."
    )

    def to_domain(self) -> states_service.StateFilter:
        return states_service.StateFilter(
            codes=self.codes,
            regions=self.regions,
            regional_groups=self.regional_groups,
            membership=self.membership,
            ldc=self.ldc,
            lldc=self.lldc,
            sids=self.sids,
            search=self.search,
        )


def state_order(order: StateOrder | None) -> tuple[states_service.StateOrderField, bool]:
    if order is None:
        return (states_service.StateOrderField.NAME, False)
    return (order.field, descending(order.direction, False))


@strawberry.type(description="A UN Member or observer State (ISO 3166, M49 region, UN regional group).")
class State(Node):
    row: strawberry.Private[StateRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("State", self.row.iso3))

    @strawberry.field(description="ISO 3166-1 alpha-3 code, e.g. KEN.")
    def code(self) -> str:
        return self.row.iso3

    @strawberry.field(description="ISO 3166-1 alpha-2 code, e.g. KE.")
    def iso2(self) -> str:
        return self.row.iso2

    @strawberry.field(description="UN M49 numeric code.")
    def m49(self) -> str:
        return self.row.m49

    @strawberry.field(description="Short name in one of the six UN languages (UNTERM).")
    def name(
        self, language: Annotated[Language, strawberry.argument(description="Language of the name.")] = Language.EN
    ) -> str:
        return getattr(self.row, f"name_{language.value}")

    @strawberry.field(description="M49 region code, e.g. 002 (Africa).")
    def region_code(self) -> str | None:
        return self.row.region_code

    @strawberry.field(description="M49 region name, e.g. Africa.")
    def region_name(self) -> str | None:
        return self.row.region_name

    @strawberry.field(description="M49 sub-region code, e.g. 202 (Sub-Saharan Africa).")
    def sub_region_code(self) -> str | None:
        return self.row.sub_region_code

    @strawberry.field(description="M49 sub-region name.")
    def sub_region_name(self) -> str | None:
        return self.row.sub_region_name

    @strawberry.field(description="M49 intermediate region code, where one exists.")
    def intermediate_region_code(self) -> str | None:
        return self.row.intermediate_region_code

    @strawberry.field(description="M49 intermediate region name, where one exists.")
    def intermediate_region_name(self) -> str | None:
        return self.row.intermediate_region_name

    @strawberry.field(description="UN regional group (null for observer States).")
    def regional_group(self) -> RegionalGroup | None:
        return self.row.regional_group

    @strawberry.field(description="UN membership: MEMBER or OBSERVER.")
    def membership(self) -> UnMembership:
        return self.row.un_membership

    @strawberry.field(description="Least developed country.")
    def is_ldc(self) -> bool:
        return self.row.is_ldc

    @strawberry.field(description="Landlocked developing country.")
    def is_lldc(self) -> bool:
        return self.row.is_lldc

    @strawberry.field(description="Small island developing State.")
    def is_sids(self) -> bool:
        return self.row.is_sids

    @strawberry.field(description="Needs of this State that the caller may see.")
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
            "state.needs",
            self.row.iso3,
            filter,
            order_by,
            page_args(first, after, last, before),
            needs_service.needs_per_state,
            needs_service.count_needs_per_state,
            "state_codes",
        )

    @strawberry.field(description="Recommendations this State received in its UPR reviews.")
    async def recommendations(
        self,
        info: Info,
        filter: Annotated["RecommendationFilter", strawberry.lazy("graphql_schema.recommendations")] | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Recommendation", strawberry.lazy("graphql_schema.recommendations")]]:
        from graphql_schema.recommendations import Recommendation, recommendation_filter_key

        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        ctx = info.context

        async def batch(session, codes):
            return await recommendations_service.recommendations_per_state(
                session=session, state_codes=codes, recommendation_filter=domain_filter, order=None, page=args
            )

        page = await ctx.loader("state.recommendations", batch, args=(args, recommendation_filter_key(filter))).load(
            self.row.iso3
        )

        async def counter() -> int:
            # The filter's own `states` narrow this State's list like the page does: another
            # State's code leaves nothing to count.
            if domain_filter is not None and domain_filter.states is not None:
                if self.row.iso3 not in {code.upper() for code in domain_filter.states}:
                    return 0
            async with ctx.read_session() as session:
                from dataclasses import replace

                f = replace(domain_filter or recommendations_service.RecommendationFilter(), states=[self.row.iso3])
                return await recommendations_service.count_recommendations(session=session, recommendation_filter=f)

        return connection(page, lambda r: Recommendation(row=r), counter)


def wrap_state(row: StateRow) -> State:
    return State(row=row)


async def load_state(info: Info, code: str | None) -> State | None:
    if code is None:
        return None

    async def batch(session, codes):
        return await states_service.get_states(session=session, codes=codes)

    row = await info.context.loader("state", batch).load(code)
    return State(row=row) if row else None
