"""JWT bearer tokens from an external OpenID Connect issuer (optional, off unless configured).

The issuer, audience and a verification key (a JWKS URL or a PEM public key) come from
settings; claims map to a role and a State or organization. Expired, wrongly signed,
wrong-issuer or wrong-audience tokens are refused with UNAUTHENTICATED.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.keys import ROLE_ALIASES
from service.access.principals import Principal, Role
from service.errors import Unauthenticated
from service.models import Organization
from service.settings import Settings


# Clock skew allowed between the issuer and this service: a token is accepted (and an open
# WebSocket kept) until this long after its `exp`.
LEEWAY_SECONDS = 30


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("tcg_")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


def _verification_key(settings: Settings, token: str) -> Any:
    if settings.jwt_public_key:
        return settings.jwt_public_key
    if settings.jwt_jwks_url:
        try:
            return _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated(f"The token's signing key could not be found: {exc}.") from None
    raise Unauthenticated("This service does not accept JWT bearer tokens; use an API key.")


async def authenticate_jwt(session: AsyncSession, token: str, settings: Settings) -> Principal:
    if not settings.jwt_enabled:
        raise Unauthenticated("This service does not accept JWT bearer tokens; use an API key.")
    key = _verification_key(settings, token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=settings.jwt_algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired.") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("The token is not meant for this service (audience).") from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated("The token comes from an issuer this service does not trust.") from None
    except jwt.PyJWTError:
        raise Unauthenticated("The token is invalid (signature or format).") from None
    role = ROLE_ALIASES.get(str(claims.get(settings.jwt_role_claim, "")).lower())
    if role is None:
        raise Unauthenticated(f"The token's `{settings.jwt_role_claim}` claim names no known role.")
    state = claims.get(settings.jwt_state_claim)
    organization_ref = claims.get(settings.jwt_organization_claim)
    organization_id = None
    if role is Role.STATE_FOCAL_POINT and not state:
        raise Unauthenticated(f"A focal point token needs a `{settings.jwt_state_claim}` claim.")
    if role in (Role.DONOR, Role.AGENCY, Role.NHRI, Role.CIVIL_SOCIETY):
        if organization_ref is None:
            raise Unauthenticated(f"This role needs a `{settings.jwt_organization_claim}` claim.")
        stmt = sa.select(Organization.id).where(
            Organization.iati_identifier == str(organization_ref)
            if not (str(organization_ref).isascii() and str(organization_ref).isdigit())
            else Organization.id == int(organization_ref)
        )
        organization_id = (await session.execute(stmt)).scalar_one_or_none()
        if organization_id is None:
            raise Unauthenticated("The token's organization is not known to this service.")
    return Principal(
        role=role,
        state_iso3=str(state).upper() if role is Role.STATE_FOCAL_POINT else None,
        organization_id=organization_id,
        subject=str(claims["sub"]),
        label=claims.get("name"),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC) + timedelta(seconds=LEEWAY_SECONDS),
    )
