"""A planned selection as ONE SQL statement that builds the response JSON in PostgreSQL.

Every list and lookup starts from the same service-layer builders the resolvers call
(`visible_needs_select`, `filter_clauses`, `need_ordering`, `apply_keyset`, `decode_cursor`,
`count_select`), so the caller's visibility, a filter's meaning, an order's tie-breaker
and a cursor's validation live in one place. What this module adds is only the JSON: each
object is a `json_build_object` in selection order, each connection page a keyset-limited
subquery (limit + 1, to know whether another page follows) aggregated with `json_agg`.

PostgreSQL's JSON text of some values is not Python's: those are formatted here to the
resolvers' bytes (global IDs and cursors as unpadded URL-safe base64, DateTime as
`datetime.isoformat()`, Decimal as its string, text in cursors with `json.dumps`'s
escapes), or the field is not compiled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement, Select

from graphql_schema.common import descending
from graphql_schema.compiled.planner import NotCompilable, Selection
from graphql_schema.relay import int_key, page_args, parse_global_id
from graphql_schema.states import state_order
from service import needs as needs_service
from service import recommendations as recommendations_service
from service import states as states_service
from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.matching import lifecycle
from service.matching import queries as matching_queries
from service.models import (
    AssistanceNeed,
    Capability,
    NeedRecommendation,
    Organization,
    Programme,
    Recommendation,
    RecommendationRecommender,
    Review,
    State,
)
from service.models.enums import NeedStatus
from service.models.matching import Match
from service.pagination import Ordering, PageArgs, apply_keyset, count_select

MAX_NODES = 100  # as `Query.nodes`; more is an error the resolver raises


@dataclass
class Build:
    """What every part of one statement needs: the caller; and which ID variables it reads
    only as `node(id: $variable)` keys (bound parameters named `id_slot_<variable>`, so a plan
    serves every ID of the same type) and whether any other ID was written into it."""

    principal: Principal
    id_slots: dict[str, str] = field(default_factory=dict)  # variable → "int" | "str"
    ids_baked: bool = False


FieldCompiler = Callable[[Build, Any, Selection], ColumnElement]


@dataclass
class TypeCompiler:
    fields: dict[str, FieldCompiler]


COMPILERS: dict[str, TypeCompiler] = {}


# -- JSON building blocks ----------------------------------------------------------------------


def const(text: str) -> ColumnElement:
    """A constant SQL text (our own identifiers and formats only, never input)."""
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.Text)


def json_object(type_name: str, selections: tuple[Selection, ...], build: Build, row: Any) -> ColumnElement:
    compiler = COMPILERS[type_name]
    pairs: list[ColumnElement] = []
    for selection in selections:
        if selection.name == "__typename":
            value: ColumnElement = const(type_name)
        else:
            value = compiler.fields[selection.name](build, row, selection)
        pairs += [const(selection.key), value]
    if len(pairs) > 100:  # json_build_object takes at most 100 arguments
        raise NotCompilable("more than 50 fields in one object")
    return sa.func.json_build_object(*pairs, type_=sa.Text)


def base64url(text: ColumnElement, *, short: bool = False) -> ColumnElement:
    """`base64.urlsafe_b64encode(text).rstrip("=")`. PostgreSQL breaks lines every 76
    characters; `short`: `text` is under 57 bytes, so there is no line break to remove."""
    encoded = sa.func.encode(sa.func.convert_to(text, const("UTF8")), const("base64"))
    if not short:
        encoded = sa.func.replace(encoded, sa.func.chr(10), const(""))
    return sa.func.rtrim(sa.func.translate(encoded, const("+/"), const("-_")), const("="))


def global_id(type_name: str, key: ColumnElement) -> ColumnElement:
    """graphql_schema.relay.to_global_id. The keys compiled here are bigints or State codes: with
    the type's name, under 57 bytes."""
    return base64url(const(type_name + ":").concat(sa.cast(key, sa.Text)), short=len(type_name) < 30)


