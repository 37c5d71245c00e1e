"""The committed schema.graphql is the reviewed contract; everything in it is documented."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from graphql_schema.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_is_up_to_date():
    assert SCHEMA_FILE.exists(), "run `make schema` and commit schema.graphql"
    assert SCHEMA_FILE.read_text() == str(schema) + "\n", "schema.graphql is stale: run `make schema`, review, commit"


def test_every_type_field_argument_and_enum_value_has_a_description():
    missing: list[str] = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        elif isinstance(graphql_type, GraphQLInputObjectType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
        elif isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                if not value.description:
                    missing.append(f"{name}.{value_name}")
    assert not missing, "undocumented: " + ", ".join(missing)


def test_every_text_input_has_a_documented_maximum():
    """Each input field and argument carrying text (any scalar but Int, Float and Boolean; for a
    list, each item) has a maximum in graphql_schema/text_limits.py, stated in its description."""
    from graphql import GraphQLList, GraphQLNonNull, GraphQLScalarType, get_named_type

    from graphql_schema.text_limits import maximum

    def inputs():
        for name, graphql_type in schema._schema.type_map.items():
            if name.startswith("__"):
                continue
            if isinstance(graphql_type, GraphQLInputObjectType):
                yield from ((name, field_name, field) for field_name, field in graphql_type.fields.items())
            elif isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
                for field_name, field in graphql_type.fields.items():
                    yield from ((f"{name}.{field_name}", arg_name, arg) for arg_name, arg in field.args.items())

    problems, checked = [], 0
    for owner, name, definition in inputs():
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLScalarType) or named.name in {"Int", "Float", "Boolean"}:
            continue
        checked += 1
        limit = maximum(owner, name)
        nullable = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        said = f"{'Each at most' if isinstance(nullable, GraphQLList) else 'At most'} {limit:,} characters."
        if limit is None or not (definition.description or "").endswith(said):
            problems.append(f"{owner}.{name}: {limit} / {definition.description!r}")
    assert checked > 150 and problems == []
