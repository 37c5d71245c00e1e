"""GraphiQL works offline: its page names no other host, and every script and stylesheet it
names is served by the service itself (the same files the CDN had: their integrity hashes hold)."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess

import pytest

from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

ASSET = re.compile(r'<(script|link)\b[^>]*?\b(?:src|href)="([^"]+)"[^>]*>', re.S)


async def graphiql_page(client) -> str:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    return response.text


async def test_the_graphiql_page_loads_everything_from_the_service(app_client):
    page = await graphiql_page(app_client)
    assets = [(tag.group(0), tag.group(2)) for tag in ASSET.finditer(page)]
    assert len([a for a in assets if not a[1].startswith("data:")]) >= 7  # React, ReactDOM, GraphiQL, explorer…
    for tag, url in assets:
        if url.startswith("data:"):  # the inline favicon
            continue
        assert url.startswith("/graphql/static/"), f"not served from the package: {tag}"
        response = await app_client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] in (
            "text/javascript",
            "application/javascript",
            "text/css",
        ), url
        integrity = re.search(r'integrity="sha384-([^"]+)"', tag)
        assert integrity, f"no integrity hash: {tag}"
        assert base64.b64encode(hashlib.sha384(response.content).digest()).decode() == integrity.group(1), url
    assert "unpkg.com" not in page and "jsdelivr" not in page
    # Subscriptions from GraphiQL go to this service's /graphql over WebSocket.
    assert "subscriptionUrl" in page


@pytest.fixture
def app_settings(request):
    from service.settings import Settings

    return Settings(profile="production") if "production" in request.node.name else None


async def test_in_production_neither_the_page_nor_its_assets_are_served(app_client):
    assert "graphiql" not in (await app_client.get("/graphql", headers={"Accept": "text/html"})).text.lower()
    assert (await app_client.get("/graphql/static/graphiql@3.8.3/graphiql.min.js")).status_code == 404


async def test_graphiql_renders_in_a_headless_browser_without_a_network(database_url):
    """Chromium (when installed) renders the page: GraphiQL replaces its "Loading..." text."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    async with running_server(database_url) as (base, _):
        dom = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--proxy-server=127.0.0.1:9",  # no other host answers
                "--proxy-bypass-list=127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"{base}/graphql",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    assert "graphiql-container" in dom and "Loading..." not in dom, dom[:2000]
    assert "graphiql-editor" in dom or "graphiql-session" in dom, dom[:2000]