def iso_datetime(column: ColumnElement) -> ColumnElement:
    """`datetime.isoformat()` of a timestamptz as asyncpg returns it (UTC): microseconds only
    when there are some, `+00:00`."""
    utc = sa.func.timezone(const("UTC"), column)
    fraction = sa.case(
        (sa.func.date_trunc(const("second"), column) == column, const("")), else_=sa.func.to_char(utc, const(".US"))
    )
    return sa.func.to_char(utc, const('YYYY-MM-DD"T"HH24:MI:SS')).concat(fraction).concat(const("+00:00"))


def iso_date(column: ColumnElement) -> ColumnElement:
    return sa.func.to_char(column, const("YYYY-MM-DD"))


def _quoted(text: ColumnElement) -> ColumnElement:
    return const('"').concat(text).concat(const('"'))


def _cursor_value(column: ColumnElement, kind: str) -> ColumnElement:
    """A sort-key value as `json.dumps` writes it in service.pagination.encode_cursor."""
    if kind == "int":
        text = sa.cast(column, sa.Text)
    elif kind == "datetime":
        text = _quoted(iso_datetime(column))
    elif kind == "date":
        text = _quoted(iso_date(column))
    elif kind == "decimal":
        text = _quoted(sa.cast(column, sa.Text))
    elif kind == "float":
        double = sa.cast(column, sa.Float(precision=53))
        text = sa.cast(double, sa.Text)
        # repr(1.0) is "1.0" where PostgreSQL writes "1"
        text = sa.case(
            (sa.and_(double == sa.func.trunc(double), sa.func.abs(double) < 1e15), text.concat(const(".0"))), else_=text
        )
    elif kind == "str":
        text = ascii_json_string(column)
    else:
        raise NotCompilable(f"cursor over a {kind} sort key")
    return sa.func.coalesce(text, const("null"))


def ascii_json_string(column: ColumnElement) -> ColumnElement:
    """`json.dumps(text)` in SQL. PostgreSQL's JSON string escapes ASCII characters as json.dumps
    does (quote, backslash, newline as \\n, other controls as \\u001f); json.dumps also writes
    DEL and each non-ASCII character as \\uxxxx (a surrogate pair above U+FFFF), so a text with
    any is rewritten character by character."""
    quoted = sa.cast(sa.func.to_json(column), sa.Text)
    chars = (
        sa.func.unnest(sa.func.string_to_array(quoted, sa.null()))
        .table_valued("c", with_ordinality="n")
        .render_derived()
    )
    point = sa.func.ascii(chars.c.c, type_=sa.Integer)
    astral = point - _int(0x10000)

    def escape(number: ColumnElement) -> ColumnElement:
        return const("\\u").concat(sa.func.lpad(sa.func.to_hex(number), _int(4), const("0")))

    character = sa.case(
        (point < _int(0x7F), chars.c.c),
        (point < _int(0x10000), escape(point)),
        else_=escape(_int(0xD800) + astral.op(">>", return_type=sa.Integer)(_int(10))).concat(
            escape(_int(0xDC00) + astral.op("&", return_type=sa.Integer)(_int(0x3FF)))
        ),
    )
    rewritten = sa.select(sa.func.string_agg(character, aggregate_order_by(const(""), chars.c.n))).scalar_subquery()
    printable = sa.and_(
        sa.func.octet_length(quoted) == sa.func.char_length(quoted),
        sa.func.strpos(quoted, sa.func.chr(_int(0x7F))) == 0,
    )
    return sa.case((printable, quoted), else_=rewritten)


def _int(number: int) -> ColumnElement:
    """An integer constant of our own, written into the SQL text."""
    return sa.literal_column(str(int(number)), sa.Integer)


def cursor(ordering: Ordering) -> ColumnElement:
    """service.pagination.encode_cursor, in SQL, over the ordering's own key columns."""
    values = [_cursor_value(key.column, key.kind) for key in ordering.keys]
    text: ColumnElement = sa.literal("[" + json.dumps(ordering.identity) + ",[", sa.Text)
    for i, value in enumerate(values):
        text = text.concat(const(",") if i else const("")).concat(value)
    return base64url(text.concat(const("]]")))


def json_list(column: ColumnElement) -> ColumnElement:
    return sa.func.to_json(column)


