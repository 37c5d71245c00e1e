"""Persisted queries over GraphQL: Apollo's automatic persisted queries (APQ) and registered
operations.

APQ (`extensions: {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}`, in a POST body
or as the `extensions` parameter of a GET): a request with the hash only runs the document
stored under it, or answers `PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND), and the
client sends the hash with the text, which is checked (BAD_USER_INPUT when they disagree),
run, and stored once it validated. A partner that sends hashes skips sending, parsing and
validating the text (the parsed document and the validation are cached by text).

With PERSISTED_QUERIES_ONLY only registered documents run, by hash or by text: anything else
is refused (OPERATION_NOT_REGISTERED; an unknown hash is PERSISTED_QUERY_NOT_FOUND so that
Apollo clients send the text, which is then refused). With AUTOMATIC_PERSISTED_QUERIES=false
(and not PERSISTED_QUERIES_ONLY) a hash is answered PERSISTED_QUERY_NOT_SUPPORTED, which makes
Apollo clients stop sending hashes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graphql_schema.limits import ValidDocuments
from service import persisted_queries
from service.errors import (
    InvalidInput,
    OperationNotRegistered,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    TcgraphError,
)
from service.persisted_queries import SHA256_HEX, Known, PersistedQueryCache, sha256_of


def _refusal(error: TcgraphError) -> GraphQLError:
    return GraphQLError(error.message, original_error=error, extensions={"code": error.code})


def requested_hash(extension: Any) -> str:
    """The hash of a `persistedQuery` extension, or BAD_USER_INPUT saying what is wrong."""
    if not isinstance(extension, dict) or extension.get("version") != 1:
        raise InvalidInput(
            '`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<64 hex digits>"}; '
            "only version 1 is supported.",
            field="extensions.persistedQuery",
        )
    sha256 = extension.get("sha256Hash")
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise InvalidInput(
            "`extensions.persistedQuery.sha256Hash` must be the SHA-256 of the query text as 64 lowercase hex digits.",
            field="extensions.persistedQuery.sha256Hash",
        )
    return sha256


class PersistedQueries(SchemaExtension):
    """Resolves a persisted query's hash to its text before parsing; stores texts sent with
    their hash; refuses unregistered documents when only registered ones may run. First of
    the schema's extensions: a refusal ends the operation before any other hook started."""

    def __init__(
        self, *, cache: PersistedQueryCache, valid_documents: ValidDocuments, automatic: bool, registered_only: bool
    ):
        self.cache = cache  # the schema's, shared by its operations
        self.valid_documents = valid_documents
        self.automatic = automatic
        self.registered_only = registered_only

    async def on_operation(self) -> AsyncIterator[None]:
        ec = self.execution_context
        try:
            to_store = await self._resolve()
        except TcgraphError as error:
            raise _refusal(error) from None
        yield
        # Kept only once it validated (the text is then in `valid_documents`).
        if to_store is not None and ec.query in self.valid_documents and hasattr(ec.context, "write_session"):
            async with ec.context.write_session(record_write=False) as session:  # not the caller's data
                await persisted_queries.store(session, to_store, ec.query)
            self.cache.put(to_store, Known(ec.query, registered=False))

    async def _lookup(self, sha256: str) -> Known | None:
        context = self.execution_context.context
        if not hasattr(context, "read_session"):
            return self.cache.get(sha256)
        return await self.cache.lookup(context.read_session, sha256)

    async def _resolve(self) -> str | None:
        """Puts the stored text in place of a hash; returns the hash of a text to store after
        the operation."""
        ec = self.execution_context
        extension = (ec.operation_extensions or {}).get("persistedQuery")
        if extension is None:
            if self.registered_only and ec.query is not None:
                known = await self._lookup(sha256_of(ec.query))
                if known is None or not known.registered:
                    raise self._not_registered()
            return None
        if not (self.automatic or self.registered_only):
            raise PersistedQueryNotSupported("PersistedQueryNotSupported")
        sha256 = requested_hash(extension)
        if ec.query is None:
            known = await self._lookup(sha256)
            if known is None or (self.registered_only and not known.registered):
                response = getattr(ec.context, "response", None)
                if response is not None and hasattr(response, "headers"):  # no cache may keep this answer to a GET
                    response.headers["Cache-Control"] = "private, no-cache, must-revalidate"
                # Apollo clients recognise this message (not only the code) and resend with the text.
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            ec.query = known.document
            return None
        if sha256_of(ec.query) != sha256:
            raise InvalidInput(
                "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of `query` (hash the exact text sent).",
                field="extensions.persistedQuery.sha256Hash",
            )
        known = await self._lookup(sha256)
        if self.registered_only:
            if known is None or not known.registered:
                raise self._not_registered()
            return None
        return None if known is not None else sha256

    @staticmethod
    def _not_registered() -> OperationNotRegistered:
        return OperationNotRegistered(
            "This server runs registered operations only (PERSISTED_QUERIES_ONLY): send the hash of a registered "
            "document, or have this document registered (`tcgraph operations register`)."
        )
