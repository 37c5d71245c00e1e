"""Keyset (cursor) pagination shared by every list of the API.

A cursor is an opaque base64 token over the sort-key values of a row plus the identity of
the ordering it belongs to, so a cursor from another list or another order is refused
rather than silently misread. Pages never use OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from service.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class SortKey:
    """One sort column; `kind` says how its value travels in a cursor."""

    name: str
    column: Any  # ColumnElement
    descending: bool = False
    kind: str = "int"  # int | str | datetime | date | decimal | float


@dataclass(frozen=True)
class Ordering:
    """A total order: the last key must be unique (the tie-breaker)."""

    identity: str  # e.g. "needs:UPDATED_AT:DESC"
    keys: tuple[SortKey, ...]

    def order_by(self, *, reverse: bool = False) -> list[ColumnElement]:
        clauses = []
        for key in self.keys:
            descending = key.descending != reverse
            clauses.append(key.column.desc() if descending else key.column.asc())
        return clauses


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def validated(self) -> "PageArgs":
        if self.first is not None and self.last is not None:
            raise InvalidInput("Pass either `first` or `last`, not both.", field="first")
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
                raise InvalidInput(f"`{name}` must be between 0 and {MAX_PAGE_SIZE}; got {value}.", field=name)
        return self

    @property
    def backward(self) -> bool:
        return self.last is not None

    @property
    def limit(self) -> int:
        if self.last is not None:
            return self.last
        return self.first if self.first is not None else DEFAULT_PAGE_SIZE


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


# -- cursor encoding --------------------------------------------------------------------


def _dump(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("datetime", "date"):
        return value.isoformat()
    if kind == "decimal":
        return str(value)
    if hasattr(value, "value"):  # enums
        return value.value
    return value


BIGINT = range(-(2**63), 2**63)


def _load(value: Any, kind: str) -> Any:
    """A sort-key value from a cursor, or ValueError when PostgreSQL could not compare it
    with its column (out of bigint range, not finite, NUL or lone surrogates in text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError (a ValueError) on lone surrogates
        if "\x00" in value:
            raise ValueError("NUL in a cursor")
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "decimal":
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError("not finite")
        return number
    if kind == "float":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("not finite")
        return number
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value not in BIGINT:
            raise ValueError("not a bigint")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError("not a string")
        return value
    raise ValueError(kind)


def encode_cursor(ordering: Ordering, values: Sequence[Any]) -> str:
    payload = [ordering.identity, [_dump(v, k.kind) for v, k in zip(values, ordering.keys)]]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(ordering: Ordering, cursor: str, *, argument: str) -> list[Any]:
    error = InvalidInput(
        f"`{argument}` is not a cursor of this list in this order; "
        "use a cursor returned by the same connection with the same orderBy.",
        field=argument,
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        identity, raw_values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if identity != ordering.identity or len(raw_values) != len(ordering.keys):
            raise error
        return [_load(v, k.kind) for v, k in zip(raw_values, ordering.keys)]
    except InvalidInput:
        raise
    except (ValueError, TypeError, ArithmeticError, binascii.Error, json.JSONDecodeError):
        raise error from None


def _after(ordering: Ordering, values: list[Any], *, reverse: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the ordering (or before, when reverse)."""
    directions = {key.descending for key in ordering.keys}
    if len(directions) == 1:
        descending = directions.pop() != reverse
        left = sa.tuple_(*[k.column for k in ordering.keys])
        right = sa.tuple_(*[sa.literal(v) if v is not None else sa.null() for v in values])
        return left < right if descending else left > right
    clauses = []
    for i, key in enumerate(ordering.keys):
        equal = [ordering.keys[j].column == values[j] for j in range(i)]
        descending = key.descending != reverse
        step = key.column < values[i] if descending else key.column > values[i]
        clauses.append(sa.and_(*equal, step))
    return sa.or_(*clauses)


def apply_keyset(stmt: Select, ordering: Ordering, args: PageArgs) -> Select:
    """Add cursor conditions, order and limit (+1 to detect another page)."""
    if args.after:
        stmt = stmt.where(_after(ordering, decode_cursor(ordering, args.after, argument="after"), reverse=False))
    if args.before:
        stmt = stmt.where(_after(ordering, decode_cursor(ordering, args.before, argument="before"), reverse=True))
    return stmt.order_by(*ordering.order_by(reverse=args.backward)).limit(args.limit + 1)


def build_page(rows: list[Any], key_values: list[Sequence[Any]], ordering: Ordering, args: PageArgs) -> Page:
    """Turn the limit+1 rows of `apply_keyset` into a page (rows already in query order)."""
    more = len(rows) > args.limit
    rows, key_values = rows[: args.limit], key_values[: args.limit]
    if args.backward:
        rows.reverse()
        key_values.reverse()
    cursors = [encode_cursor(ordering, values) for values in key_values]
    if args.backward:
        return Page(rows, cursors, has_next_page=args.before is not None, has_previous_page=more)
    return Page(rows, cursors, has_next_page=more, has_previous_page=args.after is not None)


async def paginate(session: AsyncSession, stmt: Select, ordering: Ordering, args: PageArgs) -> Page:
    """Run a select of one entity (plus nothing else) as a page.

    The sort-key values are selected alongside the entity, labelled, so expressions such as
    a search rank are cursorable too.
    """
    args = args.validated()
    labelled = [key.column.label(f"pg_k{i}") for i, key in enumerate(ordering.keys)]
    result = await session.execute(apply_keyset(stmt.add_columns(*labelled), ordering, args))
    rows = result.all()
    width = len(ordering.keys)
    return build_page([r[0] for r in rows], [tuple(r[-width:]) for r in rows], ordering, args)


def count_select(stmt: Select) -> Select:
    """The rows a totalCount counts: the filtered select without its order and limit."""
    return stmt.order_by(None).limit(None)


async def count(session: AsyncSession, stmt: Select) -> int:
    """totalCount of a filtered select, ignoring its order and limit."""
    subquery = count_select(stmt).subquery()
    return int((await session.execute(sa.select(sa.func.count()).select_from(subquery))).scalar_one())


async def paginate_per_parent(
    session: AsyncSession,
    stmt: Select,
    parent_column: Any,
    parent_ids: Sequence[Any],
    ordering: Ordering,
    args: PageArgs,
    entity: Any,
    deferred: Sequence[str] = (),
) -> dict[Any, Page]:
    """One page per parent in a single statement (row_number() over a partition).

    `stmt` selects `entity` joined however it needs to expose `parent_column`; a nested
    connection (`need.recommendations(first: 3)`) for 50 parents costs one query.
    `deferred` attributes are left unloaded (not fetched, not decoded).
    """
    args = args.validated()
    if args.after:
        stmt = stmt.where(_after(ordering, decode_cursor(ordering, args.after, argument="after"), reverse=False))
    if args.before:
        stmt = stmt.where(_after(ordering, decode_cursor(ordering, args.before, argument="before"), reverse=True))
    rank = sa.func.row_number().over(partition_by=parent_column, order_by=ordering.order_by(reverse=args.backward))
    labelled = [key.column.label(f"pg_k{i}") for i, key in enumerate(ordering.keys)]
    inner = (
        stmt.where(parent_column.in_(list(parent_ids)))
        .add_columns(parent_column.label("pg_parent"), rank.label("pg_rank"), *labelled)
        .subquery()
    )
    from sqlalchemy.orm import aliased, defer

    alias = aliased(entity, inner)
    outer = (
        sa.select(alias, inner.c["pg_parent"], *[inner.c[f"pg_k{i}"] for i in range(len(ordering.keys))])
        .where(inner.c["pg_rank"] <= args.limit + 1)
        .order_by(inner.c["pg_parent"], inner.c["pg_rank"])
        .options(*(defer(getattr(alias, name)) for name in deferred))
    )
    grouped: dict[Any, tuple[list, list]] = {pid: ([], []) for pid in parent_ids}
    width = len(ordering.keys)
    for row in (await session.execute(outer)).all():
        items, keys = grouped.setdefault(row[1], ([], []))
        items.append(row[0])
        keys.append(tuple(row[-width:]))
    return {pid: build_page(items, keys, ordering, args) for pid, (items, keys) in grouped.items()}