def json_float(column: ColumnElement) -> ColumnElement:
    """A Float as orjson writes a Python float: PostgreSQL writes 1.0 as 1 (an int to a JSON
    reader), so integral values get their ".0" back; the rest is the shortest round-trip
    text in both."""
    double = sa.cast(column, sa.Float(precision=53))
    text = sa.cast(double, sa.Text)
    integral = sa.and_(double == sa.func.trunc(double), sa.func.abs(double) < 1e15)
    return sa.cast(sa.case((integral, text.concat(const(".0"))), else_=text), sa.JSON)


def by_key(
    type_name: str, entity: Any, key: ColumnElement, selections: tuple[Selection, ...], build: "Build"
) -> ColumnElement:
    """One row of `entity` by primary key as `type_name`'s JSON (null when there is none)."""
    row = aliased(entity)
    return sa.select(json_object(type_name, selections, build, row)).where(row.id == key).scalar_subquery()


# -- connections --------------------------------------------------------------------------


class PageRow:
    """A connection page's row as field compilers read it: the entity's columns by attribute
    name (as on an aliased entity), and the page subquery that nested lists correlate with."""

    def __init__(self, subquery: Any):
        self.subquery = subquery

    def __getattr__(self, name: str) -> ColumnElement:
        try:
            return self.subquery.c[name]
        except KeyError:
            raise AttributeError(name) from None


def connection(
    connection_type: str,
    node_type: str,
    selection: Selection,
    build: Build,
    stmt: Select,
    ordering: Ordering,
    page: PageArgs,
    entity: Any,
    parent: Any = None,
) -> ColumnElement:
    """A page of `stmt` (a select of `entity` with its visibility and filter applied; under a
    parent, also restricted to that parent's rows) as the connection's JSON, the way
    service.pagination.paginate + graphql_schema.relay.connection shape it.

    The page is a subquery of the entity's columns (limit + 1 rows, in the ordering,
    keyset-limited per parent), and each node's JSON is built over that subquery's row
    (`PageRow`): no second lookup of each row by primary key. Nested lists correlate with
    the subquery by name, never with a table of the same name inside them."""
    if parent is not None:
        stmt = stmt.correlate(parent.subquery if isinstance(parent, PageRow) else parent)
    limit = page.limit
    needs_cursor = any(
        c.name == "edges"
        and any(e.name == "cursor" for e in c.children)
        or c.name == "pageInfo"
        and any(p.name in ("startCursor", "endCursor") for p in c.children)
        for c in selection.children
    )
    rank = sa.func.row_number().over(order_by=ordering.order_by(reverse=page.backward)).label("rn")
    columns: list[ColumnElement] = [
        getattr(entity, attribute.key).label(attribute.key) for attribute in sa.inspect(entity).mapper.column_attrs
    ]
    columns.append(rank)
    if needs_cursor:
        columns.append(cursor(ordering).label("cursor"))
    inner = apply_keyset(stmt.with_only_columns(*columns), ordering, page).subquery("page")
    row = PageRow(inner)
    in_page = inner.c.rn <= limit
    order = inner.c.rn.desc() if page.backward else inner.c.rn
    aggregates: list[ColumnElement] = [sa.func.count().label("fetched")]
    edge_selections = [c for c in selection.children if c.name == "edges"]
    for i, edges in enumerate(edge_selections):
        pairs: list[ColumnElement] = []
        for part in edges.children:
            if part.name == "cursor":
                value: ColumnElement = inner.c.cursor
            elif part.name == "node":
                value = json_object(node_type, part.children, build, row)
            else:
                value = const(connection_type.removesuffix("Connection") + "Edge")
            pairs += [const(part.key), value]
        edge = sa.func.json_build_object(*pairs, type_=sa.Text)
        aggregates.append(
            sa.func.coalesce(
                sa.func.json_agg(aggregate_order_by(edge, order)).filter(in_page), sa.literal_column("'[]'::json")
            ).label(f"edges_{i}")
        )
    if needs_cursor:
        aggregates.append(
            sa.func.array_agg(aggregate_order_by(inner.c.cursor, inner.c.rn), type_=ARRAY(sa.Text))
            .filter(in_page)
            .label("cursors")
        )
    totals = sa.select(*aggregates).select_from(inner).subquery("totals")
    fetched = totals.c.fetched
    more = fetched > limit
    cursors = totals.c.cursors if needs_cursor else None
    pairs = []
    edges_index = 0
    for part in selection.children:
        if part.name == "edges":
            value = totals.c[f"edges_{edges_index}"]
            edges_index += 1
        elif part.name == "totalCount":
            value = sa.select(sa.func.count()).select_from(count_select(stmt).subquery()).scalar_subquery()
        elif part.name == "pageInfo":
            first, last = (cursors[1], cursors[sa.func.cardinality(cursors)]) if cursors is not None else (None, None)
            info = {
                # Called in this iteration only (below), so the loop's first/last are the right ones.
                "hasNextPage": lambda: sa.literal(page.before is not None) if page.backward else more,
                "hasPreviousPage": lambda: more if page.backward else sa.literal(page.after is not None),
                "startCursor": lambda: last if page.backward else first,  # noqa: B023
                "endCursor": lambda: first if page.backward else last,  # noqa: B023
                "__typename": lambda: const("PageInfo"),
            }
            page_pairs: list[ColumnElement] = []
            for item in part.children:
                page_pairs += [const(item.key), info[item.name]()]
            value = sa.func.json_build_object(*page_pairs, type_=sa.Text)
        elif part.name == "__typename":
            value = const(connection_type)
        else:
            raise NotCompilable(f"{connection_type}.{part.name}")
        pairs += [const(part.key), value]
    return sa.select(sa.func.json_build_object(*pairs, type_=sa.Text)).select_from(totals).scalar_subquery()


