"""Single-flight, bounded memo of coroutine results, shared by the subscribers of a process.

When an event reaches a thousand subscribers at once, the first one to ask for a key starts
the work and every other one awaits that same future, instead of each doing it again."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, size: int):
        self.size = size
        self._futures: OrderedDict[Hashable, asyncio.Future[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._futures)

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[T]], *, keep: Callable[[T], bool] | None = None
    ) -> T:
        """The result for `key`, computed at most once while it is remembered. A failure,
        or a result `keep` refuses, is forgotten, so that the next caller computes afresh."""
        future = self._futures.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._futures[key] = future
            if len(self._futures) > self.size:
                self._futures.popitem(last=False)  # the oldest
        try:
            # Shielded: a waiter that is cancelled (its client left) does not cancel the others'.
            result = await asyncio.shield(future)
        except Exception:
            self._forget(key, future)
            raise
        if keep is not None and not keep(result):
            self._forget(key, future)
        return result

    def _forget(self, key: Hashable, future: asyncio.Future[T]) -> None:
        if self._futures.get(key) is future:  # not a newer attempt under the same key
            del self._futures[key]
