"""`node(id:)` and `nodes(ids:)`: every Node type registers how to load one by key.

Loaders apply the caller's visibility, so a denied lookup is indistinguishable from a
missing one (null)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.types import Info

from graphql_schema.relay import int_key, parse_global_id
from service.errors import InvalidInput

NodeLoader = Callable[[Info, str], Awaitable[Any | None]]
_REGISTRY: dict[str, NodeLoader] = {}


def register(type_name: str, loader: NodeLoader) -> None:
    _REGISTRY[type_name] = loader


_INT_KEYED: set[str] = set()


def register_int(type_name: str, loader: Callable[[Info, int], Awaitable[Any | None]]) -> None:
    async def load(info: Info, key: str) -> Any | None:
        return await loader(info, int(key))

    register(type_name, load)
    _INT_KEYED.add(type_name)


async def resolve_node(info: Info, global_id: str, *, argument: str = "id") -> Any | None:
    type_name, key = parse_global_id(global_id, argument=argument)
    if type_name in _INT_KEYED and int_key(key) is None:
        raise InvalidInput(f"`{argument}` is not a valid {type_name} ID.", field=argument)
    loader = _REGISTRY.get(type_name)
    if loader is None:
        return None
    return await loader(info, key)