# -- States -------------------------------------------------------------------------------


def _state_field(column: str) -> FieldCompiler:
    return lambda build, row, selection: getattr(row, column)


def _enum_text(column: str) -> FieldCompiler:
    return lambda build, row, selection: sa.cast(getattr(row, column), sa.Text)


COMPILERS["State"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("State", row.iso3),
        "code": _state_field("iso3"),
        "iso2": _state_field("iso2"),
        "m49": _state_field("m49"),
        "name": lambda build, row, selection: getattr(row, f"name_{selection.arguments['language'].value}"),
        "regionCode": _state_field("region_code"),
        "regionName": _state_field("region_name"),
        "subRegionCode": _state_field("sub_region_code"),
        "subRegionName": _state_field("sub_region_name"),
        "intermediateRegionCode": _state_field("intermediate_region_code"),
        "intermediateRegionName": _state_field("intermediate_region_name"),
        "regionalGroup": _enum_text("regional_group"),
        "membership": _enum_text("un_membership"),
        "isLdc": _state_field("is_ldc"),
        "isLldc": _state_field("is_lldc"),
        "isSids": _state_field("is_sids"),
        "needs": lambda build, row, selection: _state_needs(build, row, selection),
        "recommendations": lambda build, row, selection: _state_recommendations(build, row, selection),
    }
)


def state_by_code(build: Build, code: ColumnElement | str, selections: tuple[Selection, ...]) -> ColumnElement:
    state = aliased(State)
    return sa.select(json_object("State", selections, build, state)).where(state.iso3 == code).scalar_subquery()


# -- needs --------------------------------------------------------------------------------


def _need_field(column: str) -> FieldCompiler:
    return lambda build, row, selection: getattr(row, column)


def _need_list(column: str) -> FieldCompiler:
    return lambda build, row, selection: json_list(getattr(row, column))


def _money(amount: ColumnElement, currency: ColumnElement, selection: Selection) -> ColumnElement:
    """graphql_schema.common.money: null unless both amount and currency are there."""
    parts = {"amount": sa.cast(amount, sa.Text), "currency": currency, "__typename": const("Money")}
    pairs: list[ColumnElement] = []
    for item in selection.children:
        pairs += [const(item.key), parts[item.name]]
    return sa.case(
        (sa.or_(amount.is_(None), currency.is_(None)), None), else_=sa.func.json_build_object(*pairs, type_=sa.Text)
    )


