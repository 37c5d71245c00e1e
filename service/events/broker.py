"""One LISTEN task per worker process fans committed events out to its subscribers.

A notification only says "something new up to N"; the broker then reads the log after the
last sequence it delivered, so a lost notification or a dropped connection loses nothing:
after reconnecting it simply reads on from where it was. Subscribers get event rows (IDs,
kinds, filter attributes); they load entities themselves under their own permissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa

from service.db.url import asyncpg_dsn
from service.events.outbox import CHANNEL

log = logging.getLogger("tcgraph.events")


@dataclass(frozen=True)
class EventRow:
    sequence: int
    kind: str
    entity_type: str
    entity_id: str
    need_id: int | None
    states: tuple[str, ...]
    themes: tuple[str, ...]
    organization_ids: tuple[int, ...]
    payload: dict[str, Any]
    occurred_at: datetime


SELECT_AFTER = (
    "select sequence, kind, entity_type, entity_id, need_id, states, themes, organization_ids, payload, occurred_at "
    "from event where sequence > $1 order by sequence limit $2"
)


def to_row(record: Any) -> EventRow:
    import json

    payload = record["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    return EventRow(
        sequence=record["sequence"],
        kind=record["kind"],
        entity_type=record["entity_type"],
        entity_id=record["entity_id"],
        need_id=record["need_id"],
        states=tuple(record["states"] or ()),
        themes=tuple(record["themes"] or ()),
        organization_ids=tuple(record["organization_ids"] or ()),
        payload=payload or {},
        occurred_at=record["occurred_at"],
    )


class SlowConsumer(Exception):
    """The subscriber's queue overflowed: it is closed rather than growing memory."""


class Subscriber:
    def __init__(self, broker: "Broker", max_queue: int, on_overflow: Callable[[], None] | None = None):
        self.broker = broker
        self.queue: asyncio.Queue[EventRow | None] = asyncio.Queue(maxsize=max_queue)
        self.overflowed = False
        self.on_overflow = on_overflow

    def offer(self, row: EventRow) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.overflowed = True
            # Wake the consumer so it notices and closes; nothing more is queued for it.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            if self.on_overflow is not None:
                self.on_overflow()  # for a consumer that is not reading at all

    async def next(self) -> EventRow:
        row = await self.queue.get()
        if row is None or self.overflowed:
            raise SlowConsumer()
        return row

    def close(self) -> None:
        self.broker.unsubscribe(self)


class Broker:
    """Per-process hub: LISTENs on one dedicated connection, reconnecting on failure."""

    def __init__(self, database_url: str, *, max_queue: int = 1000, batch: int = 500):
        self.dsn = asyncpg_dsn(database_url)
        self.max_queue = max_queue
        self.batch = batch
        self.subscribers: set[Subscriber] = set()
        self.position: int = 0  # last sequence delivered to subscribers
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None
        self.reconnects = 0

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tcgraph-event-broker")
        # Do not block start-up on the database: subscriptions wait for `connected`.

    async def stop(self) -> None:
        if self._task:
            # Cancel until it is really done (Python 3.11's wait_for can swallow one cancellation).
            for _ in range(50):
                self._task.cancel()
                done, _pending = await asyncio.wait({self._task}, timeout=0.1)
                if done:
                    break
            with contextlib.suppress(asyncio.CancelledError, Exception):
                if self._task.done():
                    self._task.result()
        if self._conn is not None and not self._conn.is_closed():
            self._conn.terminate()

    def subscribe(self, on_overflow: Callable[[], None] | None = None) -> Subscriber:
        subscriber = Subscriber(self, self.max_queue, on_overflow)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    # -- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._connect()
                delay = 0.2
                await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — any failure: reconnect with backoff
                self.connected.clear()
                self.reconnects += 1
                log.warning("event listener lost its connection (%s); reconnecting in %.1fs", exc, delay)
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.terminate()
                    self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "tcgraph-listener"})
        await conn.add_listener(CHANNEL, self._on_notify)
        conn.add_termination_listener(lambda _: self._wake.set())
        if self.position == 0:
            self.position = int(await conn.fetchval("select coalesce(max(sequence), 0) from event"))
        self._conn = conn
        self.connected.set()
        self._wake.set()  # catch up on anything committed while disconnected

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _pump(self) -> None:
        assert self._conn is not None
        while True:
            try:
                async with asyncio.timeout(5.0):  # (not wait_for: it can swallow a cancellation)
                    await self._wake.wait()
            except TimeoutError:
                # Heartbeat: detect a dead connection even when nothing happens.
                await self._conn.fetchval("select 1")
                continue
            self._wake.clear()
            if self._conn.is_closed():
                raise ConnectionError("listener connection closed")
            while True:
                records = await self._conn.fetch(SELECT_AFTER, self.position, self.batch)
                for record in records:
                    row = to_row(record)
                    self.position = row.sequence
                    for subscriber in list(self.subscribers):
                        subscriber.offer(row)
                if len(records) < self.batch:
                    break


async def read_after(session: Any, after: int, limit: int) -> list[EventRow]:
    """Replay from the log (a SQLAlchemy session)."""
    result = await session.execute(
        sa.text(SELECT_AFTER.replace("$1", ":after").replace("$2", ":limit")), {"after": after, "limit": limit}
    )
    return [to_row(r._mapping) for r in result]


async def count_after(session: Any, after: int, *, limit: int) -> int:
    """How many events follow `after`, counting no further than `limit`."""
    return (
        await session.execute(
            sa.text("select count(*) from (select 1 from event where sequence > :after limit :limit) as later"),
            {"after": after, "limit": limit},
        )
    ).scalar_one()


async def retained_range(session: Any) -> tuple[int, int]:
    """(oldest retained sequence − 1, newest sequence): valid `after` values lie in it."""
    lowest, highest = (await session.execute(sa.text("select min(sequence), max(sequence) from event"))).one()
    if lowest is None:
        current = (await session.execute(sa.text("select last_value, is_called from event_sequence_seq"))).one()
        newest = current[0] if current[1] else 0
        return newest, newest
    return lowest - 1, highest


async def prune(session: Any, *, older_than_days: float) -> int:
    """Delete events past retention (never the audit trail); returns how many."""
    result = await session.execute(
        sa.text("delete from event where occurred_at < now() - make_interval(secs => :seconds)"),
        {"seconds": older_than_days * 86400},
    )
    return result.rowcount or 0
