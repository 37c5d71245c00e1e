"""`node(id:)` and `nodes(ids:)`: every Node type registers how to load one by key.

Loaders apply the caller's visibility, so a denied lookup is indistinguishable from a
missing one (null)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from strawberry.types import Info

from graphql_schema.relay import parse_global_id

NodeLoader = Callable[[Info, str], Awaitable[Any | None]]
_REGISTRY: dict[str, NodeLoader] = {}


def register(type_name: str, loader: NodeLoader) -> None:
    _REGISTRY[type_name] = loader


def _int_key(key: str) -> int | None:
    return int(key) if key.isdigit() and len(key) <= 18 else None


def register_int(type_name: str, loader: Callable[[Info, int], Awaitable[Any | None]]) -> None:
    async def load(info: Info, key: str) -> Any | None:
        number = _int_key(key)
        return None if number is None else await loader(info, number)

    register(type_name, load)


async def resolve_node(info: Info, global_id: str, *, argument: str = "id") -> Any | None:
    type_name, key = parse_global_id(global_id, argument=argument)
    loader = _REGISTRY.get(type_name)
    if loader is None:
        return None
    return await loader(info, key)