def _allowed_transitions(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """needs.allowed_transitions, in the enum's order (as `Need.allowedTransitions`)."""
    order = list(NeedStatus)
    whens = [
        (
            sa.cast(row.status, sa.Text) == const(status.value),
            sa.literal_column("'" + json.dumps([s.value for s in sorted(targets, key=order.index)]) + "'::json"),
        )
        for status, targets in needs_service.TRANSITIONS.items()
    ]
    return sa.case(*whens)


def _optional_datetime(column: str) -> FieldCompiler:
    return lambda build, row, selection: iso_datetime(getattr(row, column))


COMPILERS["Need"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Need", row.id),
        "title": _need_field("title"),
        "description": _need_field("description"),
        "state": lambda build, row, selection: state_by_code(build, row.state_iso3, selection.children),
        "themes": _need_list("themes"),
        "sectors": _need_list("sectors"),
        "sdgTargets": _need_list("sdg_targets"),
        "rightsDimensions": _need_list("rights_dimensions"),
        "modalities": _need_list("modalities"),
        "workingLanguages": _need_list("working_languages"),
        "estimatedCost": lambda build, row, selection: _money(row.estimated_cost, row.currency, selection),
        "startDate": lambda build, row, selection: iso_date(row.start_date),
        "endDate": lambda build, row, selection: iso_date(row.end_date),
        "status": _enum_text("status"),
        "allowedTransitions": _allowed_transitions,
        "visibility": _enum_text("visibility"),
        "submittedAt": _optional_datetime("submitted_at"),
        "createdAt": _optional_datetime("created_at"),
        "updatedAt": _optional_datetime("updated_at"),
        "recommendations": lambda build, row, selection: _need_recommendations(build, row, selection),
        "matches": lambda build, row, selection: _need_matches(build, row, selection),
    }
)


def built_by_parent(*names: str) -> TypeCompiler:
    """A type whose fields its parent builds (Money by `_money`, connections, edges and page
    info by `connection`): listed so that the planner knows which of them compile."""

    def unreachable(build: Build, row: Any, selection: Selection) -> ColumnElement:
        raise NotCompilable(f"{selection.name} is built by its parent")

    return TypeCompiler({name: unreachable for name in names})


COMPILERS["Money"] = built_by_parent("amount", "currency")


def _need_arguments(selection: Selection) -> tuple[needs_service.NeedFilter | None, Ordering]:
    """A needs connection's filter and ordering, as every needs resolver reads them."""
    need_filter = selection.arguments.get("filter")
    domain_filter = need_filter.to_domain() if need_filter else None
    order_by = selection.arguments.get("order_by")
    ordering = needs_service.need_ordering(
        order_by.to_domain() if order_by else None, domain_filter.search if domain_filter else None
    )
    return domain_filter, ordering


def needs_connection(build: Build, selection: Selection) -> ColumnElement:
    """`Query.needs`: graphql_schema.needs.list_needs → service.needs.list_needs / count_needs."""
    domain_filter, ordering = _need_arguments(selection)
    stmt = needs_service.visible_needs_select(build.principal, domain_filter)
    return connection("NeedConnection", "Need", selection, build, stmt, ordering, _page(selection), AssistanceNeed)


