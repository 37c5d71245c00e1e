"""API keys: created and revoked by administrators; stored only as a SHA-256 hash.

A key looks like `tcg_<id-prefix>_<secret>`; the prefix finds the row, the hash proves it.
Unknown, revoked or expired keys are refused (UNAUTHENTICATED), never treated as anonymous.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.access.policy import Binding, policy_of
from service.access.principals import Principal, Role
from service.errors import Collector, Unauthenticated
from service.models import ApiKey, Organization, State
from service.models.enums import OrganizationCategory

KEY_PREFIX = "tcg_"

ROLE_ALIASES = {
    "administrator": Role.ADMINISTRATOR,
    "admin": Role.ADMINISTRATOR,
    "fund-administrator": Role.FUND_ADMINISTRATOR,
    "state-focal-point": Role.STATE_FOCAL_POINT,
    "donor": Role.DONOR,
    "agency": Role.AGENCY,
    "nhri": Role.NHRI,
    "civil-society": Role.CIVIL_SOCIETY,
}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    key: str  # shown once
    row: ApiKey


async def create_api_key(
    *,
    session: AsyncSession,
    actor: Principal,
    role: Role,
    label: str,
    state_iso3: str | None = None,
    organization_id: int | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    from service.errors import Forbidden

    if not actor.is_admin:
        raise Forbidden("Only administrators manage API keys.")
    errors = Collector()
    if not label.strip():
        errors.add("label", "Give the key a label saying who holds it.", "REQUIRED")
    binding = policy_of(role).binding  # service/access/policy.py
    if not policy_of(role).holds_keys:
        errors.add("role", "An API key cannot be anonymous.", "INVALID")
    if binding is Binding.STATE:
        if not state_iso3:
            errors.add("state", "A State focal point key needs --state ISO3.", "REQUIRED")
        elif not await session.get(State, state_iso3.upper()):
            errors.add("state", f"Unknown State code {state_iso3!r}.", "UNKNOWN_CODE")
        if organization_id is not None:
            errors.add("organization", "A State focal point key is bound to a State, not an organization.", "INVALID")
    elif binding is Binding.ORGANIZATION:
        if organization_id is None:
            errors.add("organization", f"A {role.value.lower()} key needs an organization.", "REQUIRED")
        elif not await session.get(Organization, organization_id):
            errors.add("organization", f"No organization with id {organization_id}.", "NOT_FOUND")
        if state_iso3:
            errors.add("state", "Only State focal point keys are bound to a State.", "INVALID")
    elif state_iso3 or organization_id is not None:
        errors.add(
            "role",
            "Administrator and Fund administrator keys are bound to neither a State nor an organization.",
            "INVALID",
        )
    if expires_at is not None and expires_at <= datetime.now(UTC):
        errors.add("expires", "The expiry date is in the past.", "INVALID")
    errors.raise_if_any()
    secret = secrets.token_urlsafe(32)
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secret}"
    row = ApiKey(
        prefix=prefix,
        secret_hash=_hash(key),
        role=role.value,
        state_iso3=state_iso3.upper() if state_iso3 else None,
        organization_id=organization_id,
        label=label.strip(),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        principal=actor,
        entity_type="ApiKey",
        entity_id=row.id,
        action="create",
        after={"role": row.role, "state": row.state_iso3, "organization_id": row.organization_id, "label": row.label},
    )
    return CreatedKey(key=key, row=row)


async def revoke_api_key(*, session: AsyncSession, actor: Principal, key_id: int) -> ApiKey:
    from service.errors import Forbidden, NotFound

    if not actor.is_admin:
        raise Forbidden("Only administrators manage API keys.")
    row = await session.get(ApiKey, key_id, with_for_update=True)
    if row is None:
        raise NotFound(f"No API key with id {key_id}.")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await audit.record(session, principal=actor, entity_type="ApiKey", entity_id=row.id, action="revoke")
    await session.flush()
    return row


async def list_api_keys(*, session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(sa.select(ApiKey).order_by(ApiKey.id))).scalars().all())


async def authenticate_api_key(session: AsyncSession, key: str) -> Principal:
    """The principal of a key, or UNAUTHENTICATED. Records the last use."""
    refused = Unauthenticated("The API key is unknown, revoked or expired.")
    if not key.startswith(KEY_PREFIX) or key.count("_") < 2:
        raise refused
    prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
    row = (
        await session.execute(sa.select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.secret_hash == _hash(key)))
    ).scalar_one_or_none()
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise refused
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        # Bookkeeping only, at most once a minute per key, so reads stay (nearly) write-free.
        await session.execute(sa.update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=sa.func.now()))
        await session.commit()
    return Principal(
        role=Role(row.role),
        state_iso3=row.state_iso3,
        organization_id=row.organization_id,
        api_key_id=row.id,
        label=row.label,
        expires_at=row.expires_at,
    )


async def live_api_key_ids(session: AsyncSession, key_ids: Collection[int]) -> set[int]:
    """Which of these keys are still accepted (neither revoked nor expired): one lookup by
    primary key, for connections that authenticated once and stay open."""
    if not key_ids:
        return set()
    stmt = sa.select(ApiKey.id).where(
        ApiKey.id.in_(list(key_ids)),
        ApiKey.revoked_at.is_(None),
        sa.or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > sa.func.now()),
    )
    return set((await session.execute(stmt)).scalars())


AGENCY_CATEGORIES = {
    OrganizationCategory.UN_AGENCY,
    OrganizationCategory.UN_FUND,
    OrganizationCategory.REGIONAL_ORGANIZATION,
}
