"""Query cost, computed from the document before execution (and from the result after).

Priced from what will run. Every object costs 1; a connection costs its page size (`first`
or `last`, else the field's default) times the cost of one item, so nested connections
multiply; a list fetched by a list argument (`nodes(ids:)`) costs one item per element, and
a plain list bounded by a `first` argument (the lists of `item10Report`) costs `first` items.
Arguments are read as the executor will: variables with their defaults, then the field's
own defaults. Fields that scan rows the caller may never see (the event log behind
`changes`) also cost the rows they may examine, one point per `ROWS_PER_POINT` rows, up to
the one budget of rows an operation may examine. Introspection
is priced by the size of this schema: a list of types, fields, arguments… counts as many
items as the schema holds on average per parent, so a full `__schema` costs about the
number of objects it returns. A subscription that replays the log (`after`) costs its
selection once per event to replay, plus once for itself.
"""

from __future__ import annotations

import math
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.type.introspection import TypeMetaFieldDef

from service.events.feed import CHANGES_DEFAULT_PAGE, CHANGES_SCAN_LIMIT
from service.pagination import DEFAULT_PAGE_SIZE

# Connections whose page size, when neither `first` nor `last` is given, is not the default.
DEFAULT_PAGES = {"ChangeConnection": CHANGES_DEFAULT_PAGE}
# (parent type, field) → rows it may examine per call, beyond those it returns.
SCANS = {("Query", "changes"): CHANGES_SCAN_LIMIT}
ROWS_PER_POINT = 10


def _unwrap(graphql_type: Any) -> Any:
    while isinstance(graphql_type, (GraphQLNonNull, GraphQLList)):
        graphql_type = graphql_type.of_type
    return graphql_type


def _is_connection(graphql_type: Any) -> bool:
    return (
        isinstance(graphql_type, GraphQLObjectType)
        and "edges" in graphql_type.fields
        and "pageInfo" in graphql_type.fields
    )


def page_size(arguments: dict[str, Any], connection_type: GraphQLObjectType) -> int:
    for name in ("first", "last"):
        value = arguments.get(name)
        if isinstance(value, int):
            return max(0, value)
    return DEFAULT_PAGES.get(connection_type.name, DEFAULT_PAGE_SIZE)


def scan_cost(rows: int) -> int:
    return -(-rows // ROWS_PER_POINT)


def _introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], float]:
    """(introspection type, field) → objects it returns per parent in this schema, on
    average: a list's length, or for `ofType` the chance that a type reference is wrapped."""
    named = list(schema.type_map.values())
    fields = [f for t in named if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType)) for f in t.fields.values()]
    input_fields = [f for t in named if isinstance(t, GraphQLInputObjectType) for f in t.fields.values()]
    arguments = [a for f in fields for a in f.args.values()] + [a for d in schema.directives for a in d.args.values()]
    references = [x.type for x in (*fields, *input_fields, *arguments)]
    wrappers = sum(_wrappers(t) for t in references)
    abstract = [t for t in named if isinstance(t, (GraphQLInterfaceType, GraphQLUnionType))]

    def per(total: int, parents: int) -> float:
        return total / max(1, parents)

    return {
        ("__Schema", "types"): len(named),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): per(len(fields), len(named)),
        ("__Type", "inputFields"): per(len(input_fields), len(named)),
        ("__Type", "enumValues"): per(sum(len(t.values) for t in named if isinstance(t, GraphQLEnumType)), len(named)),
        ("__Type", "interfaces"): per(sum(len(getattr(t, "interfaces", ())) for t in named), len(named)),
        ("__Type", "possibleTypes"): per(sum(len(schema.get_possible_types(t)) for t in abstract), len(named)),
        ("__Type", "ofType"): per(wrappers, len(references) + wrappers),
        ("__Field", "args"): per(sum(len(f.args) for f in fields), len(fields)),
        ("__Directive", "args"): per(sum(len(d.args) for d in schema.directives), len(schema.directives)),
    }


def _wrappers(graphql_type: Any) -> int:
    count = 0
    while isinstance(graphql_type, (GraphQLNonNull, GraphQLList)):
        graphql_type, count = graphql_type.of_type, count + 1
    return count


_SIZES: WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], float]] = WeakKeyDictionary()


def introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], float]:
    sizes = _SIZES.get(schema)
    if sizes is None:
        sizes = _SIZES[schema] = _introspection_sizes(schema)
    return sizes


class CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues | None,
        replayed_events: int = 0,
    ):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.replayed_events = replayed_events
        self.sizes = introspection_sizes(schema)
        self.rows_to_scan = 0
        self._shapes: dict[tuple[int, str | None], tuple] = {}  # by (node's id, type): the document lives as long

    def arguments(self, parent: Any, field: FieldNode) -> dict[str, Any]:
        """The field's arguments as the executor will see them (defaults applied)."""
        definition = (
            parent.fields.get(field.name.value)
            if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType))
            else None
        )
        if definition is None or not definition.args:
            return {}
        try:
            return get_argument_values(definition, field, self.variables)
        except GraphQLError:
            return {}  # invalid: execution will refuse it before any resolver runs

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
        if name == "__schema":
            return self.schema.get_type("__Schema")
        if name == "__type":
            return self.schema.get_type("__Type")
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            field = parent.fields.get(name)
            return field.type if field else None
        return None

    def _items(
        self,
        parent: Any,
        field: FieldNode,
        field_type: Any,
        arguments: dict[str, Any],
        sizes: dict[tuple[str, str], float] | None,
    ) -> float:
        """How many objects a field returns, as far as the document tells (introspection: on average)."""
        if parent.name.startswith("__"):
            key = (parent.name, field.name.value)
            return (sizes or {}).get(key, self.sizes.get(key, 1))
        if not isinstance(_strip_non_null(field_type), GraphQLList):
            return 1
        lists = [len(value) for value in arguments.values() if isinstance(value, list)]
        bound = arguments.get("first")
        if isinstance(bound, int) and not isinstance(bound, bool):
            lists.append(max(0, bound))
        return max(lists, default=1)

    def selection_cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        sizes: dict[tuple[str, str], float] | None = None,
    ) -> float:
        """The requested cost of a selection. `sizes`: introspection sizes known exactly at
        this level (one named type)."""
        total: float = 0
        for field, parent_type in self._fields(selection_set, parent):
            name = field.name.value
            declared = self._field_type(parent_type, name)
            field_type = _unwrap(declared)
            if not isinstance(field_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                continue
            arguments = self.arguments(parent_type, field)
            self.rows_to_scan += SCANS.get((parent_type.name, name), 0)
            if _is_connection(field_type):
                total += 1 + self._connection_cost(field, field_type, arguments)
            else:
                items = self._items(parent_type, field, declared, arguments, sizes)
                total += items * (
                    1 + self.selection_cost(field.selection_set, field_type, sizes=self._named_type_sizes(field))
                )
        return total

    def _named_type_sizes(self, field: FieldNode) -> dict[tuple[str, str], float] | None:
        """`__type(name:)` is one known type: its lists have their exact lengths."""
        if field.name.value != "__type":
            return None
        try:
            named = self.schema.get_type(get_argument_values(TypeMetaFieldDef, field, self.variables).get("name", ""))
        except GraphQLError:
            return None
        if named is None:
            return None
        fields = getattr(named, "fields", {}) if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)) else {}
        possible = (
            self.schema.get_possible_types(named) if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)) else ()
        )
        return {
            ("__Type", "fields"): len(fields),
            ("__Type", "inputFields"): len(named.fields) if isinstance(named, GraphQLInputObjectType) else 0,
            ("__Type", "enumValues"): len(named.values) if isinstance(named, GraphQLEnumType) else 0,
            ("__Type", "interfaces"): len(getattr(named, "interfaces", ())),
            ("__Type", "possibleTypes"): len(possible),
            ("__Type", "ofType"): 0,
        }

    def _connection_cost(
        self, field: FieldNode, connection_type: GraphQLObjectType, arguments: dict[str, Any]
    ) -> float:
        """n × (cost of one item), one item being an edge and its node."""
        edge_type = _unwrap(connection_type.fields["edges"].type)
        node_type = _unwrap(edge_type.fields["node"].type)
        per_item: float = 0
        for sub, _sub_parent in self._fields(field.selection_set, connection_type):
            if sub.name.value == "edges":
                for edge_field, _ in self._fields(sub.selection_set, edge_type):
                    if edge_field.name.value == "node":
                        per_item += self.selection_cost(edge_field.selection_set, node_type)
        return page_size(arguments, connection_type) * (1 + per_item)

    # -- the actual cost: what a result holds ----------------------------------------------
    #
    # A result repeats one selection for every item of a list (50 needs, each with its
    # matches): each selection's shape (which response keys hold objects, which are
    # connections) is worked out once per operation and the result is walked against it.

    def _object_fields(self, selection_set: SelectionSetNode | None, parent: Any) -> tuple:
        """(response key, field node, its named type, whether a connection) for each field of
        `selection_set` that returns objects: the keys the actual cost reads."""
        key = (id(selection_set), getattr(parent, "name", None))
        shape = self._shapes.get(key)
        if shape is None:
            entries = []
            for field, parent_type in self._fields(selection_set, parent):
                name = field.name.value
                field_type = _unwrap(self._field_type(parent_type, name))
                if isinstance(field_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                    response_key = field.alias.value if field.alias else name
                    entries.append((response_key, field, field_type, _is_connection(field_type)))
            shape = self._shapes[key] = tuple(entries)
        return shape

    def _edge_nodes(self, field: FieldNode, connection_type: GraphQLObjectType) -> tuple:
        """(edges' response key, ((node's response key, node's selection), …), the node type)
        for each `edges` selected on a connection."""
        key = (id(field), connection_type.name)
        shape = self._shapes.get(key)
        if shape is None:
            edge_type = _unwrap(connection_type.fields["edges"].type)
            node_type = _unwrap(edge_type.fields["node"].type)
            entries = []
            for sub, _ in self._fields(field.selection_set, connection_type):
                if sub.name.value == "edges":
                    nodes = tuple(
                        (edge_field.alias.value if edge_field.alias else "node", edge_field.selection_set)
                        for edge_field, _ in self._fields(sub.selection_set, edge_type)
                        if edge_field.name.value == "node"
                    )
                    entries.append((sub.alias.value if sub.alias else "edges", nodes, node_type))
            shape = self._shapes[key] = tuple(entries)
        return shape

    def actual_selection_cost(self, selection_set: SelectionSetNode | None, parent: Any, data: Any) -> float:
        """1 per object the result holds, and per edge (the requested cost's rule, counted)."""
        if not isinstance(data, dict):
            return 0
        total: float = 0
        for key, field, field_type, is_connection in self._object_fields(selection_set, parent):
            value = data.get(key)
            if value is None:
                continue
            if is_connection:
                total += 1 + self._actual_connection_cost(field, field_type, value)
            elif isinstance(value, list):
                total += sum(
                    1 + self.actual_selection_cost(field.selection_set, field_type, item)
                    for item in value
                    if item is not None
                )
            else:
                total += 1 + self.actual_selection_cost(field.selection_set, field_type, value)
        return total

    def _actual_connection_cost(self, field: FieldNode, connection_type: GraphQLObjectType, value: Any) -> float:
        if not isinstance(value, dict):
            return 0
        total: float = 0
        for edges_key, nodes, node_type in self._edge_nodes(field, connection_type):
            for edge in value.get(edges_key) or ():
                total += 1
                if isinstance(edge, dict):
                    for node_key, node_selection in nodes:
                        total += self.actual_selection_cost(node_selection, node_type, edge.get(node_key))
        return total

    def operation_cost(self, operation: OperationDefinitionNode, data: Any = None, actual: bool = False) -> int:
        root = _root(self.schema, operation)
        if actual:
            cost = self.actual_selection_cost(operation.selection_set, root, data)
        else:
            cost = self.selection_cost(operation.selection_set, root)
        if operation.operation.value == "subscription" and not actual:
            cost *= 1 + self.replayed_events  # the selection runs once per replayed event
        # Scans share one budget per operation (graphql_schema/context.py).
        cost += scan_cost(min(self.rows_to_scan, CHANGES_SCAN_LIMIT))
        return math.ceil(round(cost, 6))  # introspection's averages are fractions


def _strip_non_null(graphql_type: Any) -> Any:
    return graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type


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


def _calculator(
    schema: GraphQLSchema,
    document: Any,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
    replayed_events: int = 0,
) -> CostCalculator:
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    # Variables that do not coerce fail the operation before any resolver runs.
    return CostCalculator(schema, fragments, coerced if isinstance(coerced, VariableValues) else None, replayed_events)


def replay_after(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: dict[str, Any] | None
) -> int | None:
    """The `after` of a subscription that replays the event log first, else None."""
    operation = _operation(document, operation_name)
    if operation is None or operation.operation.value != "subscription":
        return None
    calculator = _calculator(schema, document, operation, variables)
    root = _root(schema, operation)
    for field, parent in calculator._fields(operation.selection_set, root):
        after = calculator.arguments(parent, field).get("after")
        if isinstance(after, int):
            return after
    return None


def requested_cost(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    *,
    replayed_events: int = 0,
) -> int:
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    return _calculator(schema, document, operation, variables, replayed_events).operation_cost(operation)


def actual_cost(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    data: Any,
    *,
    rows_scanned: int = 0,
) -> int:
    operation = _operation(document, operation_name)
    if operation is None or not isinstance(data, dict):
        return 0
    return _calculator(schema, document, operation, variables).operation_cost(operation, data, True) + scan_cost(
        rows_scanned
    )


def result_cost(schema: GraphQLSchema, document: Any, operation_name: str | None) -> Any:
    """`actual_cost` of one operation's results, for results that scan no event log: the
    selection shapes are worked out once and serve every result of the operation."""
    operation = _operation(document, operation_name)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    calculator = CostCalculator(schema, fragments, None)  # the actual cost reads no argument

    def cost(data: Any) -> int:
        if operation is None or not isinstance(data, dict):
            return 0
        return calculator.operation_cost(operation, data, True)

    return cost