def _state_needs(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`State.needs`: service.needs.needs_per_state / count_needs_per_state, for this State."""
    domain_filter, ordering = _need_arguments(selection)
    stmt = needs_service.visible_needs_select(build.principal, domain_filter).where(
        AssistanceNeed.state_iso3 == row.iso3
    )
    return connection(
        "NeedConnection", "Need", selection, build, stmt, ordering, _page(selection), AssistanceNeed, parent=row
    )


def _recommendation_needs(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`Recommendation.needs`: service.needs.needs_per_recommendation /
    count_needs_per_recommendation, for this recommendation."""
    domain_filter, ordering = _need_arguments(selection)
    stmt = needs_service.recommendation_needs_select(build.principal, domain_filter).where(
        NeedRecommendation.recommendation_id == row.id
    )
    return connection(
        "NeedConnection", "Need", selection, build, stmt, ordering, _page(selection), AssistanceNeed, parent=row
    )


COMPILERS["NeedConnection"] = built_by_parent("edges", "pageInfo", "totalCount")
COMPILERS["NeedEdge"] = built_by_parent("cursor", "node")
COMPILERS["PageInfo"] = built_by_parent("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")


# -- recommendations, matches and offers ----------------------------------------------------


def _page(selection: Selection) -> PageArgs:
    a = selection.arguments
    return page_args(a.get("first"), a.get("after"), a.get("last"), a.get("before"))


def _recommendation_filter(selection: Selection) -> recommendations_service.RecommendationFilter | None:
    recommendation_filter = selection.arguments.get("filter")
    return recommendation_filter.to_domain() if recommendation_filter else None


def _recommendations(
    build: Build, selection: Selection, stmt: Select, ordering: Ordering, parent: Any = None
) -> ColumnElement:
    return connection(
        "RecommendationConnection",
        "Recommendation",
        selection,
        build,
        stmt,
        ordering,
        _page(selection),
        Recommendation,
        parent=parent,
    )


def recommendations_connection(build: Build, selection: Selection) -> ColumnElement:
    """`Query.recommendations`: graphql_schema.recommendations.list_recommendations →
    service.recommendations.list_recommendations / count_recommendations."""
    domain_filter = _recommendation_filter(selection)
    order_by = selection.arguments.get("order_by")
    order = (
        recommendations_service.RecommendationOrder(order_by.field, descending(order_by.direction))
        if order_by
        else None
    )
    ordering = recommendations_service._ordering(order, domain_filter.search if domain_filter else None)
    return _recommendations(build, selection, recommendations_service.recommendations_select(domain_filter), ordering)


def _need_recommendations(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`Need.recommendations`: service.recommendations.recommendations_per_need, for this need."""
    domain_filter = _recommendation_filter(selection)
    ordering = recommendations_service._ordering(None, domain_filter.search if domain_filter else None)
    stmt = recommendations_service.need_recommendations_select(domain_filter).where(
        NeedRecommendation.need_id == row.id
    )
    return _recommendations(build, selection, stmt, ordering, parent=row)


def _state_recommendations(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`State.recommendations`: service.recommendations.recommendations_per_state, for this
    State. Its totalCount (the resolver's count with the filter's `states` replaced by this
    State, none when they leave it out) is the count of the same page select: the filter's
    `states` and this State together."""
    domain_filter = _recommendation_filter(selection)
    ordering = recommendations_service._ordering(None, domain_filter.search if domain_filter else None)
    stmt = recommendations_service.recommendations_select(domain_filter).where(Recommendation.state_iso3 == row.iso3)
    return _recommendations(build, selection, stmt, ordering, parent=row)


def _recommending_states(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`Recommendation.recommendingStates`: service.states.recommending_states_per_recommendation
    / count_recommending_states, for this recommendation."""
    stmt = states_service.recommending_states_select().where(RecommendationRecommender.recommendation_id == row.id)
    ordering = states_service.state_ordering(*state_order(selection.arguments.get("order_by")))
    return connection("StateConnection", "State", selection, build, stmt, ordering, _page(selection), State, parent=row)


def states_connection(build: Build, selection: Selection) -> ColumnElement:
    """`Query.states`: service.states.list_states / count_states."""
    state_filter = selection.arguments.get("filter")
    stmt = states_service.states_select(state_filter.to_domain() if state_filter else None)
    ordering = states_service.state_ordering(*state_order(selection.arguments.get("order_by")))
    return connection("StateConnection", "State", selection, build, stmt, ordering, _page(selection), State)


def _need_matches(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`Need.matches`: service.matching.queries.matches_per_parent, for this need."""
    min_score = selection.arguments.get("min_score")
    if min_score is not None and not 0 <= min_score <= 1:
        raise NotCompilable("minScore out of range (the resolver raises its error)")
    statuses = selection.arguments.get("statuses")
    stmt = matching_queries.visible_matches(build.principal, min_score=min_score, statuses=statuses).where(
        Match.need_id == row.id
    )
    return connection(
        "MatchConnection",
        "Match",
        selection,
        build,
        stmt,
        matching_queries.match_ordering(),
        _page(selection),
        Match,
        parent=row,
    )


COMPILERS["Recommendation"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Recommendation", row.id),
        "text": _need_field("text"),
        "state": lambda build, row, selection: state_by_code(build, row.state_iso3, selection.children),
        "response": _enum_text("response"),
        "actionCategory": _need_field("action_category"),
        "themes": _need_list("themes"),
        "sdgTargets": _need_list("sdg_targets"),
        "affectedPersons": _need_list("affected_persons"),
        "sourceReference": _need_field("source_reference"),
        "otherRecommenders": _need_list("other_recommenders"),
        "review": lambda build, row, selection: by_key("Review", Review, row.review_id, selection.children, build),
        "source": _enum_text("source"),
        "body": _need_field("body"),
        "symbol": _need_field("symbol"),
        "publicationDate": lambda build, row, selection: iso_date(row.publication_date),
        "uhriId": lambda build, row, selection: sa.cast(row.uhri_annotation_id, sa.Text),
        "recommendingStates": _recommending_states,
        "needs": _recommendation_needs,
    }
)
COMPILERS["Review"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Review", row.id),
        "cycle": _need_field("cycle"),
        "session": _need_field("session"),
        "year": _need_field("year"),
        "state": lambda build, row, selection: state_by_code(build, row.state_iso3, selection.children),
    }
)


def _match_transitions(build: Build, row: Any, selection: Selection) -> ColumnElement:
    """`Match.allowedTransitions`: lifecycle.TRANSITIONS, in its order."""
    whens = [
        (
            sa.cast(row.status, sa.Text) == const(status.value),
            sa.literal_column("'" + json.dumps([step.to.value for step in steps]) + "'::json"),
        )
        for status, steps in lifecycle.TRANSITIONS.items()
    ]
    return sa.case(*whens)


COMPILERS["Match"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Match", row.id),
        "score": lambda build, row, selection: json_float(row.score),
        "criteriaVersion": _need_field("criteria_version"),
        "status": _enum_text("status"),
        "allowedTransitions": _match_transitions,
        "offerKind": _enum_text("offer_kind"),
        "message": _need_field("message"),
        "need": lambda build, row, selection: _need_by_id(build, row.need_id, selection.children),
        "programme": lambda build, row, selection: by_key(
            "Programme", Programme, row.programme_id, selection.children, build
        ),
        "capability": lambda build, row, selection: by_key(
            "Capability", Capability, row.capability_id, selection.children, build
        ),
        "organization": lambda build, row, selection: by_key(
            "Organization", Organization, row.organization_id, selection.children, build
        ),
    }
)
COMPILERS["Programme"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Programme", row.id),
        "title": _need_field("title"),
    }
)
COMPILERS["Capability"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Capability", row.id),
        "title": _need_field("title"),
    }
)
COMPILERS["Organization"] = TypeCompiler(
    {
        "id": lambda build, row, selection: global_id("Organization", row.id),
        "name": _need_field("name"),
        "acronym": _need_field("acronym"),
    }
)
for _connection, _edge in (
    ("RecommendationConnection", "RecommendationEdge"),
    ("MatchConnection", "MatchEdge"),
    ("StateConnection", "StateEdge"),
):
    COMPILERS[_connection] = COMPILERS["NeedConnection"]
    COMPILERS[_edge] = COMPILERS["NeedEdge"]


