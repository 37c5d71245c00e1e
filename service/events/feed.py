"""What a subscriber may receive: event filters, visibility at the event's position, removal
events, and the `changes` log for polling partner systems.

One rule for live delivery and replay: a subscriber gets each event about a need it may see
*at the event's position in the log*, and exactly one NEED_REMOVED at the event where it
stops seeing it (`visible_around`). Live or replayed, early or late, every subscriber of a
kind gets the same events. Visibility is decided by the same SQL predicate as every read
path (`service.access.visibility.visible_needs`), applied to the need's State and its
visibility at that position, and cached per event and per *visibility class* (anonymous,
partners, one State's focal points, administrators) so a thousand subscribers of the same
kind cost one query per event.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.policy import NeedAccess, need_access
from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.errors import InvalidInput
from service.events.broker import EventRow, retained_range
from service.events.outbox import SCOPE_VISIBILITY, Kind
from service.events.singleflight import SingleFlight
from service.models import AssistanceNeed, Event
from service.pagination import MAX_PAGE_SIZE

REMOVED = "NEED_REMOVED"


def visibility_class(principal: Principal) -> tuple:
    """Principals that see exactly the same needs share a class."""
    access = need_access(principal)
    if access is NeedAccess.ALL:
        return ("admin",)
    if access is NeedAccess.OWN_STATE:
        return ("state", principal.state_iso3)
    if access is NeedAccess.PARTNERS:
        return ("partner",)
    return ("public",)


@dataclass(frozen=True)
class EventFilter:
    kinds: frozenset[str] | None = None
    states: frozenset[str] | None = None  # regions already expanded to States
    themes: frozenset[str] | None = None
    organization_ids: frozenset[int] | None = None

    def accepts(self, row: EventRow) -> bool:
        if self.kinds is not None and row.kind not in self.kinds and not (REMOVED in self.kinds and row.need_id):
            return False
        if self.states is not None and not (self.states & set(row.states)):
            return False
        if self.themes is not None and not (self.themes & set(row.themes)):
            return False
        if self.organization_ids is not None and not (self.organization_ids & set(row.organization_ids)):
            return False
        return True


async def build_filter(
    session: AsyncSession,
    *,
    kinds: Sequence[str] | None,
    states: Sequence[str] | None,
    regions: Sequence[str] | None,
    themes: Sequence[str] | None,
    organization_ids: Sequence[int] | None,
) -> EventFilter:
    unknown = sorted(set(kinds or ()) - set(Kind.all()) - {REMOVED})
    if unknown:
        raise InvalidInput(f"Unknown event kind(s): {', '.join(unknown)}.", field="filter.kinds")
    state_set: set[str] | None = {s.upper() for s in states} if states is not None else None
    if regions is not None:
        from service.needs import states_in_regions

        in_regions = set((await session.execute(states_in_regions(list(regions)))).scalars())
        state_set = in_regions if state_set is None else state_set & in_regions
    return EventFilter(
        kinds=frozenset(kinds) if kinds is not None else None,
        states=frozenset(state_set) if state_set is not None else None,
        themes=frozenset(themes) if themes is not None else None,
        organization_ids=frozenset(organization_ids) if organization_ids is not None else None,
    )


@dataclass(frozen=True)
class Seen:
    """Whether a subscriber could see an event's need just before the event, and at it."""

    before: bool
    after: bool


PUBLIC_ENTITY = Seen(before=True, after=True)  # programmes, capabilities, recommendations, organizations


