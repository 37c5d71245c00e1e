"""GraphiQL without a CDN: strawberry's GraphiQL page with its unpkg URLs pointed at the copies
vendored in `service/static/graphiql/` (see the README there), served under /graphql/static."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

ASSETS = Path(__file__).parent / "static" / "graphiql"
ASSETS_URL = "/graphql/static"
CDN = "https://unpkg.com"


@cache
def graphiql_html() -> str:
    """The page, loading every script and stylesheet from this service (same files: the
    page's `integrity` hashes still hold)."""
    return get_graphql_ide_html("graphiql").replace(f"{CDN}/", f"{ASSETS_URL}/")


def mount_graphiql_assets(app: FastAPI) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="graphiql-assets")