# -- node lookups -------------------------------------------------------------------------


def _need_by_id(build: Build, key: Any, selections: tuple[Selection, ...]) -> ColumnElement:
    """service.needs.get_needs: hidden and missing are both null."""
    need = aliased(AssistanceNeed)
    return (
        sa.select(json_object("Need", selections, build, need))
        .where(need.id == key, visible_needs(build.principal, need))
        .scalar_subquery()
    )


def id_shape(global_id_value: Any) -> tuple[str, bool] | None:
    """What a plan depends on in an ID: its type, and whether its key is valid (None when
    it is not an ID at all). graphql_schema.nodes.resolve_node's rules."""
    from graphql_schema import nodes

    try:
        type_name, key = parse_global_id(global_id_value)
    except Exception:  # noqa: BLE001
        return None
    return type_name, not (type_name in nodes._INT_KEYED and int_key(key) is None)


def id_key(global_id_value: str) -> Any:
    """The key `node` looks up (int for the int-keyed types)."""
    from graphql_schema import nodes

    type_name, key = parse_global_id(global_id_value)
    return int(key) if type_name in nodes._INT_KEYED else key


def node(
    build: Build, selection: Selection, global_id_value: str, argument: str, variable: str | None = None
) -> ColumnElement:
    """graphql_schema.nodes.resolve_node: a bad ID raises (the resolvers report it); an
    unknown type is null; the types compiled here are looked up in SQL."""
    from graphql_schema import nodes

    type_name, key = parse_global_id(global_id_value, argument=argument)
    if type_name in nodes._INT_KEYED and int_key(key) is None:
        raise NotCompilable("invalid ID (the resolver raises its error)")
    if type_name not in nodes._REGISTRY:
        return sa.null()
    selections = selection.by_type.get(type_name)
    if selections is None:
        raise NotCompilable(f"node of type {type_name}")
    int_keyed = type_name in nodes._INT_KEYED
    value = int(key) if int_keyed else key
    if variable is not None:
        build.id_slots[variable] = "int" if int_keyed else "str"
        parameter = sa.bindparam(f"id_slot_{variable}", value, type_=sa.BigInteger if int_keyed else sa.Text)
    else:
        build.ids_baked = True
        parameter = sa.literal(value, sa.BigInteger if int_keyed else sa.Text)
    if type_name == "Need":
        return _need_by_id(build, parameter, selections)
    if type_name == "State":
        return state_by_code(build, parameter, selections)
    public = {
        "Recommendation": Recommendation,
        "Programme": Programme,
        "Capability": Capability,
        "Organization": Organization,
    }
    if type_name in public:  # public data: get_recommendations / get_programmes / … by id
        return by_key(type_name, public[type_name], parameter, selections, build)
    raise NotCompilable(f"node of type {type_name}")


