"""The reference dashboard for agencies: static files in `service/static/dashboard/`, served at
/dashboard by the service itself (no CDN, no build step), so it works offline. The page calls
only the public GraphQL API, as the API key its user signs in with.

Every response carries a Content-Security-Policy that lets the page load and connect to this
origin only: the page shows text from the API, and if an escaping mistake ever slipped in, no
injected script or style would run and nothing could be sent elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS = Path(__file__).parent / "static" / "dashboard"
URL = "/dashboard"

# A Host header we are willing to name in the policy: a host name or IPv4 address, or a
# bracketed IPv6 address, with an optional port. Anything else gets `'self'` alone.
_HOST = re.compile(r"\A(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z")


def content_security_policy(host: str | None) -> str:
    """Only this origin: scripts, styles, images and API calls. `'self'` covers ws: and wss:
    to the same host in CSP 3; the WebSocket URLs are named too, for browsers that predate it."""
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'none'",  # the sign-in form is handled in script; never submitted (the key in a URL)
            "frame-ancestors 'none'",
        ]
    )


def security_headers(host: str | None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(host),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        # Revalidated on each visit (ETag): an upgraded service serves its own page's scripts.
        "Cache-Control": "no-cache",
    }


class DashboardFiles(StaticFiles):
    """StaticFiles (index.html for the folder) with the dashboard's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(security_headers(Headers(scope=scope).get("host")))
        return response


def mount_dashboard(app: FastAPI) -> None:
    @app.api_route(URL, methods=["GET", "HEAD"], include_in_schema=False)
    async def dashboard_folder() -> RedirectResponse:
        # The page names its files by absolute paths; the folder URL is the canonical one.
        return RedirectResponse(f"{URL}/", status_code=308)

    app.mount(URL, DashboardFiles(directory=ASSETS, html=True), name="dashboard")
