"""The input boundary: every value a request brings in — variables and the document's own
literals — is checked once here, before anything runs, so no resolver, SQL parameter or
cursor ever sees a value PostgreSQL or the domain cannot take.

Refused with BAD_USER_INPUT, naming the variable or argument: variables that do not
coerce to their type; strings holding NUL (U+0000, which PostgreSQL text cannot store) or
lone surrogates (not Unicode, cannot be encoded); lists over 32,767 items; Float and
Decimal values that are not finite or whose magnitude is 1e30 or more.

Also refused before execution: a document with several operations and no `operationName`
(graphql-core would otherwise run the first one), and a subscription sent over HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from graphql import (
    ArgumentNode,
    FloatValueNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    VariableDefinitionNode,
    get_named_type,
)
from graphql.execution.values import get_variable_values
from graphql.utilities import get_operation_ast, type_from_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

MAX_LIST_LENGTH = 32_767
MAX_MAGNITUDE = Decimal("1e30")
NUMERIC_SCALARS = frozenset({"Float", "Decimal"})
BAD_USER_INPUT = "BAD_USER_INPUT"


def string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def number_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    if isinstance(value, Decimal) and not value.is_finite() or isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if abs(Decimal(value)) >= MAX_MAGNITUDE:
        return "is too large (its magnitude must be under 1e30)"
    return None


def list_problem(length: int) -> str | None:
    return f"is a list of {length} items (at most {MAX_LIST_LENGTH})" if length > MAX_LIST_LENGTH else None


def _parse_number(scalar: GraphQLScalarType, parse: Any, value: Any) -> Any:
    """The scalar's value, or None when it does not parse (graphql-core reports that)."""
    if scalar.name not in NUMERIC_SCALARS:
        return None
    try:
        return parse(value)
    except Exception:  # noqa: BLE001 — coercion errors are reported by graphql-core
        return None


