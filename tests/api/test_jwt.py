"""Optional OpenID Connect JWT bearer tokens: valid ones map to principals, bad ones are refused."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import gql

pytestmark = pytest.mark.asyncio

ISSUER = "https://login.example.org/realms/un"
AUDIENCE = "tcgraph"


def _keypair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public_pem


PRIVATE, PUBLIC_PEM = _keypair()
OTHER_PRIVATE, _ = _keypair()


@pytest.fixture
def app_settings():
    from service.settings import Settings

    return Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_public_key=PUBLIC_PEM)


def token(key=PRIVATE, **overrides) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "focal-ken-1",
        "exp": int(time.time()) + 300,
        "tcgraph_role": "state-focal-point",
        "tcgraph_state": "KEN",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256")


async def test_a_valid_token_is_a_principal(app_client):
    body = await gql(app_client, "{ viewer { role state { code } } }", token=token())
    assert body["data"]["viewer"] == {"role": "STATE_FOCAL_POINT", "state": {"code": "KEN"}}


@pytest.mark.parametrize(
    "bad",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "someone-else"},
        {"iss": "https://evil.example.org"},
        {"key": OTHER_PRIVATE},
        {"tcgraph_role": "emperor"},
        {"sub": None},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "wrong-signature", "unknown-role", "no-subject"],
)
async def test_bad_tokens_are_refused(app_client, bad):
    bad = dict(bad)
    key = bad.pop("key", PRIVATE)
    response = await app_client.post(
        "/graphql", json={"query": "{ viewer { role } }"}, headers={"Authorization": f"Bearer {token(key, **bad)}"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "claims",
    [
        {"tcgraph_role": "donor", "tcgraph_organization": "9" * 19},  # past bigint
        {"tcgraph_role": "donor", "tcgraph_organization": "XM-DAC\x00-41114"},
        {"tcgraph_role": "donor", "tcgraph_organization": "x" * 5000},
        {"tcgraph_role": "donor", "tcgraph_organization": {"id": 1}},
        {"tcgraph_role": "donor", "tcgraph_organization": 10**30},
        {"tcgraph_state": "KE\x00"},
        {"tcgraph_state": ["KEN"]},
        {"tcgraph_state": "Kenya, Republic of"},
        {"sub": "a\x00b"},
    ],
    ids=[
        "org-past-bigint",
        "org-nul",
        "org-long",
        "org-object",
        "org-huge-number",
        "state-nul",
        "state-list",
        "state-name",
        "sub-nul",
    ],
)
async def test_malformed_claims_are_unauthenticated_not_a_server_error(app_client, claims):
    response = await app_client.post(
        "/graphql", json={"query": "{ viewer { role } }"}, headers={"Authorization": f"Bearer {token(**claims)}"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
