"""The reference dashboard (/dashboard) in a real browser against the real service on the demo
data: an agency signs in with an API key and sees the charts, the needs table (filters,
cursor pages), a need's matches with their breakdown and a live event arriving while the page
is open; a donor's key never shows a PRIVATE need (table, events, matches); the page escapes
what the API sends; nothing is requested from anywhere but the service.

The browser tests drive Debian's Chromium (`apt-get install -y chromium`) with Playwright for
Python (Playwright's own browser download is not used) and are skipped, saying so, when no
Chromium is installed. The HTTP tests around them always run."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import pytest_asyncio

from service.dashboard import ASSETS, content_security_policy
from tests.support.demo import create_key, load_demo_world
from tests.support.servers import running_server

ROOT = Path(__file__).resolve().parents[2]
DEMO = json.loads((ROOT / "service/demo/demo_data.json").read_text(encoding="utf-8"))
STATUSES = ["DRAFT", "SUBMITTED", "MATCHED", "IN_PROGRESS", "COMPLETED", "WITHDRAWN"]
TIMEOUT_MS = 20_000  # an upper bound for the page to show what the API answered (a loaded 2-core machine)


# ------------------------------------------------------------------ served as static files, with a policy


async def test_the_dashboard_is_served_by_the_service_with_a_policy_for_this_origin_only(app_client):
    moved = await app_client.get("/dashboard", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/dashboard/"
    response = await app_client.get("/dashboard/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws://test wss://test"  # httpx's host is `test`
    assert directives["form-action"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assets = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', page)
    assert len(assets) == 3, assets  # the icon, the stylesheet, the script
    for url in assets:
        assert url.startswith("/dashboard/"), url
        asset = await app_client.get(url)
        assert asset.status_code == 200, url
        assert "content-security-policy" in asset.headers
    # Modules the script imports are served too.
    for module in sorted((ASSETS / "js").glob("*.js")):
        assert (await app_client.get(f"/dashboard/js/{module.name}")).status_code == 200
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page)


def test_a_host_header_that_is_not_a_host_is_not_written_into_the_policy():
    assert "ws://127.0.0.1:8000 wss://127.0.0.1:8000" in content_security_policy("127.0.0.1:8000")
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")
    for bad in ("evil.example; script-src *", "a b", "", None, "x" * 300):
        assert "connect-src 'self';" in content_security_policy(bad), bad


def test_the_dashboard_never_parses_data_as_html_and_names_no_other_host():
    """Text from the API goes in as text nodes (js/dom.js); the sources must not grow a way
    around that, nor load anything from elsewhere."""
    sources = sorted(ASSETS.rglob("*.js")) + sorted(ASSETS.rglob("*.html")) + sorted(ASSETS.rglob("*.css"))
    assert len(sources) >= 6
    for path in sources:
        text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8"), flags=re.M)  # not the comments
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            'setAttribute("on',
        ):
            assert sink not in text, f"{path.name} uses {sink}"
        hosts = set(re.findall(r"\b(?:https?|wss?):?//([A-Za-z0-9.-]+)", text)) - {"www.w3.org", "github.com"}
        assert not hosts, f"{path.name} names {hosts}"
        if path.suffix == ".html":
            assert "style=" not in text and "<script>" not in text  # nothing inline: the policy forbids it


@pytest.fixture
def app_settings(request):
    from service.settings import Settings

    if "production" in request.node.name:
        return Settings(profile="production")
    if "turned_off" in request.node.name:
        return Settings(dashboard=False)
    return None


async def test_in_production_the_dashboard_is_served(app_client):
    assert (await app_client.get("/dashboard/")).status_code == 200


async def test_the_dashboard_can_be_turned_off(app_client):
    assert (await app_client.get("/dashboard/")).status_code == 404
    assert (await app_client.get("/dashboard/js/app.js")).status_code == 404


# ------------------------------------------------------------------ the served demo world, and a browser


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Demo:
    base: str
    database_url: str
    keys: dict[str, str] = field(default_factory=dict)

    async def key(self, principal: str) -> str:
        if principal not in self.keys:
            self.keys[principal] = await asyncio.to_thread(create_key, self.database_url, principal)
        return self.keys[principal]

    async def gql(self, principal: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {await self.key(principal)}"},
            )
        answer = response.json()
        assert not answer.get("errors"), answer
        return answer["data"]

    async def create_need(self, title: str, visibility: str) -> str:
        data = await self.gql(
            "state-focal-point/KEN",
            """
            mutation($input: CreateNeedInput!) { createNeed(input: $input) { need { id } userErrors { message } } }""",
            {
                "input": {
                    "state": "KEN",
                    "title": title,
                    "description": f"{title} (browser test)",
                    "themes": ["JUSTICE"],
                    "visibility": visibility,
                    "estimatedCost": {"amount": "120000", "currency": "USD"},
                }
            },
        )
        assert not data["createNeed"]["userErrors"], data
        return data["createNeed"]["need"]["id"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo(pg_server, template_database) -> AsyncIterator[Demo]:
    """The demo data (`make run`'s) behind a real server, for the module."""
    if chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium): the dashboard's browser tests need it")
    name = await pg_server.clone(template_database.name)
    url = pg_server.url_for(name)
    try:
        await asyncio.to_thread(load_demo_world, url)
        async with running_server(url) as (base, _):
            yield Demo(base=base, database_url=url)
    finally:
        await pg_server.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser(demo) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    try:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        await launched.close()
    finally:
        await playwright.stop()