def variable_problems(value: Any, graphql_type: Any) -> Iterator[tuple[str, str]]:
    """(path, problem) of a variable's raw JSON value declared as `graphql_type`, whether it
    coerces or not (walked iteratively: a deep value cannot exhaust the stack)."""
    stack: list[tuple[Any, Any, str]] = [(value, graphql_type, "")]
    while stack:
        value, graphql_type, path = stack.pop()
        if isinstance(graphql_type, GraphQLNonNull):
            graphql_type = graphql_type.of_type
        if value is None:
            continue
        if isinstance(value, list):
            if problem := list_problem(len(value)):
                yield path, problem
                continue
            item_type = graphql_type.of_type if isinstance(graphql_type, GraphQLList) else graphql_type
            stack.extend((item, item_type, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
            continue
        if isinstance(graphql_type, GraphQLList):  # one value given for a list
            stack.append((value, graphql_type.of_type, path))
            continue
        if isinstance(value, dict):
            fields = graphql_type.fields if isinstance(graphql_type, GraphQLInputObjectType) else {}
            for name, item in reversed(list(value.items())):
                if problem := string_problem(name):
                    yield f"{path}.{ascii(name)[1:-1]}", f"has a field name that {problem}"
                    continue
                field = fields.get(name)
                stack.append((item, field.type if field is not None else None, f"{path}.{name}"))
            continue
        if isinstance(value, str) and (problem := string_problem(value)):
            yield path, problem
        elif isinstance(graphql_type, GraphQLScalarType):
            if problem := number_problem(_parse_number(graphql_type, graphql_type.parse_value, value)):
                yield path, problem


def _variable_errors(
    schema: Any, operation: OperationDefinitionNode, variables: dict[str, Any] | None
) -> list[GraphQLError]:
    """Checked before coercion: coercion errors quote the value (e.g. an unknown field's
    name), and a NUL or lone surrogate must not reach a message either."""
    variables = variables or {}
    definitions = operation.variable_definitions or ()
    errors = []
    for definition in definitions:
        name = definition.variable.name.value
        if name not in variables:
            continue
        for path, problem in variable_problems(variables[name], type_from_ast(schema, definition.type)):
            where = f" at '{path.lstrip('.')}'" if path else ""
            errors.append(
                GraphQLError(
                    f"Variable '${name}' has an invalid value{where}: it {problem}.",
                    definition,
                    extensions={"code": BAD_USER_INPUT, "variable": name},
                )
            )
    if errors:
        return errors
    coerced = get_variable_values(schema, definitions, variables, max_errors=20)
    if isinstance(coerced, list):  # graphql-core's coercion errors name the variable
        return [
            GraphQLError(
                error.message, error.nodes, extensions={"code": BAD_USER_INPUT, "variable": _variable_of(error)}
            )
            for error in coerced
        ]
    return []


def _variable_of(error: GraphQLError) -> str | None:
    node = (error.nodes or [None])[0]
    return node.variable.name.value if isinstance(node, VariableDefinitionNode) else None


class InputLiterals(ValidationRule):
    """The document's own literals, by the same rules as variables (part of validation, so
    checked once per document text)."""

    def _report(self, node: Node, parent: Any, ancestors: Any, problem: str) -> None:
        names = [a.name.value for a in (*ancestors, parent) if isinstance(a, (ArgumentNode, ObjectFieldNode))]
        where = ".".join(names) or "a value"
        self.report_error(
            GraphQLError(
                f"Argument '{where}' has an invalid value: it {problem}.",
                node,
                extensions={"code": BAD_USER_INPUT, "argument": names[0] if names else None},
            )
        )

    def enter_string_value(self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any) -> None:
        if problem := string_problem(node.value) or self._number(node):
            self._report(node, parent, ancestors, problem)

    def enter_int_value(self, node: IntValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any) -> None:
        if problem := self._number(node):
            self._report(node, parent, ancestors, problem)

    enter_float_value = enter_int_value

    def enter_list_value(self, node: ListValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any) -> None:
        if problem := list_problem(len(node.values)):
            self._report(node, parent, ancestors, problem)

    def _number(self, node: StringValueNode | IntValueNode | FloatValueNode) -> str | None:
        scalar = get_named_type(self.context.get_input_type())
        if not isinstance(scalar, GraphQLScalarType) or scalar.name not in NUMERIC_SCALARS:
            return None
        if isinstance(node, StringValueNode):  # a Decimal as a string
            return number_problem(_parse_number(scalar, scalar.parse_literal, node))
        # Exactly as written (Float's own parsing refuses 1e999999 but validation lets it pass).
        return number_problem(Decimal(node.value))


class RequestBoundary(SchemaExtension):
    """Refuses, before execution: an ambiguous document (several operations, no
    `operationName`), a subscription over HTTP, and variables that do not pass the checks
    above. Listed after the validating extensions (CostLimiter): it checks variables of a
    document that passed validation."""

    def on_parse(self) -> Iterator[None]:
        yield
        ec = self.execution_context
        document = ec.graphql_document
        if document is None or ec.pre_execution_errors:
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # `ec.operation_name` falls back to the first operation's name: the one the client gave.
        provided_name = getattr(ec, "_provided_operation_name", None)
        if len(operations) > 1 and provided_name is None:
            ec.pre_execution_errors = [
                GraphQLError(
                    "This document has several operations: say which one to run with `operationName`.",
                    extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                )
            ]
            return
        operation = get_operation_ast(document, provided_name)
        if (
            operation is not None
            and operation.operation.value == OperationType.SUBSCRIPTION.value
            and _over_http(ec.context)
        ):
            ec.pre_execution_errors = [
                GraphQLError(
                    "Subscriptions are not served over HTTP: open a WebSocket to /graphql with the "
                    "graphql-transport-ws protocol (e.g. the graphql-ws client).",
                    operation,
                    extensions={"code": "BAD_REQUEST"},
                )
            ]

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if not ec.pre_execution_errors and ec.graphql_document is not None:
            operation = get_operation_ast(ec.graphql_document, ec.operation_name)
            if operation is not None and (errors := _variable_errors(ec.schema._schema, operation, ec.variables)):
                ec.pre_execution_errors = errors
        yield


def _over_http(context: Any) -> bool:
    request = getattr(context, "request", None)
    return request is not None and getattr(request, "scope", {}).get("type") == "http"
