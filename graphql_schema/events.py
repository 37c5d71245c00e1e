"""Live updates: the `events` and `dashboard` subscriptions and the `changes` query.

The WebSocket context lives as long as the connection, so DataLoaders are rebuilt for
every event delivered (otherwise a subscriber would see stale entities).

A live event is executed once per process for all its subscribers that run the same
operation (document, variables) with the same authorization (see `SharedEventExecution`),
and sent to each straight from its event stream (`graphql_schema/live.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Hashable
from inspect import isawaitable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import strawberry
from graphql import ExecutionResult, GraphQLError, Undefined, print_ast
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from graphql_schema import live, nodes
from graphql_schema.common import Money, NeedStatus
from graphql_schema.relay import FIRST, Node, PageInfo, expect_int_id, to_global_id
from service.access.principals import Principal
from service.errors import InvalidInput, TcgraphError
from service.events import feed, transport
from service.events.broker import SlowConsumer, read_after
from service.events.outbox import Kind
from service.events.singleflight import SingleFlight
from service.matching import queries as matching_queries
from service.observability import metrics

if TYPE_CHECKING:  # strawberry.lazy names, resolved at schema build time
    from graphql_schema.matching import FundingGap


EventKind = strawberry.enum(
    enum.Enum("EventKind", {k: k for k in [*Kind.all(), feed.REMOVED]}),
    name="EventKind",
    description="What happened. NEED_REMOVED: a need you could see is no longer visible to you (ID only).",
)

SLOW_CONSUMER_CLOSE_CODE = 4008
REPLAY_BATCH = 500
SHARED_RESULTS = 10_000  # live event results and dashboard figures remembered per process

log = logging.getLogger("tcgraph.events")


@strawberry.input(description="Which events to receive. Lists mean any of; several fields mean all of.")
class EventFilter:
    kinds: list[EventKind] | None = strawberry.field(default=None, description="Event kinds.")  # type: ignore[valid-type]
    states: list[str] | None = strawberry.field(
        default=None, description="ISO3 codes: a need's State, a programme's recipient States."
    )
    regions: list[str] | None = strawberry.field(
        default=None, description="UN M49 region codes (expanded to their States)."
    )
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes.")
    organizations: list[strawberry.ID] | None = strawberry.field(default=None, description="Organization IDs involved.")


@strawberry.type(description="One change in the graph, in commit order.")
class Event:
    sequence: int = strawberry.field(description="Position in the event log; resume with `after: sequence`.")
    kind: EventKind = strawberry.field(description="What happened.")  # type: ignore[valid-type]
    occurred_at: dt.datetime = strawberry.field(description="When it was committed (UTC).")
    entity_id: strawberry.ID = strawberry.field(description="Global ID of the entity concerned.")
    entity_type: strawberry.Private[str]
    entity_key: strawberry.Private[str]
    removed: bool = strawberry.field(description="True for NEED_REMOVED: the need is no longer visible to you.")
    # Live events carry the process's shared results; replayed ones do not (they show the
    # entity as it is now, so a result remembered from when the event was live would be stale).
    shared: strawberry.Private[SingleFlight[ExecutionResult] | None] = None

    @strawberry.field(description="The entity now, loaded with your permissions (null when removed or gone).")
    async def entity(self, info: Info) -> Node | None:
        if self.removed:
            return None
        loader = nodes._REGISTRY.get(self.entity_type)
        return None if loader is None else await loader(info, self.entity_key)


def _event(delivery: feed.Delivery, shared: SingleFlight[ExecutionResult] | None) -> Event:
    row, removed = delivery.row, delivery.removed
    kind = feed.REMOVED if removed else row.kind
    entity_type = "Need" if removed else row.entity_type
    key = str(row.need_id) if removed else row.entity_id
    return Event(
        sequence=row.sequence,
        kind=EventKind[kind],
        occurred_at=row.occurred_at,
        entity_id=strawberry.ID(to_global_id(entity_type, key)),
        entity_type=entity_type,
        entity_key=key,
        removed=removed,
        shared=shared,
    )


def authorization_class(principal: Principal) -> tuple:
    """Everything about the caller that a resolver reachable from `Event` may read: callers
    that agree on it get the same data. Finer than `feed.visibility_class` (which needs one
    may see): no field reachable from an event reads the organization today, but one that
    did (a partner's own matches or proposals) must never be shared across organizations.
    API key, label and subject are read only by `viewer`, mutations and the rate limit,
    none of which is reachable from an event."""
    return (principal.role, principal.state_iso3, principal.organization_id)


def operation_signature(executor: Any) -> str | None:
    """What, besides the event and the caller, decides an operation's result: its text
    (operation and fragments, printed canonically), its variables as sent and the client's
    operation extensions. None (not shared) when they are not plain JSON."""
    try:
        variables = json.dumps(
            {
                name: source.value
                for name, source in executor.variable_values.sources.items()
                if source.value is not Undefined
            },
            sort_keys=True,
        )
        extensions = json.dumps(getattr(executor, "operation_extensions", None) or {}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    fragments = [print_ast(definition) for _, definition in sorted(executor.fragment_definitions.items())]
    return "\n".join([print_ast(executor.operation), *fragments, variables, extensions])


_UNKNOWN = object()


class SharedEventExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core executor that runs a live `Event` once per (event, operation signature,
    authorization class) and process, and hands the same `ExecutionResult` to every
    subscriber with that key (single-flight). Queries, mutations, replayed events and other
    subscriptions execute as usual.

    The result is computed for this event on the context of the subscriber that asked first,
    whose loaders were just reset (`event_stream`), so it is exactly what each subscriber
    would have computed alone; it is remembered only for live delivery of that event."""

    share_key: Hashable | None = None  # set on the per-event copies of shareable events
    _signature: Any = _UNKNOWN  # the operation's signature, computed once per subscription

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        live.register_executor(self)  # so that live events can be delivered directly

    def __copy__(self) -> "SharedEventExecution":
        """graphql-core copies the executor for every event and subscriber; the generic
        `copy.copy` (reduce protocol) cost more than executing a shared event."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        principal = getattr(self.context_value, "principal", None)
        if isinstance(payload, Event) and payload.shared is not None and isinstance(principal, Principal):
            if self._signature is _UNKNOWN:
                self._signature = operation_signature(self)
            if self._signature is not None:
                executor.share_key = (
                    payload.sequence,
                    payload.removed,
                    payload.entity_type,
                    payload.entity_key,
                    self._signature,
                    authorization_class(principal),
                )
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self.share_key is None:
            return super().execute_operation(serially)
        shared = self.root_value.shared
        run = super().execute_operation

        async def execute() -> ExecutionResult:
            result = run(serially)
            return await result if isawaitable(result) else result

        # A result with errors (e.g. a database hiccup) is not remembered: later subscribers retry.
        return shared.get(self.share_key, execute, keep=lambda result: not result.errors)


async def _filter(info: Info, f: EventFilter | None) -> feed.EventFilter:
    organization_ids = None
    if f is not None and f.organizations is not None:
        organization_ids = [expect_int_id(o, "Organization", argument="filter.organizations") for o in f.organizations]
    async with info.context.read_session() as session:
        return await feed.build_filter(
            session,
            kinds=[k.value for k in f.kinds] if f and f.kinds is not None else None,
            states=f.states if f else None,
            regions=f.regions if f else None,
            themes=f.themes if f else None,
            organization_ids=organization_ids,
        )


def _app_state(info: Info) -> Any:
    return info.context.request.app.state


async def _close_slow(info: Info) -> NoReturn:
    websocket = info.context.request
    with contextlib.suppress(Exception):  # already closing
        await websocket.close(
            code=SLOW_CONSUMER_CLOSE_CODE, reason="Subscriber too slow: events queued beyond the limit"
        )
    # End the operation as cancelled: had the stream returned, strawberry would send
    # `complete` on the closed socket and log that failure with a traceback.
    raise asyncio.CancelledError("subscriber closed as too slow")


def _cut_off_if_stuck(info: Info) -> Callable[[], None]:
    """What to do when this subscriber's queue overflows. Normally the subscription notices
    (`SlowConsumer`) and closes with 4008. But a client that stopped reading for good leaves
    the subscription blocked in a send to its full socket (and a close frame could not get
    through either): if the operation is still running `slow_consumer_cutoff_seconds`
    later, it is cancelled and the TCP connection reset, freeing what is queued for it."""
    task = asyncio.current_task()
    websocket = info.context.request
    seconds = _app_state(info).settings.slow_consumer_cutoff_seconds

    def cut_off() -> None:
        if task is not None and not task.done():
            task.cancel()  # before the reset, so the blocked send ends quietly as cancelled
        if transport.abort(websocket.scope):
            client = websocket.client
            log.warning(
                "cut off subscriber %s: it stopped reading and fell behind",
                f"{client.host}:{client.port}" if client else "?",
            )

    def overflowed() -> None:
        asyncio.get_running_loop().call_later(seconds, cut_off)

    return overflowed


async def event_stream(info: Info, f: EventFilter | None, after: int | None) -> AsyncGenerator[Event, None]:
    ctx = info.context
    state = _app_state(info)
    broker, cache = state.broker, state.visibility_cache
    subscriber_state = feed.SubscriberState(principal=ctx.principal, event_filter=await _filter(info, f))
    # Subscribe before replaying: nothing committed from now on can slip between the two.
    subscription = broker.subscribe(on_overflow=_cut_off_if_stuck(info))
    try:
        await _within(30, broker.connected.wait())
        last = broker.position
        if after is not None:
            async with ctx.read_session() as session:
                await feed.check_after(session, after)
            last = after
            while True:
                async with ctx.read_session() as session:
                    rows = await read_after(session, last, REPLAY_BATCH)
                for row in rows:
                    last = row.sequence
                    delivery = await subscriber_state.decide(row, cache)
                    if delivery is not None:
                        ctx.reset_loaders()
                        metrics.EVENTS_REPLAYED.inc()
                        yield _event(delivery, shared=None)
                if len(rows) < REPLAY_BATCH:
                    break
        while True:
            try:
                row = await subscription.next()
            except SlowConsumer:
                await _close_slow(info)
            if row.sequence <= last:
                continue  # already replayed: no duplicate at the seam
            last = row.sequence
            delivery = await subscriber_state.decide(row, cache)
            if delivery is not None:
                ctx.reset_loaders()
                event = _event(delivery, shared=state.event_results)
                if not await live.deliver(event):  # sent directly when its result is shared
                    yield event
                metrics.EVENTS_LIVE.inc()
                metrics.EVENT_DELIVERY_LAG.observe(time.time() - row.occurred_at.timestamp())
    finally:
        subscription.close()


# -- dashboard aggregates -------------------------------------------------------------------


@strawberry.type(description="How many visible needs are in one status.")
class StatusCount:
    status: NeedStatus = strawberry.field(description="A need status.")  # type: ignore[valid-type]
    needs: int = strawberry.field(description="Number of needs you may see in it.")


@strawberry.type(description="Counts and funding gaps for a dashboard, over the needs you may see.")
class DashboardAggregates:
    sequence: int = strawberry.field(description="Event log position these figures reflect.")
    computed_at: dt.datetime = strawberry.field(description="When they were computed (UTC).")
    by_status: list[StatusCount] = strawberry.field(description="Needs per status.")
    by_theme: list[Annotated["FundingGap", strawberry.lazy("graphql_schema.matching")]] = strawberry.field(
        description="Cost, funding and gap per theme (USD)."
    )
    by_region: list[Annotated["FundingGap", strawberry.lazy("graphql_schema.matching")]] = strawberry.field(
        description="Cost, funding and gap per M49 sub-region (USD)."
    )


async def _aggregates(info: Info, sequence: int) -> DashboardAggregates:
    """The figures as of (at least) `sequence`: computed once per process for all dashboards
    of one authorization class that ask at the same position (a change reaches them all at
    once, and each computation scans every visible need)."""
    ctx = info.context
    key = ("dashboard", sequence, authorization_class(ctx.principal))
    return await _app_state(info).event_results.get(key, lambda: _compute_aggregates(ctx, sequence))


async def _compute_aggregates(ctx: Any, sequence: int) -> DashboardAggregates:
    from graphql_schema.matching import FundingGap

    async with ctx.read_session() as session:
        by_status = await matching_queries.count_by_status(session=session, principal=ctx.principal)
        themes = await matching_queries.funding_gaps(
            session=session, principal=ctx.principal, group_by=matching_queries.GapGrouping.THEME
        )
        regions = await matching_queries.funding_gaps(
            session=session, principal=ctx.principal, group_by=matching_queries.GapGrouping.REGION
        )

    def gap(r):
        return FundingGap(
            key=r.key,
            label=r.label,
            needs=r.needs,
            cost=Money(amount=r.cost_usd, currency="USD"),
            funded=Money(amount=r.funded_usd, currency="USD"),
            gap=Money(amount=r.gap_usd, currency="USD"),
        )

    return DashboardAggregates(
        sequence=sequence,
        computed_at=dt.datetime.now(dt.UTC),
        by_status=[StatusCount(status=s, needs=n) for s, n in by_status],
        by_theme=[gap(r) for r in themes],
        by_region=[gap(r) for r in regions],
    )


async def dashboard_stream(info: Info, debounce_seconds: float) -> AsyncGenerator[DashboardAggregates, None]:
    if not 0 <= debounce_seconds <= 60:
        raise InvalidInput("`debounceSeconds` must be between 0 and 60.", field="debounceSeconds")
    state = _app_state(info)
    broker, cache = state.broker, state.visibility_cache
    subscriber_state = feed.SubscriberState(principal=info.context.principal, event_filter=feed.EventFilter())
    subscription = broker.subscribe(on_overflow=_cut_off_if_stuck(info))
    try:
        await _within(30, broker.connected.wait())
        last = broker.position
        yield await _aggregates(info, last)
        while True:
            try:
                row = await subscription.next()
                if row.sequence <= last:
                    continue
                last = row.sequence
                if row.need_id is None or await subscriber_state.decide(row, cache) is None:
                    continue
                # Debounce: a burst of changes gives one update — wait for a quiet spell of
                # `debounce_seconds` (at most ten of them, so a steady stream still updates).
                loop = asyncio.get_running_loop()
                quiet_until = loop.time() + debounce_seconds
                latest = loop.time() + 10 * debounce_seconds
                while (remaining := min(quiet_until, latest) - loop.time()) > 0:
                    try:
                        more = await _within(remaining, subscription.next())
                    except TimeoutError:
                        break
                    last = max(last, more.sequence)
                    quiet_until = loop.time() + debounce_seconds
            except SlowConsumer:
                await _close_slow(info)
            yield await _aggregates(info, last)
    finally:
        subscription.close()


async def _within(seconds: float, awaitable: Any) -> Any:
    """asyncio.timeout rather than wait_for, which on Python 3.11 can swallow a cancellation."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def _coded(stream: AsyncGenerator[Any, None], field: str) -> AsyncGenerator[Any, None]:
    """Domain errors inside a stream reach the client with their `extensions.code`; the
    subscription counts as open (metrics) while it runs."""
    open_gauge = metrics.SUBSCRIPTIONS_OPEN.labels(field)
    open_gauge.inc()
    try:
        async for item in stream:
            yield item
    except TcgraphError as exc:
        raise GraphQLError(exc.message, extensions={"code": exc.code}) from None
    finally:
        open_gauge.dec()
        await stream.aclose()


@strawberry.type(description="Live updates over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        description="Events in commit order: replays the log after `after`, then streams live ones, with no gap and no duplicate at the seam. Only events about what you may see; a need that becomes hidden from you sends NEED_REMOVED with its ID only."
    )
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        after: Annotated[
            int | None,
            strawberry.argument(description="Replay events after this sequence first (omit for live events only)."),
        ] = None,
    ) -> AsyncGenerator[Event, None]:
        async for item in _coded(event_stream(info, filter, after), "events"):
            yield item

    @strawberry.subscription(
        description="Counts by status and funding gaps by theme and region, sent at once and again after changes (a burst gives one update)."
    )
    async def dashboard(
        self,
        info: Info,
        debounce_seconds: Annotated[
            float, strawberry.argument(description="Quiet time that ends a burst (0–60 s).")
        ] = 1.0,
    ) -> AsyncGenerator[DashboardAggregates, None]:
        async for item in _coded(dashboard_stream(info, debounce_seconds), "dashboard"):
            yield item


