"""The schema: root Query and Mutation, assembled from the per-concept modules."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
)
from strawberry.types import Info

from graphql_schema import nodes
from graphql_schema.admin import AdminMutation, AdminQuery
from graphql_schema.boundary import InputLiterals, RequestBoundary
from graphql_schema.compiled import CompiledExecution
from graphql_schema.docs import document
from graphql_schema.errors import ErrorCodes
from graphql_schema.events import EventsQuery, SharedEventExecution, Subscription
from graphql_schema.fund import FundMutation, FundQuery
from graphql_schema.fund import load_application as load_fund_application
from graphql_schema.fund import load_round as load_fund_round
from graphql_schema.imports import ImportMutation
from graphql_schema.item10 import Item10Query
from graphql_schema.limits import CostLimiter, ValidDocuments
from graphql_schema.matching import MatchingMutation, MatchingQuery, load_match
from graphql_schema.needs import (
    AddStakeholderInputInput,
    AddStakeholderInputPayload,
    ChangeNeedStatusInput,
    CreateNeedInput,
    Need,
    NeedFilter,
    NeedOrder,
    NeedPayload,
    NeedRecommendationsInput,
    TransitionNeedInput,
    UpdateNeedInput,
    add_stakeholder_input,
    change_status,
    create_need,
    link_recommendations,
    list_needs,
    load_need,
    update_need,
)
from graphql_schema.observability import OperationObservability
from graphql_schema.offers import OfferMutation, OfferQuery
from graphql_schema.persisted import PersistedQueries
from graphql_schema.ready import ReadyReadRecorder, ReadyReads
from graphql_schema.recommendations import (
    Pledge,
    PledgeFilter,
    Recommendation,
    RecommendationFilter,
    RecommendationOrder,
    Review,
    list_pledges,
    list_recommendations,
    load_review,
)
from graphql_schema.reference import ReferenceQuery
from graphql_schema.relay import AFTER, BEFORE, FIRST, LAST, Connection, Node, connection, page_args
from graphql_schema.states import State, StateFilter, StateOrder, load_state, state_order
from graphql_schema.text_limits import TextLimits, document_limits
from graphql_schema.tracking import TrackingMutation, TrackingQuery
from service import recommendations as recommendations_service
from service import states as states_service
from service.errors import InvalidInput
from service.models.enums import NeedStatus as DomainNeedStatus
from service.observability.metrics import OperationNames
from service.persisted_queries import PersistedQueryCache
from service.settings import Settings

MAX_NODES = 100


async def _load_recommendation(info: Info, key: int):
    async def batch(session, ids):
        return await recommendations_service.get_recommendations(session=session, ids=ids)

    row = await info.context.loader("recommendation", batch).load(key)
    return Recommendation(row=row) if row else None


async def _load_pledge(info: Info, key: int):
    async def batch(session, ids):
        return await recommendations_service.get_pledges(session=session, ids=ids)

    row = await info.context.loader("pledge", batch).load(key)
    return Pledge(row=row) if row else None


nodes.register_int("Need", load_need)
nodes.register_int("Recommendation", _load_recommendation)
nodes.register_int("Pledge", _load_pledge)
nodes.register_int("Review", load_review)
nodes.register_int("Match", load_match)
nodes.register("State", lambda info, key: load_state(info, key))
nodes.register_int("FundRound", load_fund_round)
nodes.register_int("FundApplication", load_fund_application)


@strawberry.type(description="Read the technical cooperation graph.")
class Query(ReferenceQuery, OfferQuery, AdminQuery, MatchingQuery, EventsQuery, Item10Query, FundQuery, TrackingQuery):
    @strawberry.field(
        description="Fetch any object by its global ID; null when it does not exist or you may not see it."
    )
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]
    ) -> Node | None:
        return await nodes.resolve_node(info, id)

    @strawberry.field(
        description="Fetch up to 100 objects by global ID, in order; null for each one missing or hidden."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs (at most 100).")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise InvalidInput(f"Ask for at most {MAX_NODES} IDs at once; got {len(ids)}.", field="ids")
        import asyncio

        # Every lookup settles before the first error is raised: one left running would read
        # through the request's connection after the request has given it back.
        found = await asyncio.gather(
            *(nodes.resolve_node(info, i, argument="ids") for i in ids), return_exceptions=True
        )
        for result in found:
            if isinstance(result, BaseException):
                raise result
        return list(found)

    @strawberry.field(description="Assistance needs you may see.")
    async def needs(
        self,
        info: Info,
        filter: NeedFilter | None = None,
        order_by: NeedOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Need]:
        return await list_needs(info, filter, order_by, page_args(first, after, last, before))

    @strawberry.field(description="UPR recommendations (public).")
    async def recommendations(
        self,
        info: Info,
        filter: RecommendationFilter | None = None,
        order_by: RecommendationOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Recommendation]:
        return await list_recommendations(info, filter, order_by, page_args(first, after, last, before))

    @strawberry.field(description="Voluntary pledges and commitments of States (public).")
    async def pledges(
        self,
        info: Info,
        filter: PledgeFilter | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Pledge]:
        return await list_pledges(info, filter, page_args(first, after, last, before))

    @strawberry.field(description="UN Member and observer States (public).")
    async def states(
        self,
        info: Info,
        filter: StateFilter | None = None,
        order_by: StateOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[State]:
        ctx = info.context
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        async with ctx.read_session() as session:
            page = await states_service.list_states(
                session=session, state_filter=domain_filter, order=state_order(order_by), page=args
            )

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await states_service.count_states(session=session, state_filter=domain_filter)

        return connection(page, lambda s: State(row=s), counter)

    @strawberry.field(description="One State by ISO 3166 alpha-3 code.")
    async def state(
        self, info: Info, code: Annotated[str, strawberry.argument(description="ISO 3166 alpha-3 code, e.g. KEN.")]
    ) -> State | None:
        return await load_state(info, code.strip().upper())


@strawberry.type(description="Change the technical cooperation graph. Each mutation is one transaction.")
class Mutation(OfferMutation, AdminMutation, MatchingMutation, ImportMutation, FundMutation, TrackingMutation):
    @strawberry.mutation(description="Create a need for your State (focal points only). It starts as a DRAFT.")
    async def create_need(self, info: Info, input: CreateNeedInput) -> NeedPayload:
        return await create_need(info, input)

    @strawberry.mutation(description="Edit one of your State's needs.")
    async def update_need(self, info: Info, input: UpdateNeedInput) -> NeedPayload:
        return await update_need(info, input)

    @strawberry.mutation(description="Submit a draft need, so partners can see and match it (per its visibility).")
    async def submit_need(self, info: Info, input: TransitionNeedInput) -> NeedPayload:
        return await change_status(info, input.id, DomainNeedStatus.SUBMITTED, input.reason)

    @strawberry.mutation(description="Withdraw a need (from any status but COMPLETED).")
    async def withdraw_need(self, info: Info, input: TransitionNeedInput) -> NeedPayload:
        return await change_status(info, input.id, DomainNeedStatus.WITHDRAWN, input.reason)

    @strawberry.mutation(description="Reopen a withdrawn need as a DRAFT.")
    async def reopen_need(self, info: Info, input: TransitionNeedInput) -> NeedPayload:
        return await change_status(info, input.id, DomainNeedStatus.DRAFT, input.reason)

    @strawberry.mutation(
        description="Move a need to any status the transition table allows next (see `Need.allowedTransitions`)."
    )
    async def change_need_status(self, info: Info, input: ChangeNeedStatusInput) -> NeedPayload:
        return await change_status(info, input.id, input.status, input.reason)

    @strawberry.mutation(description="Add input to a need you can see (NHRIs and civil society organizations).")
    async def add_stakeholder_input(self, info: Info, input: AddStakeholderInputInput) -> AddStakeholderInputPayload:
        return await add_stakeholder_input(info, input)

    @strawberry.mutation(description="Link recommendations (to the need's own State) to a need.")
    async def link_need_recommendations(self, info: Info, input: NeedRecommendationsInput) -> NeedPayload:
        return await link_recommendations(info, input, True)

    @strawberry.mutation(description="Unlink recommendations from a need.")
    async def unlink_need_recommendations(self, info: Info, input: NeedRecommendationsInput) -> NeedPayload:
        return await link_recommendations(info, input, False)


class QuietSchema(strawberry.Schema):
    """Errors are logged once by `ErrorCodes` (unexpected ones only): a refused query or a
    bad input is the caller's business, not an error in the service's log."""

    def process_errors(self, errors, execution_context=None) -> None:  # noqa: D102
        return None


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with its limits; extensions are given as factories (one instance per
    operation), never as shared instances."""
    from graphql.validation import NoSchemaIntrospectionCustomRule

    settings = settings or Settings()
    valid_documents = ValidDocuments()  # this schema's: its rules decide what is valid
    persisted = PersistedQueryCache()
    operation_names = OperationNames(settings.metrics_max_operation_names)
    ready_reads = ReadyReads()
    extensions: list = [
        # Metrics, the access log's fields and the operation's span: it only observes, and
        # around all the others it times their work too and sees the masked result.
        lambda: OperationObservability(names=operation_names),
        # First to act: it puts a persisted query's text in place of its hash (or refuses) before any other hook.
        lambda: PersistedQueries(
            cache=persisted,
            valid_documents=valid_documents,
            automatic=settings.automatic_persisted_queries,
            registered_only=settings.persisted_queries_only,
        ),
        lambda: ErrorCodes(field_suggestions=settings.field_suggestions_enabled),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        # One parsed document per text (keyed with the token limit): a thousand subscriptions
        # of one dashboard share it instead of each keeping its own tree.
        lambda: ParserCache(maxsize=512),
        lambda: CostLimiter(settings=settings, valid_documents=valid_documents),
        # After validation: variables checked once, at the boundary, before anything runs.
        RequestBoundary,
        lambda: AddValidationRules([InputLiterals]),
        TextLimits,  # after CostLimiter, which validates
        # Keeps what an HTTP query whose root fields all compiled ran, to answer it again at
        # the edge (graphql_schema/ready.py).
        lambda: ReadyReadRecorder(reads=ready_reads),
    ]
    if not settings.introspection_enabled:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    built = QuietSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Review],
        extensions=extensions,
        # A live event is executed once for all its subscribers with the same operation and authorization.
        # Compilable query fields run as one SQL statement (graphql_schema/compiled/).
        execution_context_class=CompiledExecution if settings.compiled_reads else SharedEventExecution,
    )
    document(built._schema)
    document_limits(built._schema)
    built.ready_reads = ready_reads  # type: ignore[attr-defined]
    built.operation_names = operation_names  # type: ignore[attr-defined]
    return built


schema = build_schema()