# -- root fields --------------------------------------------------------------------------


def _node(build: Build, row: Any, selection: Selection) -> ColumnElement:
    return node(build, selection, selection.arguments["id"], "id", selection.variables.get("id"))


def _nodes(build: Build, row: Any, selection: Selection) -> ColumnElement:
    ids = selection.arguments["ids"]
    if len(ids) > MAX_NODES:
        raise NotCompilable("too many IDs (the resolver raises its error)")
    build.ids_baked = True
    return sa.func.json_build_array(*[node(build, selection, i, "ids") for i in ids], type_=sa.Text)


def _state(build: Build, row: Any, selection: Selection) -> ColumnElement:
    return state_by_code(build, sa.literal(selection.arguments["code"].strip().upper(), sa.Text), selection.children)


COMPILERS["Query"] = TypeCompiler(
    {
        "needs": lambda build, row, selection: needs_connection(build, selection),
        "recommendations": lambda build, row, selection: recommendations_connection(build, selection),
        "states": lambda build, row, selection: states_connection(build, selection),
        "node": _node,
        "nodes": _nodes,
        "state": _state,
    }
)


def root_value(build: Build, selection: Selection) -> ColumnElement:
    """The JSON of one root field (raises NotCompilable, or the resolver's own error)."""
    if selection.name == "__typename":
        return const("Query")
    return COMPILERS["Query"].fields[selection.name](build, None, selection)


def statement(values: dict[str, ColumnElement]) -> Select:
    """One row, one column: the root fields' JSON object, in response order."""
    pairs: list[ColumnElement] = []
    for key, value in values.items():
        pairs += [const(key), value]
    if len(pairs) > 100:
        raise NotCompilable("more than 50 root fields")
    # As text: decoded once by orjson, not by the driver's json codec.
    return sa.select(sa.cast(sa.func.json_build_object(*pairs), sa.Text))