# -- changes (polling) -------------------------------------------------------------------------


@strawberry.enum(description="What happened to an entity, as far as you may know.")
class ChangeOperation(enum.Enum):
    CREATED = strawberry.enum_value("CREATED", description="It was created.")
    UPDATED = strawberry.enum_value("UPDATED", description="It changed.")
    REMOVED = strawberry.enum_value("REMOVED", description="It is no longer visible to you.")


@strawberry.type(description="One change: an entity's global ID and what happened.")
class Change:
    sequence: int = strawberry.field(description="Event log position.")
    operation: ChangeOperation = strawberry.field(description="Created, updated or removed.")
    entity_type: str = strawberry.field(description="Need, Match, Programme, Capability, …")
    id: strawberry.ID = strawberry.field(description="Global ID; refetch it with `node(id:)`.")
    kind: EventKind = strawberry.field(description="The underlying event kind.")  # type: ignore[valid-type]


@strawberry.type(description="IDs per entity type and operation in this page.")
class ChangeSummary:
    entity_type: str = strawberry.field(description="Entity type.")
    created: list[strawberry.ID] = strawberry.field(description="Created.")
    updated: list[strawberry.ID] = strawberry.field(description="Updated (not created in this page).")
    removed: list[strawberry.ID] = strawberry.field(description="No longer visible to you.")


