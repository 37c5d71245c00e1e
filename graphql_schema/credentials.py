"""Open WebSockets lose their power with their credential.

A connection authenticates once, at `connection_init`; afterwards its API key may be
revoked or expire, or its JWT expire. `LiveOperationHandler` re-checks the credential
when an operation starts (`still_accepted`); `CredentialWatch` covers what is already
running: one task per process checks the API keys of all its open connections in one query
every `ws_credential_check_seconds`, and a timer per connection fires when its key or token
expires. A connection whose credential is gone is closed with 4403."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.keys import live_api_key_ids
from service.access.principals import Principal

log = logging.getLogger("tcgraph.ws")

FORBIDDEN_CLOSE_CODE = 4403


class Watched(Protocol):
    @property
    def principal(self) -> Principal: ...

    async def forbid(self) -> None:
        """Ends the connection's operations and closes it with 4403."""


class CredentialWatch:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], period_seconds: float):
        self.sessionmaker = sessionmaker
        self.period_seconds = period_seconds
        self._keys: dict[Watched, int] = {}  # connection → its API key
        self._timers: dict[Watched, asyncio.TimerHandle] = {}  # connection → closes it when its credential expires
        self._closing: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None

    def add(self, connection: Watched) -> None:
        principal = connection.principal
        if principal.expires_at is not None:
            delay = (principal.expires_at - datetime.now(UTC)).total_seconds()
            self._timers[connection] = asyncio.get_running_loop().call_later(max(delay, 0), self._forbid, connection)
        if principal.api_key_id is not None:
            self._keys[connection] = principal.api_key_id
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._check_periodically())

    def discard(self, connection: Watched) -> None:
        self._keys.pop(connection, None)
        if (timer := self._timers.pop(connection, None)) is not None:
            timer.cancel()

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in (self._task, *self._closing):
            if task is not None:
                task.cancel()

    async def _check_periodically(self) -> None:
        while self._keys:  # ends with the last connection; `add` starts it again
            await asyncio.sleep(self.period_seconds)
            keys = set(self._keys.values())
            try:
                async with self.sessionmaker() as session:
                    live = await live_api_key_ids(session, keys)
            except Exception as exc:  # noqa: BLE001 — a database hiccup must not end the watch
                log.warning("could not check the API keys of open connections: %s", exc)
                continue
            for connection, key in list(self._keys.items()):
                if key not in live:
                    self._forbid(connection)

    def _forbid(self, connection: Watched) -> None:
        self.discard(connection)
        task = asyncio.create_task(connection.forbid())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
