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
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLObjectType

from graphql_schema.compiled import sql
from graphql_schema.compiled.planner import NotCompilable, plan_field
from graphql_schema.events import SharedEventExecution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What one operation, with its variables and for one kind of caller, runs: the root
    fields it compiled, and the statement as the driver receives it."""

    operation: Any  # the parsed operation it was made for (the key holds only its id)
    compiled_keys: frozenset[str]
    sql: str | None
    parameters: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...] = ()  # (parameter position, ID variable) of `node(id: $variable)` keys

    def parameters_for(self, variables: dict[str, Any]) -> tuple[Any, ...]:
        if not self.slots:
            return self.parameters
        parameters = list(self.parameters)
        for position, variable in self.slots:
            parameters[position] = sql.id_key(variables[variable])
        return tuple(parameters)


class PlanCache:
    """Plans by (operation, variables, caller's visibility class), least recently used out.

    Building the statement's SQLAlchemy tree and compiling it costs more CPU than running it:
    the same page asked again (a partner's poll, a node lookup by the same ID) reuses the SQL
    text and its parameters. The parsed operation comes from the schema's ParserCache; a
    plan is used only for the very operation object it was made for."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()

    def get(self, key: Hashable, operation: Any) -> Plan | None:
        plan = self._plans.get(key)
        if plan is None or plan.operation is not operation:
            return None
        self._plans.move_to_end(key)
        return plan

    def put(self, key: Hashable, plan: Plan) -> None:
        self._plans[key] = plan
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)


def _driver_statement(statement: Any, dialect: Any) -> tuple[str, tuple[Any, ...], tuple[str, ...]]:
    """The SQL text and positional parameters SQLAlchemy would send (bind processors applied),
    and the parameters' names."""
    state = statement.compile(dialect=dialect).construct_expanded_state()
    processors = state.processors
    names = tuple(state.positiontup or ())
    parameters = tuple(
        processors[name](value) if name in processors else value
        for name, value in zip(names, state.positional_parameters)
    )
    return state.statement, parameters, names


class CompiledExecution(SharedEventExecution):
    plans = PlanCache()

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: Any,
        serially: bool,
        position_context: Any,
    ) -> Any:
        context = self.context_value
        principal = getattr(context, "principal", None)
        if (
            serially
            or root_type is not self.schema.query_type
            or not hasattr(context, "read_session")
            or principal is None
        ):
            return super().execute_root_grouped_field_set(
                root_type, root_value, grouped_field_set, serially, position_context
            )
        variables = self.variable_values.coerced
        shape_key, full_key = self._plan_keys(principal, grouped_field_set)
        plan = None
        if shape_key is not None:
            plan = self.plans.get(shape_key, self.operation)
        if plan is None and full_key is not None:
            plan = self.plans.get(full_key, self.operation)
        if plan is None:
            plan = self._plan(principal, root_type, grouped_field_set, context)
            key = shape_key if plan.slots or (plan.sql is not None and not self._id_variables()) else full_key
            if key is not None:
                self.plans.put(key, plan)
        if plan.sql is None:
            return super().execute_root_grouped_field_set(
                root_type, root_value, grouped_field_set, serially, position_context
            )
        rest = {key: details for key, details in grouped_field_set.items() if key not in plan.compiled_keys}
        return self._execute(root_type, root_value, grouped_field_set, rest, plan, variables, position_context)

    def _id_variables(self) -> list[str]:
        """Variables of type ID or ID! (what `node(id:)` takes)."""
        names = []
        for definition in self.operation.variable_definitions or ():
            graphql_type = definition.type
            graphql_type = (
                getattr(graphql_type, "type", graphql_type) if graphql_type.kind == "non_null_type" else graphql_type
            )
            if graphql_type.kind == "named_type" and graphql_type.name.value == "ID":
                names.append(definition.variable.name.value)
        return names

    def _plan_keys(self, principal: Any, grouped_field_set: Any) -> tuple[Hashable | None, Hashable | None]:
        """Keys of (operation, its variables, the caller as visibility sees it): one with the
        ID variables' values (None when they cannot be a key), one with only their shape (type,
        valid) for plans that read them as parameters."""
        variables = self.variable_values.coerced
        caller = (id(self.operation), tuple(grouped_field_set), *caller_class(principal))
        try:
            full = orjson.dumps(variables, default=_plain, option=orjson.OPT_SORT_KEYS)
            shaped = dict(variables)
            for name in self._id_variables():
                if name in shaped:
                    shaped[name] = ["ID", sql.id_shape(shaped[name])]
            shape = orjson.dumps(shaped, default=_plain, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None, None
        return ("shape", shape, *caller), ("full", full, *caller)

    def _plan(self, principal: Any, root_type: GraphQLObjectType, grouped_field_set: Any, context: Any) -> Plan:
        build = sql.Build(principal=principal)
        compiled: dict[str, Any] = {}
        for key, details in grouped_field_set.items():
            try:
                selection = plan_field(self, root_type, key, details, sql.COMPILERS)
                compiled[key] = sql.root_value(build, selection)
            except Exception:  # noqa: BLE001 - NotCompilable, or the resolver's error to report
                log.debug("root field %s runs on the resolvers", key, exc_info=True)
        try:
            statement = sql.statement(compiled) if compiled else None
        except NotCompilable:
            statement = None
        if statement is None:
            return Plan(self.operation, frozenset(), None, ())
        text, parameters, names = _driver_statement(statement, context.read_sessionmaker.kw["bind"].dialect)
        slots: tuple[tuple[int, str], ...] = ()
        if not build.ids_baked:
            slots = tuple(
                (position, name.removeprefix("id_slot_"))
                for position, name in enumerate(names)
                if name.startswith("id_slot_")
            )
        return Plan(self.operation, frozenset(compiled), text, parameters, slots)

    async def _execute(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: Any,
        rest: Any,
        plan: Plan,
        variables: dict[str, Any],
        position_context: Any,
    ) -> dict[str, Any]:
        try:
            async with self.context_value.read_session() as session:
                connection = await session.connection()
                raw = (await connection.exec_driver_sql(plan.sql, plan.parameters_for(variables))).scalar_one()
        except Exception:  # noqa: BLE001
            # Whatever failed (a database error the resolvers would meet too), they report it.
            log.warning("compiled read failed; answering with the resolvers", exc_info=True)
            result = super().execute_root_grouped_field_set(
                root_type, root_value, grouped_field_set, False, position_context
            )
            return await result if self.is_awaitable(result) else result
        values: dict[str, Any] = orjson.loads(raw)
        if not rest:  # the whole operation was this statement (graphql_schema/ready.py)
            self.context_value.compiled_plan = plan
        if rest:
            others = super().execute_root_grouped_field_set(root_type, root_value, rest, False, position_context)
            if self.is_awaitable(others):
                others = await others
            values.update(others)
        return {key: values[key] for key in grouped_field_set if key in values}


def caller_class(principal: Any) -> tuple[Any, ...]:
    """What visibility sees of a caller: plans (and ready reads, graphql_schema/ready.py) are
    shared by callers with the same class, never across classes."""
    return (principal.role, principal.state_iso3, principal.organization_id)


def _plain(value: Any) -> Any:
    """Variables as a cache key: enums by value, anything else by its repr."""
    return getattr(value, "value", None) or repr(value)