@dataclass
class Tab:
    """A page in its own browser context that may reach this service only: every request to
    another host is aborted and recorded, and so is every console error (a policy violation
    is one) and every WebSocket."""

    page: Any
    outside: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    graphql_authorization: set[str | None] = field(default_factory=set)

    def assert_stayed_home(self, base: str) -> None:
        assert not self.outside, f"requests left the origin: {self.outside}"
        assert not self.problems, f"the page reported problems: {self.problems}"
        host = urlsplit(base).netloc
        assert self.sockets and all(url == f"ws://{host}/graphql" for url in self.sockets), self.sockets


@pytest_asyncio.fixture(loop_scope="session")
async def tab(browser) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    opened = Tab(page)

    async def only_this_machine(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            opened.outside.append(route.request.url)
            await route.abort()

    def seen(request: Any) -> None:
        if urlsplit(request.url).path == "/graphql" and request.method == "POST":
            opened.graphql_authorization.add(request.headers.get("authorization"))

    await context.route("**/*", only_this_machine)
    page.on("request", seen)
    page.on("websocket", lambda socket: opened.sockets.append(socket.url))
    page.on(
        "console",
        lambda message: opened.problems.append(message.text) if message.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda error: opened.problems.append(str(error)))
    yield opened
    await context.close()


async def sign_in(tab: Tab, demo: Demo, principal: str) -> str:
    key = await demo.key(principal)
    page = tab.page
    await page.goto(f"{demo.base}/dashboard/")
    await page.locator("#api-key").fill(key)
    await page.locator("#login-form button[type=submit]").click()
    await page.locator("#needs-table tbody tr").first.wait_for(timeout=TIMEOUT_MS)
    # The live stream starts from the position the first `dashboard` update names: anything
    # committed from here on reaches the page (replayed if it came before the subscription).
    await page.locator("#events[data-live-from]").wait_for(state="attached", timeout=TIMEOUT_MS)
    return key


async def attribute_becomes(locator: Any, name: str, value: str) -> None:
    from playwright.async_api import expect

    await expect(locator).to_have_attribute(name, value, timeout=TIMEOUT_MS)


async def api_needs(demo: Demo, principal: str, filter: dict[str, Any] | None = None) -> dict[str, Any]:
    data = await demo.gql(
        principal,
        """query($filter: NeedFilter) {
        needs(first: 100, filter: $filter, orderBy: {field: UPDATED_AT, direction: DESC}) { totalCount edges { node { id title visibility } } } }""",
        {"filter": filter},
    )
    return data["needs"]


async def status_counts(tab: Tab) -> dict[str, int]:
    rows = tab.page.locator("#chart-status .row")
    return {await row.get_attribute("data-key"): int(await row.get_attribute("data-value")) for row in await rows.all()}


async def body_text(tab: Tab) -> str:
    return await tab.page.locator("body").inner_text()


# ------------------------------------------------------------------ an agency officer's visit


@pytest.mark.asyncio(loop_scope="session")
async def test_an_agency_signs_in_and_sees_charts_table_matches_and_live_events(demo: Demo, tab: Tab):
    page = tab.page
    key = await sign_in(tab, demo, "agency/UNODC")
    assert await page.locator("#viewer-label").inner_text() == "agency · UNODC · (demo agency/UNODC)"
    # The key is kept for this tab only, and sent as the API's auth header (never in a URL).
    assert await page.evaluate("sessionStorage.getItem('tcgraph.dashboard.apiKey')") == key
    assert await page.evaluate("localStorage.length") == 0
    assert tab.graphql_authorization == {f"Bearer {key}"}
    assert key not in page.url

    # Needs by status: what the API counts for this key.
    visible = await api_needs(demo, "agency/UNODC")
    expected = {s: (await api_needs(demo, "agency/UNODC", {"statuses": [s]}))["totalCount"] for s in STATUSES}
    assert await status_counts(tab) == expected and sum(expected.values()) == visible["totalCount"]
    # Funding gaps by theme and region: one bar per group the API reports.
    gaps = await demo.gql(
        "agency/UNODC", "{ t: fundingGaps(groupBy: THEME) { key } r: fundingGaps(groupBy: REGION) { key } }"
    )
    for chart, answer in (("#chart-theme", gaps["t"]), ("#chart-region", gaps["r"])):
        keys = await page.locator(f"{chart} .row").evaluate_all("rows => rows.map(r => r.dataset.key)")
        assert sorted(keys) == sorted(g["key"] for g in answer) and keys, chart
        assert await page.locator(f"{chart} .row rect.bar.gap").count() == len(answer)

    # The table: every need this key sees, over cursor pages of 20.
    assert await page.locator("#needs").get_attribute("data-total") == str(visible["totalCount"])
    assert visible["totalCount"] > 20
    first_page = await page.locator("#needs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    await page.locator("#page-next").click()
    await page.locator("#page-info", has_text="page 2").wait_for(timeout=TIMEOUT_MS)
    second_page = await page.locator("#needs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert len(first_page) == 20 and first_page + second_page == [e["node"]["id"] for e in visible["edges"]]
    assert await page.locator("#page-next").is_disabled()
    await page.locator("#page-prev").click()
    await page.locator("#page-info", has_text="page 1").wait_for(timeout=TIMEOUT_MS)

    # Filters are the API's NeedFilter.
    filtered = await api_needs(demo, "agency/UNODC", {"statuses": ["SUBMITTED"], "themes": ["JUSTICE"]})
    assert 0 < filtered["totalCount"] < visible["totalCount"]
    await page.locator("#filters input[name=statuses][value=SUBMITTED]").check()
    await page.locator("#filters select[name=themes]").select_option(["JUSTICE"])
    await page.locator("#filters button[type=submit]").click()
    await attribute_becomes(page.locator("#needs"), "data-total", str(filtered["totalCount"]))
    rows = page.locator("#needs-table tbody tr")
    assert (
        await rows.evaluate_all("rows => rows.map(r => r.dataset.id)")
        == [e["node"]["id"] for e in filtered["edges"]][:20]
    )
    assert set(await rows.evaluate_all("rows => rows.map(r => r.dataset.status)")) == {"SUBMITTED"}

    # A need's matches, each with its per-criterion breakdown (opened from the table).
    title = "County court e-filing and case-management roll-out"
    need = next(e["node"] for e in visible["edges"] if e["node"]["title"] == title)
    answer = await demo.gql(
        "agency/UNODC",
        """query($id: ID!) { node(id: $id) { ... on Need {
        matches(first: 10) { totalCount edges { node { id breakdown { criterion } } } } } } }""",
        {"id": need["id"]},
    )
    matches = answer["node"]["matches"]
    assert matches["edges"]
    await page.locator("#filters button[type=reset]").click()
    await attribute_becomes(page.locator("#needs"), "data-total", str(visible["totalCount"]))
    await page.locator("#filters input[name=search]").fill("e-filing")
    await page.locator("#filters button[type=submit]").click()
    await page.locator("#needs-table a.need-link", has_text=title).click()
    await page.locator("#matches li.match").first.wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#need-title").inner_text() == title
    assert await page.locator("#matches li.match").evaluate_all("items => items.map(i => i.dataset.id)") == [
        e["node"]["id"] for e in matches["edges"]
    ]
    criteria = (
        await page.locator("#matches li.match")
        .first.locator("tr[data-criterion]")
        .evaluate_all("rows => rows.map(r => r.dataset.criterion)")
    )
    assert criteria == [c["criterion"] for c in matches["edges"][0]["node"]["breakdown"]] and len(criteria) == 8

    # A need created while the page is open arrives as a live event, and the counts follow.
    drafts = (await status_counts(tab))["DRAFT"]
    created = f"Live roll-out {uuid.uuid4().hex[:8]}"
    need_id = await demo.create_need(created, "PUBLIC")
    event = page.locator("#event-list li.event[data-kind=NEED_CREATED]", has_text=created)
    await event.wait_for(timeout=TIMEOUT_MS)
    assert await event.get_attribute("data-entity") == need_id
    await attribute_becomes(page.locator("#chart-status .row[data-key=DRAFT]"), "data-value", str(drafts + 1))
    assert await page.locator("#live-status").get_attribute("data-state") == "live"

    # The key survives a reload of the tab (deep link to the new need), and signing out forgets it.
    await page.goto(f"{demo.base}/dashboard/#need={quote(need_id)}")
    await attribute_becomes(page.locator("#need-detail"), "data-found", "true")
    assert await page.locator("#need-title").inner_text() == created
    await page.locator("#sign-out").click()
    await page.locator("#login").wait_for(timeout=TIMEOUT_MS)
    assert await page.evaluate("sessionStorage.length") == 0
    assert title not in await body_text(tab) and created not in await body_text(tab)
    tab.assert_stayed_home(demo.base)


# ------------------------------------------------------------------ a donor never sees a PRIVATE need


@pytest.mark.asyncio(loop_scope="session")
async def test_a_donor_never_sees_a_private_need_in_the_table_the_events_or_matches(demo: Demo, tab: Tab):
    page = tab.page
    await sign_in(tab, demo, "donor/Norad")
    private_titles = [n["title"] for n in DEMO["needs"] if n["visibility"] == "PRIVATE"]
    assert private_titles
    everything = await api_needs(demo, "admin")
    donor = await api_needs(demo, "donor/Norad")
    assert donor["totalCount"] < everything["totalCount"]
    assert all(e["node"]["visibility"] != "PRIVATE" for e in donor["edges"])
    # The charts count what the donor may see.
    assert sum((await status_counts(tab)).values()) == donor["totalCount"]
    assert await page.locator("#needs").get_attribute("data-total") == str(donor["totalCount"])

    # Live: a PRIVATE need, then a PUBLIC one; the public one arriving means the private one
    # (earlier in the log) would have arrived before it.
    marker = uuid.uuid4().hex[:8]
    private_title = f"Confidential prison census {marker}"
    public_title = f"Open prison census {marker}"
    private_id = await demo.create_need(private_title, "PRIVATE")
    await demo.create_need(public_title, "PUBLIC")
    await page.locator("#event-list li.event", has_text=public_title).first.wait_for(timeout=TIMEOUT_MS)
    assert await page.locator(f'#event-list li[data-entity="{private_id}"]').count() == 0

    # The table, searched for it.
    await page.locator("#filters input[name=search]").fill(f"census {marker}")
    await page.locator("#filters button[type=submit]").click()
    await attribute_becomes(page.locator("#needs"), "data-total", "1")
    shown = await page.locator("#needs-table tbody").inner_text()
    assert public_title in shown and private_title not in shown

    # Its matches (and a private demo need's), opened by ID: not there.
    private_demo = next(e["node"] for e in everything["edges"] if e["node"]["visibility"] == "PRIVATE")
    for hidden in (private_id, private_demo["id"]):
        await page.evaluate("id => { location.hash = 'need=' + encodeURIComponent(id) }", hidden)
        await attribute_becomes(page.locator("#need-detail"), "data-id", hidden)
        await attribute_becomes(page.locator("#need-detail"), "data-found", "false")
        assert await page.locator("#matches li").count() == 0
        assert await page.locator("#need-message").inner_text() == "This need does not exist or is not visible to you."
    text = await body_text(tab)
    for title in [*private_titles, private_title, private_demo["title"]]:
        assert title not in text, title
    tab.assert_stayed_home(demo.base)


# ------------------------------------------------------------------ what the API sends is shown as text


@pytest.mark.asyncio(loop_scope="session")
async def test_markup_in_a_title_is_shown_as_text(demo: Demo, tab: Tab):
    page = tab.page
    await sign_in(tab, demo, "agency/OHCHR")
    title = f'<img src=x onerror="window.pwned=1"><b>bold</b> & {uuid.uuid4().hex[:6]}'
    need_id = await demo.create_need(title, "PARTNERS")
    await page.locator("#event-list li.event", has_text=title).first.wait_for(timeout=TIMEOUT_MS)
    await page.evaluate("id => { location.hash = 'need=' + encodeURIComponent(id) }", need_id)
    await attribute_becomes(page.locator("#need-detail"), "data-found", "true")
    assert await page.locator("#need-title").inner_text() == title
    assert await page.locator("main img, main b").count() == 0
    assert await page.evaluate("window.pwned") is None
    tab.assert_stayed_home(demo.base)


# ------------------------------------------------------------------ (last: it empties the module's event log)


@pytest.mark.asyncio(loop_scope="session")
async def test_when_the_log_no_longer_holds_the_newest_events_the_page_still_streams(demo: Demo, tab: Tab):
    """The page replays the last positions of the log on opening; pruned (EVENT_RETENTION_DAYS)
    the API refuses that `after`, and the page starts from the current position instead."""
    import asyncpg

    connection = await asyncpg.connect(demo.database_url.replace("+asyncpg", ""))
    try:
        assert int((await connection.execute("DELETE FROM event")).split()[-1]) > 0
    finally:
        await connection.close()
    page = tab.page
    await sign_in(tab, demo, "agency/UNDP")
    created = f"After pruning {uuid.uuid4().hex[:8]}"
    await demo.create_need(created, "PUBLIC")
    await page.locator("#event-list li.event[data-kind=NEED_CREATED]", has_text=created).wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#board-error").is_hidden()
    tab.assert_stayed_home(demo.base)
