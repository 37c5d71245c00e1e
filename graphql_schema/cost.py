"""Query cost, computed from the document before execution (and from the result after).

Every object costs 1; a connection costs its page size (`first` or `last`, 20 when neither
is given) times the cost of one item, so nested connections multiply. Variables are
resolved, fragments followed; introspection (`__schema`, `__type`, `__typename`) is free.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

DEFAULT_PAGE = 20


def _unwrap(graphql_type: Any) -> Any:
    while isinstance(graphql_type, (GraphQLNonNull, GraphQLList)):
        graphql_type = graphql_type.of_type
    return graphql_type


def _is_connection(graphql_type: Any) -> bool:
    return isinstance(graphql_type, GraphQLObjectType) and "edges" in graphql_type.fields and "pageInfo" in graphql_type.fields


def _argument(field: FieldNode, name: str, variables: dict[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            resolved = variables.get(value.name.value)
            return resolved if isinstance(resolved, int) else None
    return None


def page_size(field: FieldNode, variables: dict[str, Any]) -> int:
    for name in ("first", "last"):
        value = _argument(field, name, variables)
        if value is not None:
            return max(0, value)
    return DEFAULT_PAGE


class CostCalculator:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables or {}

    def _fields(self, selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str] = frozenset()):
        """(field node, its type in `parent`) for every field, fragments flattened."""
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value) or parent
                yield from self._fields(selection.selection_set, target, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value) or parent
                yield from self._fields(fragment.selection_set, target, seen | {name})

    def _field_type(self, parent: Any, name: str) -> Any:
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            field = parent.fields.get(name)
            return field.type if field else None
        return None

    def selection_cost(self, selection_set: SelectionSetNode | None, parent: Any, data: Any = None, actual: bool = False) -> int:
        total = 0
        for field, parent_type in self._fields(selection_set, parent):
            name = field.name.value
            if name.startswith("__"):
                continue
            field_type = _unwrap(self._field_type(parent_type, name))
            if not isinstance(field_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                continue
            key = field.alias.value if field.alias else name
            value = data.get(key) if isinstance(data, dict) else None
            if actual and value is None:
                continue
            if _is_connection(field_type):
                total += 1 + self._connection_cost(field, field_type, value, actual)
            elif actual and isinstance(value, list):
                total += sum(1 + self.selection_cost(field.selection_set, field_type, item, True) for item in value if item is not None)
            else:
                total += 1 + self.selection_cost(field.selection_set, field_type, value, actual)
        return total

    def _connection_cost(self, field: FieldNode, connection_type: GraphQLObjectType, value: Any, actual: bool) -> int:
        """n × (cost of one item), one item being an edge and its node."""
        edge_type = _unwrap(connection_type.fields["edges"].type)
        node_type = _unwrap(edge_type.fields["node"].type)
        if not actual:
            per_item = 0
            for sub, sub_parent in self._fields(field.selection_set, connection_type):
                if sub.name.value == "edges":
                    for edge_field, _ in self._fields(sub.selection_set, edge_type):
                        if edge_field.name.value == "node":
                            per_item += self.selection_cost(edge_field.selection_set, node_type)
            return page_size(field, self.variables) * (1 + per_item)
        total = 0
        for sub, _ in self._fields(field.selection_set, connection_type):
            if sub.name.value != "edges":
                continue
            edges = value.get(sub.alias.value if sub.alias else "edges") if isinstance(value, dict) else None
            for edge in edges or []:
                total += 1
                for edge_field, _ in self._fields(sub.selection_set, edge_type):
                    if edge_field.name.value == "node":
                        node_value = edge.get(edge_field.alias.value if edge_field.alias else "node") if isinstance(edge, dict) else None
                        total += self.selection_cost(edge_field.selection_set, node_type, node_value, True)
        return total


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((o for o in operations if o.name and o.name.value == operation_name), None)
    return operations[0] if len(operations) == 1 else None


def _root(schema: GraphQLSchema, operation: OperationDefinitionNode) -> Any:
    return {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]


def requested_cost(schema: GraphQLSchema, document: Any, operation_name: str | None, variables: dict[str, Any] | None) -> int:
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    calculator = CostCalculator(schema, fragments, variables or {})
    return calculator.selection_cost(operation.selection_set, _root(schema, operation))


def actual_cost(schema: GraphQLSchema, document: Any, operation_name: str | None, variables: dict[str, Any] | None, data: Any) -> int:
    operation = _operation(document, operation_name)
    if operation is None or not isinstance(data, dict):
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    calculator = CostCalculator(schema, fragments, variables or {})
    return calculator.selection_cost(operation.selection_set, _root(schema, operation), data, True)
