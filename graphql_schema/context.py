"""Per-request context: the caller, and one set of DataLoaders for this request only.

Each DataLoader batch runs on its own short session: graphql-core resolves sibling fields
concurrently, and one AsyncSession cannot serve two queries at once.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Hashable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from service.access.principals import Principal
from service.events.feed import CHANGES_SCAN_LIMIT


class Context(BaseContext):
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        principal: Principal,
        client_address: str | None = None,
    ):
        super().__init__()
        self.sessionmaker = sessionmaker
        self.principal = principal
        self.client_address = client_address
        self.throttle: Any = None  # set by the cost limiter for `viewer.rateLimit`
        # Log rows `changes` may still examine in this operation, and has examined (part of
        # the actual cost); the cost limiter resets both for every operation.
        self.scan_budget = CHANGES_SCAN_LIMIT
        self.rows_scanned = 0
        self._loaders: dict[Hashable, DataLoader] = {}

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A short session for one read; read paths never write."""
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """One transaction for one mutation: committed on success, rolled back on any error."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session

    def reset_loaders(self) -> None:
        """Forget cached entities (a subscription does this for every event it sends)."""
        self._loaders = {}

    def loader(
        self,
        name: str,
        batch: Callable[[AsyncSession, list[Any]], Awaitable[Sequence[Any] | dict[Any, Any]]],
        *,
        args: Hashable = None,
        default: Any = None,
    ) -> DataLoader:
        """The request's loader for (name, args). `batch` returns values in key order, or
        a dict by key (missing keys give `default`)."""
        key = (name, args)
        loader = self._loaders.get(key)
        if loader is None:

            async def load(keys: list[Any]) -> list[Any]:
                async with self.read_session() as session:
                    result = await batch(session, keys)
                if isinstance(result, dict):
                    return [result.get(k, default) for k in keys]
                return list(result)

            loader = DataLoader(load_fn=load)
            self._loaders[key] = loader
        return loader


def info_context(info: Any) -> Context:
    return info.context