@strawberry.type(description="An edge of changes.")
class ChangeEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: Change = strawberry.field(description="The change.")


@strawberry.type(description="Changes since a sequence, for partner systems that sync by polling.")
class ChangeConnection:
    edges: list[ChangeEdge] = strawberry.field(description="Changes in commit order.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    summary: list[ChangeSummary] = strawberry.field(description="The page grouped by entity type.")
    last_sequence: int = strawberry.field(description="Pass as `since` next time (or page on with `after`).")


@strawberry.type(description="Sync by polling.")
class EventsQuery:
    @strawberry.field(
        description="What changed after `since` (an event sequence; 0 for everything retained), under your visibility. One request examines at most 1,000 events of the log (shared by all its `changes` fields): a page may hold fewer changes than asked (even none) with `hasNextPage` true; page on with `after: endCursor`."
    )
    async def changes(
        self,
        info: Info,
        since: Annotated[int, strawberry.argument(description="Event sequence to start after.")] = 0,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor of the previous page.")] = None,
    ) -> ChangeConnection:
        ctx = info.context
        # One budget of examined events per operation, shared by aliased `changes` fields.
        scan, ctx.scan_budget = ctx.scan_budget, 0
        examined = 0
        try:
            async with ctx.read_session() as session:
                page = await feed.changes(
                    session=session, principal=ctx.principal, since=since, first=first, after=after, scan=scan
                )
            examined = page.examined
        finally:
            ctx.scan_budget += scan - examined
            ctx.rows_scanned += examined
        items, has_more, position = page.changes, page.has_more, page.last_sequence
        edges = [
            ChangeEdge(
                cursor=feed.changes_cursor(c.sequence),
                node=Change(
                    sequence=c.sequence,
                    operation=ChangeOperation[c.operation],
                    entity_type=c.entity_type,
                    id=strawberry.ID(to_global_id(c.entity_type, c.entity_id)),
                    kind=EventKind[c.kind],
                ),
            )
            for c in items
        ]
        grouped: dict[str, dict[str, list[strawberry.ID]]] = {}
        for c in items:
            bucket = grouped.setdefault(c.entity_type, {"CREATED": [], "UPDATED": [], "REMOVED": []})
            global_id = strawberry.ID(to_global_id(c.entity_type, c.entity_id))
            created_here = global_id in bucket["CREATED"]
            for ids in bucket.values():
                if global_id in ids:
                    ids.remove(global_id)
            bucket["CREATED" if created_here and c.operation == "UPDATED" else c.operation].append(global_id)
        return ChangeConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_more,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=feed.changes_cursor(position),
            ),
            summary=[
                ChangeSummary(entity_type=t, created=b["CREATED"], updated=b["UPDATED"], removed=b["REMOVED"])
                for t, b in sorted(grouped.items())
            ],
            last_sequence=position,
        )
