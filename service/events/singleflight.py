"""Single-flight, bounded memo of coroutine results, shared by the subscribers of a process.

When an event reaches a thousand subscribers at once, the first one to ask for a key starts
the work and every other one waits for that same result, instead of each doing it again."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Flight(Generic[T]):
    """One computation and the callers waiting for it. Each waiter has its own future, so
    that a waiter that is cancelled (its client left) does not cancel the others' work; one
    callback wakes them all (cheaper than `asyncio.shield` per waiter, which matters at a
    thousand waiters per event)."""

    __slots__ = ("future", "waiters")

    def __init__(self, future: asyncio.Future[T]):
        self.future = future
        self.waiters: list[asyncio.Future[None]] = []
        future.add_done_callback(self._wake)

    def _wake(self, future: asyncio.Future[T]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved, even if every waiter has left (no "never retrieved" log)
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []

    async def result(self) -> T:
        if not self.future.done():
            waiter = self.future.get_loop().create_future()
            self.waiters.append(waiter)
            await waiter
        return self.future.result()  # its exception, or CancelledError if it was cancelled


class SingleFlight(Generic[T]):
    def __init__(self, size: int):
        self.size = size
        self._flights: OrderedDict[Hashable, _Flight[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._flights)

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[T]], *, keep: Callable[[T], bool] | None = None
    ) -> T:
        """The result for `key`, computed at most once while it is remembered. A failure,
        or a result `keep` refuses, is forgotten, so that the next caller computes afresh."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(compute()))
            self._flights[key] = flight
            if len(self._flights) > self.size:
                self._flights.popitem(last=False)  # the oldest
        try:
            result = await flight.result()
        except Exception:
            self._forget(key, flight)
            raise
        if keep is not None and not keep(result):
            self._forget(key, flight)
        return result

    def _forget(self, key: Hashable, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:  # not a newer attempt under the same key
            del self._flights[key]
