"""Persisted queries: GraphQL documents known by the SHA-256 of their text.

Two ways in: a client stores a document through automatic persisted queries (Apollo's
`extensions.persistedQuery` protocol) and later sends only its hash; an operator registers
the operations partners may run (`tcgraph operations register`), which is all a server with
PERSISTED_QUERIES_ONLY runs. The documents live in PostgreSQL so that every worker process
knows them; each process keeps the ones it used recently in memory (`PersistedQueryCache`).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import PersistedQuery

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class Known:
    document: str
    registered: bool


async def find(session: AsyncSession, sha256: str) -> Known | None:
    row = (
        await session.execute(
            sa.select(PersistedQuery.document, PersistedQuery.registered).where(PersistedQuery.sha256 == sha256)
        )
    ).one_or_none()
    return None if row is None else Known(row.document, row.registered)


async def store(session: AsyncSession, sha256: str, document: str) -> None:
    """Keep a document a client sent with its hash (the caller checked that they agree)."""
    await session.execute(
        insert(PersistedQuery)
        .values(sha256=sha256, document=document)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )


async def register(session: AsyncSession, documents: Sequence[str]) -> list[tuple[str, bool]]:
    """Register documents (each under the hash of its exact text): (hash, newly registered)."""
    result = []
    for document in documents:
        sha256 = sha256_of(document)
        known = await find(session, sha256)
        stmt = insert(PersistedQuery).values(sha256=sha256, document=document, registered=True)
        await session.execute(stmt.on_conflict_do_update(index_elements=["sha256"], set_={"registered": True}))
        result.append((sha256, known is None or not known.registered))
    return result


class PersistedQueryCache:
    """The documents this process used recently, by hash (least recently used dropped)."""

    def __init__(self, size: int = 1000):
        self.size = size
        self._known: OrderedDict[str, Known] = OrderedDict()

    def get(self, sha256: str) -> Known | None:
        known = self._known.get(sha256)
        if known is not None:
            self._known.move_to_end(sha256)
        return known

    def put(self, sha256: str, known: Known) -> None:
        self._known[sha256] = known
        self._known.move_to_end(sha256)
        if len(self._known) > self.size:
            self._known.popitem(last=False)

    async def lookup(self, session_for_read, sha256: str) -> Known | None:
        """From memory, else from the database (`session_for_read()` gives a session)."""
        known = self.get(sha256)
        if known is None:
            async with session_for_read() as session:
                known = await find(session, sha256)
            if known is not None:
                self.put(sha256, known)
        return known
