"""Error policy: domain errors speak to the caller with `extensions.code`; anything else is
masked (logged server-side), so no stack trace or SQL ever reaches a client."""

from __future__ import annotations

import logging
import re

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from service.db.engine import is_database_unavailable
from service.errors import ServiceUnavailable, TcgraphError

log = logging.getLogger("tcgraph.graphql")


def _code_of(error: GraphQLError) -> tuple[str, str] | None:
    original = error.original_error
    while original is not None and isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if isinstance(original, TcgraphError):
        return original.code, original.message
    if is_database_unavailable(original):
        log.warning("database unavailable in %s: %s", error.path, original)
        return ServiceUnavailable.code, ServiceUnavailable().message
    if original is None or isinstance(original, GraphQLError):
        # graphql-core's own errors: syntax, validation, variable coercion (whose cause is
        # another of its errors).
        existing = (error.extensions or {}).get("code")
        if existing:
            return existing, error.message
        return "GRAPHQL_PARSE_FAILED" if isinstance(
            error, GraphQLSyntaxError
        ) else "GRAPHQL_VALIDATION_FAILED", error.message
    return None


SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


class ErrorCodes(SchemaExtension):
    """Attach `extensions.code` to every error, and mask unexpected ones. Without field
    suggestions (production), "Did you mean …?" hints that leak the schema are cut."""

    def __init__(self, *, field_suggestions: bool = True):
        self.field_suggestions = field_suggestions

    def on_operation(self):
        try:
            yield
        except GraphQLSyntaxError as error:
            # Raised by a parsing extension (ParserCache, MaxTokensLimiter), it ends the
            # operation as an exception (strawberry makes it the result): coded here.
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_PARSE_FAILED"}
            raise
        except (GraphQLError, MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            raise  # coded already, or answered by the HTTP layer (graphql_schema/http.py)
        except Exception as error:
            # Raised before execution (an extension's hook: the rate-limit charge, a replay's
            # count), strawberry would send `str(error)` — SQL and parameters included. Coded
            # or masked like any field's error instead.
            raise self._coded(GraphQLError(str(error), original_error=error)) from error
        self._mask(self.execution_context.result)

    def on_stream_result(self, result):
        # Each result a subscription streams is sent before its operation ends: masked here,
        # or an event whose selection failed would carry the raw exception's message.
        self._mask(result)
        yield

    def _mask(self, result) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        result.errors = [self._coded(error) for error in result.errors]

    def _coded(self, error: GraphQLError) -> GraphQLError:
        coded = _code_of(error)
        if coded is None:
            log.error("unexpected error in %s", error.path, exc_info=error.original_error)
            return GraphQLError(
                "Internal server error.",
                nodes=error.nodes,
                path=error.path,
                extensions={"code": "INTERNAL_SERVER_ERROR"},
            )
        code, message = coded
        if not self.field_suggestions:
            message = SUGGESTION.sub("", message)
        extensions = {**(error.extensions or {}), "code": code}
        if code == ServiceUnavailable.code:
            extensions["retryAfterSeconds"] = ServiceUnavailable.retry_after_seconds
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=None if error.nodes else error.source,
            positions=None if error.nodes else error.positions,
            path=error.path,
            extensions=extensions,
            original_error=error.original_error,
        )
