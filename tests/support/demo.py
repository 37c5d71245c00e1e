"""The demo world `make run` serves: demo data, match suggestions and API keys made through the
same CLI code paths (`tcgraph load-demo`, `tcgraph rematch`, `tcgraph apikey create`).

The functions are synchronous (the CLI's own `asyncio.run`): from async code, call them through
`asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio

from service import cli


def load_demo_world(database_url: str) -> None:
    """On a migrated database with the reference data: what `tcgraph up` does before serving."""
    cli._load_demo(database_url)
    cli._rematch(database_url)


def create_key(database_url: str, principal: str) -> str:
    """An API key for `principal`: `admin`, `ROLE/ISO3` for a State focal point, `ROLE/ORG` for
    an organization (ORG as `tcgraph apikey create --organization` takes it: id, IATI
    identifier, acronym or name)."""
    from service.access.keys import ROLE_ALIASES, create_api_key
    from service.access.principals import SYSTEM, Role

    role_name, _, bound = principal.partition("/")
    role = ROLE_ALIASES[role_name]

    async def work(session):
        organization_id = None
        if bound and role is not Role.STATE_FOCAL_POINT:
            organization_id = await cli._organization_id(session, bound)
        created = await create_api_key(
            session=session,
            actor=SYSTEM,
            role=role,
            label=f"demo {principal}",
            state_iso3=bound if role is Role.STATE_FOCAL_POINT else None,
            organization_id=organization_id,
        )
        return created.key

    return asyncio.run(cli._with_session(database_url, work))
