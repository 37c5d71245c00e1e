"""`CompiledExecution`: query root fields that compile run as one SQL statement.

Granularity: per root field. Every root field of a query whose whole selection compiles
(graphql_schema/compiled/planner.py) goes into one statement (graphql_schema/compiled/sql.py)
whose single JSON value is the response's data for those fields, decoded once and placed
as-is: no resolver, no per-field completion. Every other root field, and every root field
whose planning or building raises (an invalid ID, a bad cursor, `first: 1000`), runs on the
resolvers, which report its errors exactly as they always have: the compiled path only ever
answers fields that succeed. Falling back per root field rather than per nested field keeps
one statement per compiled field and one source of errors; a page with one uncompilable
nested field is read the resolvers' way (a handful of batched statements).

Parsing, validation, cost and rate limit, persisted queries, text limits and the request
boundary all run before execution, as for any operation.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from graphql import GraphQLObjectType

from graphql_schema.compiled import sql
from graphql_schema.compiled.planner import NotCompilable, plan_field
from graphql_schema.events import SharedEventExecution

log = logging.getLogger(__name__)


class CompiledExecution(SharedEventExecution):
    def execute_root_grouped_field_set(
        self, root_type: GraphQLObjectType, root_value: Any, grouped_field_set: Any, serially: bool, position_context: Any
    ) -> Any:
        context = self.context_value
        if (
            serially
            or root_type is not self.schema.query_type
            or not hasattr(context, "read_session")
            or getattr(context, "principal", None) is None
        ):
            return super().execute_root_grouped_field_set(root_type, root_value, grouped_field_set, serially, position_context)
        build = sql.Build(principal=context.principal)
        compiled: dict[str, Any] = {}
        for key, details in grouped_field_set.items():
            try:
                selection = plan_field(self, root_type, key, details, sql.COMPILERS)
                compiled[key] = sql.root_value(build, selection)
            except Exception:  # noqa: BLE001 - NotCompilable, or the resolver's error to report
                continue
        try:
            statement = sql.statement(compiled) if compiled else None
        except NotCompilable:
            statement = None
        if statement is None:
            return super().execute_root_grouped_field_set(root_type, root_value, grouped_field_set, serially, position_context)
        rest = {key: details for key, details in grouped_field_set.items() if key not in compiled}
        return self._execute(root_type, root_value, grouped_field_set, rest, statement, position_context)

    async def _execute(
        self, root_type: GraphQLObjectType, root_value: Any, grouped_field_set: Any, rest: Any, statement: Any, position_context: Any
    ) -> dict[str, Any]:
        try:
            async with self.context_value.read_session() as session:
                raw = (await session.execute(statement)).scalar_one()
        except Exception:  # noqa: BLE001
            # Whatever failed (a database error the resolvers would meet too), they report it.
            log.warning("compiled read failed; answering with the resolvers", exc_info=True)
            result = super().execute_root_grouped_field_set(root_type, root_value, grouped_field_set, False, position_context)
            return await result if self.is_awaitable(result) else result
        values: dict[str, Any] = orjson.loads(raw)
        if rest:
            others = super().execute_root_grouped_field_set(root_type, root_value, rest, False, position_context)
            if self.is_awaitable(others):
                others = await others
            values.update(others)
        return {key: values[key] for key in grouped_field_set if key in values}
