"""A documented maximum length for every text input: each String, ID, Date, DateTime and
Decimal input field and argument, one table, checked in one place before execution.

Without it a 5 MB `reason` went into the append-only audit trail and a 2 MB proposal message
was served to anonymous readers. The check walks the operation's arguments (literals and the
raw variables they use, fragments followed) and refuses the whole operation with
BAD_USER_INPUT naming the argument path, so nothing is written. Service functions keep their
own checks for the other ways in (imports, the CLI); the table's maxima are not above theirs.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from graphql_schema.cost import CostCalculator, _operation, _root
from service import organizations, programmes
from service.errors import InvalidInput
from service.reference import queries as reference_queries

TEXT_SCALARS = frozenset({"String", "ID", "Date", "DateTime", "Decimal"})

CODE = 50  # ISO codes, DAC/SDG codes, currencies, languages, statuses, dates, amounts
ID = 100  # global IDs
NAME = 200  # names, labels, identifiers, actors
TITLE = 300
SEARCH = 500
PATH = 1_000
CURSOR = 4_000  # a cursor carries the sort values of a row, a title among them
MESSAGE = 10_000  # proposal messages, reasons, stakeholder input
DESCRIPTION = 20_000  # descriptions and lessons (the service checks the same maxima)

# By input field or argument name; `Owner.name` entries (input type, or `Type.field` for an
# argument) take precedence. A list's maximum applies to each item.
BY_NAME: dict[str, int] = {
    **dict.fromkeys(("after", "before"), CURSOR),
    **dict.fromkeys(
        (
            "id",
            "ids",
            "needId",
            "organizationId",
            "parentId",
            "organizations",
            "entityIds",
            "recommendationIds",
            "pledgeIds",
            "roundId",
            "rounds",
            "needIds",
            "actionId",
            "indicatorId",
            "reportId",
        ),
        ID,
    ),
    **dict.fromkeys(
        (
            "state",
            "states",
            "code",
            "codes",
            "regions",
            "regionalGroups",
            "regionsServed",
            "recipientStates",
            "recommendingStates",
            "themes",
            "clusters",
            "sectors",
            "category",
            "sdgs",
            "sdgTargets",
            "goal",
            "currency",
            "costCurrency",
            "languages",
            "workingLanguages",
            "activityStatus",
            "activityStatuses",
            "entityTypes",
            "actions",
            "percentage",
            "amount",
            "min",
            "max",
            "costMin",
            "costMax",
            "startDate",
            "endDate",
            "expiresAt",
            "activeOn",
            "updatedSince",
            "since",
            "until",
            "criterion",
            "opensOn",
            "closesOn",
            "minPartialShare",
            "coFinancing",
            "baseline",
            "target",
            "value",
            "dueDate",
            "reportedOn",
            "asOf",
        ),
        CODE,
    ),
    **dict.fromkeys(("name", "label", "iatiIdentifier", "actors", "bodies", "unit"), NAME),
    "title": TITLE,
    "search": SEARCH,
    "path": PATH,
    **dict.fromkeys(("message", "reason", "body", "note"), MESSAGE),
    **dict.fromkeys(("description", "lessons", "summary", "narrative"), DESCRIPTION),
    "evidenceLinks": PATH,
}
BY_OWNER: dict[str, int] = {
    # Where a service function checks a smaller maximum, the table says the same.
    "CreateProgrammeInput.iatiIdentifier": programmes.MAX_IATI_IDENTIFIER_LENGTH,
    "UpdateProgrammeInput.iatiIdentifier": programmes.MAX_IATI_IDENTIFIER_LENGTH,
    "OrganizationFilter.search": organizations.MAX_SEARCH_LENGTH,
    "ThemeFilter.search": reference_queries.MAX_SEARCH_LENGTH,
    # Item 10 reports: a theme code (up to 64, as `theme.code`) or cluster, a region code or group.
    "Query.item10Report.theme": 64,
    "Query.item10Report.region": CODE,
    "ReportPeriod.from": CODE,
    "ReportPeriod.to": CODE,
}

MAX_REPORTED = 20  # violations listed in one refusal


def maximum(owner: str, name: str) -> int | None:
    """The maximum length of input field `name` of `owner` (an input type's name, or
    `Type.field` for an argument)."""
    return BY_OWNER.get(f"{owner}.{name}", BY_NAME.get(name))


def _is_text(graphql_type: Any) -> bool:
    while isinstance(graphql_type, (GraphQLNonNull, GraphQLList)):
        graphql_type = graphql_type.of_type
    return isinstance(graphql_type, GraphQLScalarType) and graphql_type.name in TEXT_SCALARS


def text_inputs(schema: GraphQLSchema):
    """(owner, name, definition) of every text input field and argument."""
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLInputObjectType):
            for name, field in graphql_type.fields.items():
                if _is_text(field.type):
                    yield type_name, name, field
        elif isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in graphql_type.fields.items():
                for name, argument in field.args.items():
                    if _is_text(argument.type):
                        yield f"{type_name}.{field_name}", name, argument


def document_limits(schema: GraphQLSchema) -> None:
    """Append each maximum to its field's or argument's description."""
    for owner, name, definition in text_inputs(schema):
        limit = maximum(owner, name)
        if limit is None or " characters." in (definition.description or ""):
            continue
        each = "Each at most" if isinstance(_nullable(definition.type), GraphQLList) else "At most"
        definition.description = f"{(definition.description or '').rstrip()} {each} {limit:,} characters.".lstrip()


def _nullable(graphql_type: Any) -> Any:
    return graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type


class _Walk:
    """Finds text inputs over their maximum in one operation."""

    def __init__(self, schema: GraphQLSchema, document: Any, variables: dict[str, Any]):
        self.variables = variables
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.fields = CostCalculator(schema, fragments, variables)  # for its fragment-flattening walk
        self.errors: list[GraphQLError] = []

    def selections(self, selection_set: Any, parent: Any) -> None:
        for field, parent_type in self.fields._fields(selection_set, parent):
            if not isinstance(parent_type, (GraphQLObjectType, GraphQLInterfaceType)):
                continue
            definition = parent_type.fields.get(field.name.value)
            if definition is None:
                continue
            self.arguments(field, parent_type, definition)
            if field.selection_set is not None:
                target = definition.type
                while isinstance(target, (GraphQLNonNull, GraphQLList)):
                    target = target.of_type
                self.selections(field.selection_set, target)

    def arguments(self, field: FieldNode, parent_type: Any, definition: Any) -> None:
        owner = f"{parent_type.name}.{field.name.value}"
        for argument in field.arguments or ():
            name = argument.name.value
            if name in definition.args:
                self.value(argument.value, definition.args[name].type, owner, name, [name])

    def value(self, value: Any, graphql_type: Any, owner: str, name: str, path: list[str]) -> None:
        if len(self.errors) >= MAX_REPORTED:
            return
        if isinstance(value, VariableNode):
            value = self.variables.get(value.name.value)
        graphql_type = _nullable(graphql_type)
        if isinstance(graphql_type, GraphQLList):
            items = value.values if isinstance(value, ListValueNode) else value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                self.value(item, graphql_type.of_type, owner, name, [*path, str(index)])
        elif isinstance(graphql_type, GraphQLInputObjectType):
            if isinstance(value, ObjectValueNode):
                entries = [(f.name.value, f.value) for f in value.fields]
            else:
                entries = list(value.items()) if isinstance(value, dict) else []
            for key, item in entries:
                field = graphql_type.fields.get(key)
                if field is not None:
                    self.value(item, field.type, graphql_type.name, key, [*path, key])
        elif isinstance(graphql_type, GraphQLScalarType) and graphql_type.name in TEXT_SCALARS:
            text = value.value if isinstance(value, StringValueNode) else value
            limit = maximum(owner, name)
            if isinstance(text, str) and limit is not None and len(text) > limit:
                exc = InvalidInput(
                    f"`{'.'.join(path)}` is {len(text):,} characters long; at most {limit:,} are allowed."
                )
                self.errors.append(
                    GraphQLError(
                        exc.message,
                        original_error=exc,
                        extensions={"code": exc.code, "field": path, "maxLength": limit},
                    )
                )


def too_long(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: dict[str, Any] | None
) -> list[GraphQLError]:
    """The operation's text inputs over their maximum, as BAD_USER_INPUT errors."""
    operation = _operation(document, operation_name)
    if operation is None:
        return []
    walk = _Walk(schema, document, variables or {})
    walk.selections(operation.selection_set, _root(schema, operation))
    return walk.errors


class TextLimits(SchemaExtension):
    """Refuses an operation whose text inputs exceed their maximum, after validation (a
    document that failed it is reported as such) and before execution."""

    def on_validate(self):
        # Before the yield: strawberry reads the errors inside the validation step. Listed after
        # CostLimiter, which validates (and sets the errors) in its own step.
        ec = self.execution_context
        if not ec.pre_execution_errors and ec.graphql_document is not None:
            errors = too_long(ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables)
            if errors:
                ec.pre_execution_errors = errors
        yield
