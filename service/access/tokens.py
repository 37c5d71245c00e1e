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
from service.access.policy import Binding, policy_of
from service.access.principals import Principal
from service.errors import Unauthenticated
from service.models import Organization, State
from service.settings import Settings

# Clock skew allowed between the issuer and this service: a token is accepted (and an open
# WebSocket kept) until this long after its `exp`.
LEEWAY_SECONDS = 30


# Claims are the issuer's text, checked before they reach a query: a NUL or an id past
# bigint would otherwise fail in PostgreSQL (a server error instead of UNAUTHENTICATED).
MAX_CLAIM_LENGTH = 255
MAX_ORGANIZATION_ID = 2**63 - 1


def _claim_text(claims: dict[str, Any], name: str, *, max_length: int) -> str | None:
    """A string claim (numbers as their digits), or None when absent or not usable."""
    value = claims.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return value


async def _organization_of(session: AsyncSession, reference: Any, claim: str) -> int:
    """The organization a claim names: by id (digits) or by IATI identifier."""
    text = _claim_text({claim: reference}, claim, max_length=MAX_CLAIM_LENGTH)
    if text is None:
        raise Unauthenticated(f"The token's `{claim}` claim is malformed.")
    if text.isascii() and text.isdigit():
        if int(text) > MAX_ORGANIZATION_ID:
            raise Unauthenticated("The token's organization is not known to this service.")
        condition = Organization.id == int(text)
    else:
        condition = Organization.iati_identifier == text
    organization_id = (await session.execute(sa.select(Organization.id).where(condition))).scalar_one_or_none()
    if organization_id is None:
        raise Unauthenticated("The token's organization is not known to this service.")
    return organization_id


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
    state = _claim_text(claims, settings.jwt_state_claim, max_length=3)
    organization_ref = claims.get(settings.jwt_organization_claim)
    organization_id = None
    subject = _claim_text(claims, "sub", max_length=MAX_CLAIM_LENGTH)
    if subject is None:
        raise Unauthenticated("The token's `sub` claim is missing or malformed.")
    binding = policy_of(role).binding  # service/access/policy.py
    if not policy_of(role).holds_keys:
        raise Unauthenticated(f"The token's `{settings.jwt_role_claim}` claim names no role a token may carry.")
    if binding is Binding.STATE:
        if not state or not (state.isascii() and state.isalpha() and len(state) == 3):
            raise Unauthenticated(
                f"A focal point token needs a `{settings.jwt_state_claim}` claim: an ISO 3166-1 alpha-3 code."
            )
        state = state.upper()
        if (await session.execute(sa.select(State.iso3).where(State.iso3 == state))).scalar_one_or_none() is None:
            raise Unauthenticated(
                f"The token's `{settings.jwt_state_claim}` claim names no State known to this service."
            )
    if binding is Binding.ORGANIZATION:
        if organization_ref is None:
            raise Unauthenticated(f"This role needs a `{settings.jwt_organization_claim}` claim.")
        organization_id = await _organization_of(session, organization_ref, settings.jwt_organization_claim)
    return Principal(
        role=role,
        state_iso3=state if binding is Binding.STATE else None,
        organization_id=organization_id,
        subject=subject,
        label=_claim_text(claims, "name", max_length=MAX_CLAIM_LENGTH),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC) + timedelta(seconds=LEEWAY_SECONDS),
    )