class VisibilityCache:
    """(sequence, visibility class) → `Seen`. Process-wide, bounded, single-flight: the first
    subscriber of a class asks the database, the others await it. Answers depend on the
    event's position only, never on when they are asked, so a replay may reuse what live
    delivery computed."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], size: int = 20_000):
        self.sessionmaker = sessionmaker
        self._answers: SingleFlight[Seen] = SingleFlight(size)
        self._visibilities: SingleFlight[tuple[str | None, str | None]] = SingleFlight(size)

    async def seen(self, principal: Principal, row: EventRow) -> Seen:
        if row.need_id is None and SCOPE_VISIBILITY in row.payload:
            return await self._answers.get(
                (row.sequence, visibility_class(principal)), lambda: self._ask_scoped(principal, row)
            )
        if row.need_id is None:
            return PUBLIC_ENTITY
        return await self._answers.get((row.sequence, visibility_class(principal)), lambda: self._ask(principal, row))

    async def _ask(self, principal: Principal, row: EventRow) -> Seen:
        before, after = await self._visibilities.get(row.sequence, lambda: self._visibility_around(row))
        state = row.states[0] if row.states else ""
        async with self.sessionmaker() as session:
            seen_after = await was_visible(session, principal, state, after)
            seen_before = seen_after if before == after else await was_visible(session, principal, state, before)
        return Seen(before=seen_before, after=seen_after)

    async def _ask_scoped(self, principal: Principal, row: EventRow) -> Seen:
        """Implementation tracking: seen if the visibility the event recorded admits the
        subscriber (no removal events: such an entity is simply not sent once hidden)."""
        state = row.states[0] if row.states else ""
        async with self.sessionmaker() as session:
            seen = await was_visible(session, principal, state, row.payload.get(SCOPE_VISIBILITY))
        return Seen(before=seen, after=seen)

    async def _visibility_around(self, row: EventRow) -> tuple[str | None, str | None]:
        if (around := visibility_around(row)) is not None:
            return around
        async with self.sessionmaker() as session:
            visibility = await need_visibility_at(session, row.need_id or 0, row.sequence)
        return visibility, visibility


def visibility_around(row: EventRow) -> tuple[str | None, str | None] | None:
    """(before, after) visibility of the row's need as the row itself records it: need events
    carry the visibility their transaction wrote (under the need's row lock), a visibility
    change also the previous one. None for events that do not record it (matches, inputs…)."""
    if row.entity_type != "Need" or "visibility" not in row.payload:
        return None
    after = row.payload["visibility"]
    return (
        (row.payload.get("previous_visibility"), after) if row.kind == Kind.NEED_VISIBILITY_CHANGED else (after, after)
    )


async def need_visibility_at(session: AsyncSession, need_id: int, sequence: int) -> str | None:
    """A need's visibility at a log position, for events that do not record it. Only a
    visibility change changes it, and each records the visibility before it: so it is the
    previous visibility of the first change after the position, or, with none, the need's
    visibility now. (Pruning removes the oldest events: the changes after a retained event
    are retained too.)"""
    next_change = (
        sa.select(Event.payload["previous_visibility"].astext)
        .where(Event.need_id == need_id, Event.kind == Kind.NEED_VISIBILITY_CHANGED, Event.sequence > sequence)
        .order_by(Event.sequence)
        .limit(1)
    )
    now = sa.select(sa.cast(AssistanceNeed.visibility, sa.String)).where(AssistanceNeed.id == need_id)
    stmt = sa.select(sa.func.coalesce(next_change.scalar_subquery(), now.scalar_subquery()))
    return (await session.execute(stmt)).scalar_one_or_none()


async def was_visible(session: AsyncSession, principal: Principal, state: str, visibility: str | None) -> bool:
    if visibility is None:
        return False
    past = sa.select(sa.literal(state).label("state_iso3"), sa.literal(visibility).label("visibility")).subquery("past")
    stmt = sa.select(sa.literal(1)).select_from(past).where(visible_needs(principal, need=past.c))
    return (await session.execute(stmt)).scalar_one_or_none() is not None


@dataclass
class Delivery:
    """What to send for one event to one subscriber: the row, or a removal (ID only)."""

    row: EventRow
    removed: bool = False


@dataclass
class SubscriberState:
    principal: Principal
    event_filter: EventFilter

    async def decide(self, row: EventRow, cache: VisibilityCache) -> Delivery | None:
        """Deliver, deliver as a removal, or drop — never leak a need the subscriber may not
        see. The same answer live and on replay: it depends on the event's position only."""
        if not self.event_filter.accepts(row):
            return None
        seen = await cache.seen(self.principal, row)
        kinds = self.event_filter.kinds
        if seen.after:
            return Delivery(row) if kinds is None or row.kind in kinds else None
        if seen.before and (kinds is None or REMOVED in kinds):
            return Delivery(row, removed=True)  # the one event at which it stops seeing the need
        return None


async def check_after(session: AsyncSession, after: int, argument: str = "after") -> int:
    """Refuse an `after` outside the retained log; returns the newest sequence. `argument`
    names the caller's argument in the error (`changes` takes `since`)."""
    low, high = await retained_range(session)
    if after < low:
        raise InvalidInput(
            f"Events after {after} are no longer retained; the log starts after {low}. "
            f"Resynchronise with a query, then start again with `{argument}` at or above that.",
            field=argument,
        )
    if after > high:
        raise InvalidInput(f"`{argument}` ({after}) is beyond the newest event ({high}).", field=argument)
    return high


# -- changes (polling) -------------------------------------------------------------------------

ENTITY_OF_EVENT = {
    "Need",
    "Match",
    "Programme",
    "Capability",
    "Recommendation",
    "Pledge",
    "Organization",
    "StakeholderInput",
    "FundRound",
    "ImplementationAction",
    "ProgressReport",
    "ProgressComment",
}
CHANGES_DEFAULT_PAGE = 100
# Events examined per request at most (all its `changes` fields together), visible or not:
# a caller who may see few of them pages on with the cursor rather than making one request
# scan the whole log.
CHANGES_SCAN_LIMIT = 1000


@dataclass(frozen=True)
class Change:
    sequence: int
    entity_type: str
    entity_id: str
    operation: str  # CREATED | UPDATED | REMOVED
    kind: str


@dataclass(frozen=True)
class ChangesPage:
    changes: list[Change]
    has_more: bool
    last_sequence: int  # where the next page starts: the last change returned, or the last event examined
    examined: int  # events read from the log to build it


def _change_statement(principal: Principal, start: int, limit: int, scan: int) -> sa.Select:
    """One statement: the `scan` events after `start`, each decided under the caller's
    visibility in SQL (visible now: created/updated; hidden now but visible when it
    happened: removed; else dropped), the first `limit` + 1 kept, with how many were
    examined, the last one examined, and whether the log goes on after it."""
    event = Event.__table__
    scanned = (
        sa.select(
            event.c.sequence,
            event.c.kind,
            event.c.entity_type,
            event.c.entity_id,
            event.c.need_id,
            event.c.states,
            event.c.payload,
        )
        .where(event.c.sequence > start)
        .order_by(event.c.sequence)
        .limit(scan)
        .cte("scanned")
    )
    need = AssistanceNeed.__table__.alias("need")
    then = sa.case(
        (scanned.c.kind == Kind.NEED_VISIBILITY_CHANGED, scanned.c.payload["previous_visibility"].astext),
        else_=scanned.c.payload["visibility"].astext,
    )
    past = SimpleNamespace(state_iso3=scanned.c.states[1], visibility=sa.type_coerce(then, need.c.visibility.type))
    scoped = scanned.c.payload.has_key(SCOPE_VISIBILITY)
    scoped_past = SimpleNamespace(
        state_iso3=scanned.c.states[1],
        visibility=sa.type_coerce(scanned.c.payload[SCOPE_VISIBILITY].astext, need.c.visibility.type),
    )
    operation = sa.case(
        (
            scoped,
            sa.case(
                (
                    visible_needs(principal, need=scoped_past),
                    sa.case((scanned.c.kind.endswith("_CREATED", autoescape=True), "CREATED"), else_="UPDATED"),
                ),
                else_=sa.null(),
            ),
        ),
        (
            sa.or_(scanned.c.need_id.is_(None), need.c.id.is_not(None)),
            sa.case((scanned.c.kind.endswith("_CREATED", autoescape=True), "CREATED"), else_="UPDATED"),
        ),
        (sa.and_(scanned.c.entity_type == "Need", then.is_not(None), visible_needs(principal, need=past)), "REMOVED"),
    ).label("operation")
    decided = (
        sa.select(scanned.c.sequence, scanned.c.kind, scanned.c.entity_type, scanned.c.entity_id, operation)
        .select_from(
            scanned.outerjoin(need, sa.and_(need.c.id == scanned.c.need_id, visible_needs(principal, need=need.c)))
        )
        .subquery("decided")
    )
    kept = (
        sa.select(decided)
        .where(decided.c.operation.is_not(None))
        .order_by(decided.c.sequence)
        .limit(limit + 1)
        .lateral("kept")
    )
    last_examined = sa.func.coalesce(sa.select(sa.func.max(scanned.c.sequence)).scalar_subquery(), start)
    examined = (
        sa.select(
            sa.func.count().label("examined"),
            sa.func.max(scanned.c.sequence).label("last_examined"),
            sa.exists(sa.select(event.c.sequence).where(event.c.sequence > last_examined)).label("more"),
        )
        .select_from(scanned)
        .subquery("examined")
    )
    return (
        sa.select(examined, kept.c.sequence, kept.c.kind, kept.c.entity_type, kept.c.entity_id, kept.c.operation)
        .select_from(examined.outerjoin(kept, sa.true()))
        .order_by(kept.c.sequence)
    )


async def changes(
    *,
    session: AsyncSession,
    principal: Principal,
    since: int,
    first: int | None,
    after: str | None,
    scan: int = CHANGES_SCAN_LIMIT,
) -> ChangesPage:
    """Changes after `since` under the caller's visibility, examining at most `scan` events."""
    limit = CHANGES_DEFAULT_PAGE if first is None else first
    if not 0 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}; got {limit}.", field="first")
    start = since
    if after:
        try:
            kind, value = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode().split(":", 1)
            if kind != "changes":
                raise ValueError
            start = max(start, int(value))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("`after` is not a cursor of `changes`.", field="after") from None
    newest = await check_after(session, start, "since" if start == since else "after")
    if scan == 0:  # this operation's budget is spent (aliased `changes`): look no further
        return ChangesPage([], start < newest, start, 0)
    rows = (await session.execute(_change_statement(principal, start, limit, scan))).all()
    examined, last_examined, more = rows[0].examined, rows[0].last_examined, rows[0].more
    found = [
        Change(r.sequence, r.entity_type, r.entity_id, r.operation, r.kind) for r in rows if r.sequence is not None
    ]
    if len(found) > limit:
        page = found[:limit]
        return ChangesPage(page, True, page[-1].sequence if page else start, examined)
    return ChangesPage(found, bool(more), start if last_examined is None else last_examined, examined)


def changes_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"changes:{sequence}".encode()).decode().rstrip("=")
