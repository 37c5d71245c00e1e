"""Which root fields of a query can run as one SQL statement, and their selection trees.

The walk uses graphql-core's own field collection (`Executor.collect_subfields`) and argument
coercion, then strawberry's argument conversion: fragments, inline fragments, aliases,
variables and @skip/@include mean exactly what they mean to the resolvers. A field is
compilable when every field under it is one that `sql.COMPILERS` knows; otherwise the whole
root field runs on the resolvers (`NotCompilable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLObjectType, VariableNode, get_named_type, is_abstract_type, is_object_type
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import get_argument_values
from strawberry.types.arguments import convert_arguments


class NotCompilable(Exception):
    """This root field runs on the resolvers (they also raise its errors, exactly as always)."""


@dataclass(frozen=True)
class Selection:
    """One response key: the field it reads, its converted arguments, and what it selects
    below (per runtime type for an interface such as `Node`)."""

    key: str
    name: str
    type_name: str  # the named type of the field
    arguments: dict[str, Any] = field(default_factory=dict)
    children: tuple["Selection", ...] = ()
    by_type: dict[str, tuple["Selection", ...]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)  # argument → the variable it is given as


def _strawberry_schema(executor: Any) -> Any:
    return executor.schema.extensions["strawberry-definition"]


def plan_field(
    executor: Any, parent_type: GraphQLObjectType, key: str, details: FieldDetailsList, compilers: dict
) -> Selection:
    """The selection tree of one field, or NotCompilable."""
    node = details[0].node
    name = node.name.value
    if name == "__typename":
        return Selection(key=key, name=name, type_name="String")
    supported = compilers.get(parent_type.name)
    if supported is None or name not in supported.fields:
        raise NotCompilable(f"{parent_type.name}.{name}")
    field_def = parent_type.fields[name]
    arguments: dict[str, Any] = {}
    if field_def.args:
        raw = get_argument_values(field_def, node, executor.variable_values, details[0].fragment_variable_values)
        definition = field_def.extensions.get("strawberry-definition")
        if definition is None:
            raise NotCompilable(f"{parent_type.name}.{name} has no strawberry definition")
        strawberry_schema = _strawberry_schema(executor)
        arguments = convert_arguments(
            raw,
            definition.arguments,
            scalar_registry=strawberry_schema.schema_converter.scalar_registry,
            config=strawberry_schema.config,
        )
    variables = {a.name.value: a.value.name.value for a in node.arguments or () if isinstance(a.value, VariableNode)}
    named = get_named_type(field_def.type)
    children: tuple[Selection, ...] = ()
    by_type: dict[str, tuple[Selection, ...]] = {}
    if is_object_type(named):
        children = _children(executor, named, details, compilers)
    elif is_abstract_type(named):
        for possible in executor.schema.get_possible_types(named):
            if possible.name in compilers:
                try:  # a type whose selection cannot compile runs on the resolvers if it is asked for
                    by_type[possible.name] = _children(executor, possible, details, compilers)
                except NotCompilable:
                    pass
    return Selection(
        key=key,
        name=name,
        type_name=named.name,
        arguments=arguments,
        children=children,
        by_type=by_type,
        variables=variables,
    )


def _children(
    executor: Any, object_type: GraphQLObjectType, details: FieldDetailsList, compilers: dict
) -> tuple[Selection, ...]:
    collected = executor.collect_subfields(object_type, details)
    if collected.new_defer_usages:
        raise NotCompilable("@defer")
    return tuple(
        plan_field(executor, object_type, key, sub, compilers) for key, sub in collected.grouped_field_set.items()
    )
