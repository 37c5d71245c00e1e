"""Error policy: domain errors speak to the caller with `extensions.code`; anything else is
masked (logged server-side), so no stack trace or SQL ever reaches a client."""

from __future__ import annotations

import logging
import re

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from service.errors import TcgraphError

log = logging.getLogger("tcgraph.graphql")


def _code_of(error: GraphQLError) -> tuple[str, str] | None:
    original = error.original_error
    while original is not None and isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if isinstance(original, TcgraphError):
        return original.code, original.message
    if original is None or isinstance(original, GraphQLError):
        # graphql-core's own errors: syntax, validation, variable coercion (whose cause is
        # another of its errors).
        existing = (error.extensions or {}).get("code")
        if existing:
            return existing, error.message
        return "GRAPHQL_PARSE_FAILED" if isinstance(error, GraphQLSyntaxError) else "GRAPHQL_VALIDATION_FAILED", error.message
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
        self._mask(self.execution_context.result)

    def on_stream_result(self, result):
        # Each result a subscription streams is sent before its operation ends: masked here,
        # or an event whose selection failed would carry the raw exception's message.
        self._mask(result)
        yield

    def _mask(self, result) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        processed = []
        for error in result.errors:
            coded = _code_of(error)
            if coded is None:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
                processed.append(
                    GraphQLError(
                        "Internal server error.",
                        nodes=error.nodes,
                        path=error.path,
                        extensions={"code": "INTERNAL_SERVER_ERROR"},
                    )
                )
                continue
            code, message = coded
            if not self.field_suggestions:
                message = SUGGESTION.sub("", message)
            processed.append(
                GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=None if error.nodes else error.source,
                    positions=None if error.nodes else error.positions,
                    path=error.path,
                    extensions={**(error.extensions or {}), "code": code},
                    original_error=error.original_error,
                )
            )
        result.errors = processed
