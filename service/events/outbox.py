"""Writing events: in the same transaction as the change, numbered at commit.

Writers call `emit(session, …)`; the events wait in the session until commit. Just before
commit, under a transaction-level advisory lock, they get their sequence numbers and are
inserted, and `pg_notify` tells every worker process. The lock is held until the commit
completes, so sequence order equals commit order: a subscriber resuming with `after=N` can
never miss an event that commits later with a number ≤ N.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

CHANNEL = "tcgraph_events"
LOCK_KEY = 0x7C6_7261_7068  # "tcgraph" advisory lock for event numbering

PENDING = "tcgraph_pending_events"


class Kind:
    NEED_CREATED = "NEED_CREATED"
    NEED_UPDATED = "NEED_UPDATED"
    NEED_STATUS_CHANGED = "NEED_STATUS_CHANGED"
    NEED_VISIBILITY_CHANGED = "NEED_VISIBILITY_CHANGED"
    NEED_INPUT_ADDED = "NEED_INPUT_ADDED"
    NEED_SUGGESTIONS_CHANGED = "NEED_SUGGESTIONS_CHANGED"
    MATCH_PROPOSED = "MATCH_PROPOSED"
    MATCH_ENDORSED = "MATCH_ENDORSED"
    MATCH_DECLINED = "MATCH_DECLINED"
    MATCH_AGREED = "MATCH_AGREED"
    MATCH_ACTIVATED = "MATCH_ACTIVATED"
    MATCH_COMPLETED = "MATCH_COMPLETED"
    MATCH_WITHDRAWN = "MATCH_WITHDRAWN"
    MATCH_LESSONS_RECORDED = "MATCH_LESSONS_RECORDED"
    PROGRAMME_CREATED = "PROGRAMME_CREATED"
    PROGRAMME_UPDATED = "PROGRAMME_UPDATED"
    CAPABILITY_CREATED = "CAPABILITY_CREATED"
    CAPABILITY_UPDATED = "CAPABILITY_UPDATED"
    RECOMMENDATION_CREATED = "RECOMMENDATION_CREATED"
    RECOMMENDATION_UPDATED = "RECOMMENDATION_UPDATED"
    PLEDGE_CREATED = "PLEDGE_CREATED"
    ORGANIZATION_CREATED = "ORGANIZATION_CREATED"
    ORGANIZATION_UPDATED = "ORGANIZATION_UPDATED"
    # UPR Voluntary Fund rounds (public from OPEN on; applications have no events until the
    # allocation makes them public with the round's FUND_ALLOCATION_APPROVED).
    FUND_ROUND_OPENED = "FUND_ROUND_OPENED"
    FUND_ROUND_CLOSED = "FUND_ROUND_CLOSED"
    FUND_CRITERIA_CHANGED = "FUND_CRITERIA_CHANGED"
    FUND_ALLOCATION_APPROVED = "FUND_ALLOCATION_APPROVED"
    ACTION_CREATED = "ACTION_CREATED"
    ACTION_UPDATED = "ACTION_UPDATED"
    PROGRESS_REPORT_CREATED = "PROGRESS_REPORT_CREATED"
    PROGRESS_REPORT_UPDATED = "PROGRESS_REPORT_UPDATED"
    PROGRESS_COMMENT_CREATED = "PROGRESS_COMMENT_CREATED"

    @classmethod
    def all(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if k.isupper()]


MATCH_KINDS = {
    "PROPOSED": Kind.MATCH_PROPOSED,
    "ENDORSED": Kind.MATCH_ENDORSED,
    "DECLINED": Kind.MATCH_DECLINED,
    "AGREED": Kind.MATCH_AGREED,
    "ACTIVE": Kind.MATCH_ACTIVATED,
    "COMPLETED": Kind.MATCH_COMPLETED,
    "WITHDRAWN": Kind.MATCH_WITHDRAWN,
}


@dataclass
class PendingEvent:
    kind: str
    entity_type: str
    entity_id: str
    need_id: int | None = None
    states: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    organization_ids: list[int] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)


def emit(
    session: Any,
    kind: str,
    entity_type: str,
    entity_id: Any,
    *,
    need_id: int | None = None,
    states: Iterable[str] = (),
    themes: Iterable[str] = (),
    organization_ids: Iterable[int] = (),
    payload: dict[str, Any] | None = None,
) -> None:
    """Queue an event on the session (AsyncSession or Session); written at its commit."""
    sync_session = getattr(session, "sync_session", session)
    sync_session.info.setdefault(PENDING, []).append(
        PendingEvent(
            kind=kind,
            entity_type=entity_type,
            entity_id=str(entity_id),
            need_id=need_id,
            states=list(states),
            themes=list(themes),
            organization_ids=list(organization_ids),
            payload=payload or {},
        )
    )


def emit_need(session: Any, kind: str, need: Any, **payload: Any) -> None:
    emit(
        session,
        kind,
        "Need",
        need.id,
        need_id=need.id,
        states=[need.state_iso3],
        themes=need.themes,
        payload={"visibility": getattr(need.visibility, "value", need.visibility), **payload},
    )


#: Payload key of events about a State's implementation tracking: the visibility the entity
#: had when the event was written (for a report, the narrower of its own and its action's).
#: Subscribers and `changes` see such an event only if that visibility admits them.
SCOPE_VISIBILITY = "scope_visibility"


def emit_scoped(
    session: Any,
    kind: str,
    entity_type: str,
    entity_id: Any,
    *,
    state: str,
    visibility: Any,
    themes: Iterable[str] = (),
    organization_ids: Iterable[int] = (),
) -> None:
    """Queue an event about an entity under a State's consent rule (not a need)."""
    emit(
        session,
        kind,
        entity_type,
        entity_id,
        states=[state],
        themes=themes,
        organization_ids=organization_ids,
        payload={SCOPE_VISIBILITY: getattr(visibility, "value", visibility)},
    )


_INSERT = sa.text(
    """
    insert into event (sequence, kind, entity_type, entity_id, need_id, states, themes, organization_ids, payload)
    select nextval('event_sequence_seq'), e.kind, e.entity_type, e.entity_id, e.need_id,
           coalesce(e.states, '{}'), coalesce(e.themes, '{}'), coalesce(e.organization_ids, '{}'),
           coalesce(e.payload, '{}'::jsonb)
      from jsonb_to_recordset(cast(:events as jsonb)) as e(
           ord int, kind text, entity_type text, entity_id text, need_id int, states text[],
           themes text[], organization_ids int[], payload jsonb)
     order by e.ord
    returning sequence
    """
)


@sa_event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    pending: list[PendingEvent] = session.info.pop(PENDING, [])
    if not pending:
        return
    rows = [{"ord": i, **{k: v for k, v in e.__dict__.items()}} for i, e in enumerate(pending)]
    connection = session.connection()
    connection.execute(sa.text("select pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    sequences = connection.execute(_INSERT, {"events": json.dumps(rows, default=str)}).scalars().all()
    connection.execute(sa.text("select pg_notify(:channel, :last)"), {"channel": CHANNEL, "last": str(max(sequences))})


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending_events(session: Session) -> None:
    session.info.pop(PENDING, None)


def mark(session: Any) -> int:
    """How many events are queued now (to discard those of a rolled-back SAVEPOINT)."""
    return len(getattr(session, "sync_session", session).info.get(PENDING, []))


def discard_since(session: Any, position: int) -> None:
    pending = getattr(session, "sync_session", session).info.get(PENDING)
    if pending is not None:
        del pending[position:]
