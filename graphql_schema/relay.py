"""Relay plumbing: opaque global IDs, the Node interface, connections and page arguments."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from service.errors import InvalidInput
from service.pagination import Page, PageArgs

T = TypeVar("T")


def to_global_id(type_name: str, key: Any) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def parse_global_id(global_id: str, *, argument: str = "id") -> tuple[str, str]:
    """(type name, key) of an ID, or BAD_USER_INPUT when it is not one of ours."""
    try:
        padded = str(global_id) + "=" * (-len(str(global_id)) % 4)
        type_name, key = base64.urlsafe_b64decode(padded.encode()).decode().split(":", 1)
        if not type_name or not key or not type_name.isalnum():
            raise ValueError
        return type_name, key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"`{argument}` is not a valid ID: {str(global_id)[:60]!r}.", field=argument) from None


def expect_id(global_id: str, type_name: str, *, argument: str = "id") -> str:
    """The key of an ID that must be of `type_name` (a foreign ID is refused, not looked up)."""
    found, key = parse_global_id(global_id, argument=argument)
    if found != type_name:
        raise InvalidInput(
            f"`{argument}` must be the ID of a {type_name}; this is the ID of a {found}.", field=argument
        )
    return key


def int_key(key: str) -> int | None:
    """The integer key of an ID, None unless it is 1–18 ASCII digits (`str.isdigit` also
    accepts "²" and other digits `int()` refuses; 19 digits may not fit a bigint)."""
    return int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None


def expect_int_id(global_id: str, type_name: str, *, argument: str = "id") -> int:
    number = int_key(expect_id(global_id, type_name, argument=argument))
    if number is None:
        raise InvalidInput(f"`{argument}` is not a valid {type_name} ID.", field=argument)
    return number


@strawberry.interface(description="An object with a stable, opaque global ID that `node(id:)` refetches.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global ID; clients never parse it.")


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow `endCursor`.")
    has_previous_page: bool = strawberry.field(
        description="Items precede `startCursor` (true whenever `after` was given)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item of the page.")


@strawberry.type(description="An item of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor to pass as `after` or `before`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, paginated by keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    page_info: PageInfo = strawberry.field(description="Pagination state of this page.")
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list (all pages) under the filter.")
    async def total_count(self) -> int:
        return await self.counter()


def connection(page: Page, wrap: Callable[[Any], T], counter: Callable[[], Awaitable[int]]) -> Connection[T]:
    return Connection(
        edges=[Edge(cursor=c, node=wrap(item)) for c, item in zip(page.cursors, page.items)],
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        ),
        counter=counter,
    )


def page_args(first: int | None, after: str | None, last: int | None, before: str | None) -> PageArgs:
    return PageArgs(first=first, after=after, last=last, before=before).validated()


FIRST = strawberry.argument(description="Return the first n items (0–100; 20 when neither first nor last is given).")
AFTER = strawberry.argument(description="Return items after this cursor.")
LAST = strawberry.argument(description="Return the last n items (0–100).")
BEFORE = strawberry.argument(description="Return items before this cursor.")
