"""Settings from environment variables and `.env` (pydantic-settings)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… ; unset means the checkout's embedded PostgreSQL.",
    )
    database_read_url: str | None = Field(
        default=None,
        description="A streaming replica for read-only HTTP operations (postgresql+asyncpg://…); the caller's "
        "own writes are awaited on it (read-your-writes). Unset: everything on DATABASE_URL.",
    )
    replica_max_wait_seconds: float = Field(
        default=1.0,
        description="How long a read waits for the replica to replay the caller's last write before it reads "
        "from the primary instead.",
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / ".data",
        description="Where the embedded PostgreSQL keeps its cluster (git-ignored).",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    profile: str = Field(default="development", description="development | production")
    graphiql: bool | None = Field(default=None, description="Defaults to on outside production.")
    introspection: bool | None = Field(default=None, description="Defaults to on outside production.")
    dashboard: bool = Field(
        default=True,
        description="Serve the reference dashboard at /dashboard (static files; it calls only the public API).",
    )
    cors_origins: list[str] = Field(default_factory=list)
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated IPs or CIDR networks of the reverse proxies whose X-Forwarded-For (and "
        "-Proto) is believed, or `*` for any peer; none by default (the peer's own address is the client's).",
    )
    db_pool_size: int = Field(
        default=20, description="Pooled connections per process; an HTTP request holds one while it runs."
    )
    db_max_overflow: int = 10
    log_level: str = "info"
    log_format: str = Field(default="json", description="json (one object per line, with the request ID) | text")

    # Operations (README: Operations).
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token /metrics asks for; unset, /metrics is open outside production and refused (403) in production.",
    )
    metrics_max_operation_names: int = Field(
        default=100, description="Operation names used as metric labels per process; further names count as `other`."
    )

    # API limits (GitHub's and Shopify's APIs are the bar).
    max_query_depth: int = 12
    max_aliases: int = 50
    max_tokens: int = 5000
    max_query_cost: int = 25_000
    max_request_body_bytes: int = Field(
        default=1_048_576, description="Larger request bodies are refused with 413 before being read."
    )
    rate_limit_capacity: float = Field(default=50_000, description="Cost points a principal may spend in a burst.")
    rate_limit_restore_rate: float = Field(default=500, description="Cost points restored per second.")
    anonymous_rate_limit_capacity: float = 10_000
    anonymous_rate_limit_restore_rate: float = 100
    automatic_persisted_queries: bool = Field(
        default=True,
        description="Apollo's automatic persisted queries: clients may send a stored document's SHA-256 instead of its text.",
    )
    persisted_queries_only: bool = Field(
        default=False, description="Run registered documents only (`tcgraph operations register`), by hash or by text."
    )
    compiled_reads: bool = Field(
        default=True,
        description="Answer compilable query fields (needs, node/nodes, state …) with one SQL statement that builds the JSON; false runs every field on the resolvers.",
    )
    ready_reads: bool = Field(
        default=True,
        description="Answer a compiled query asked again (same document, variables and kind of caller) before the GraphQL pipeline (graphql_schema/ready.py).",
    )
    ready_reads_pool_size: int = Field(
        default=10,
        description="Connections per process for ready reads (service/db/driver.py), beside DB_POOL_SIZE; opened as needed.",
    )
    import_dir: Path | None = Field(
        default=None, description="Folder whose files administrators may import through the API (off when unset)."
    )

    # Live updates.
    event_retention_days: float = Field(
        default=30, description="Events older than this are pruned (the audit trail never is)."
    )
    max_subscriptions_per_connection: int = 20
    ws_connection_init_timeout_seconds: float = 10
    ws_ping_interval_seconds: float = 20
    ws_credential_check_seconds: float = Field(
        default=30,
        description="How often open WebSockets' API keys are checked; a revoked or expired one closes its connection (4403).",
    )
    subscriber_queue_size: int = Field(
        default=1000, description="Events queued per subscriber before it is closed as too slow."
    )
    slow_consumer_cutoff_seconds: float = Field(
        default=10,
        description="A subscriber closed as too slow that is still stuck sending after this long has its connection reset.",
    )

    # Optional OpenID Connect JWT bearer tokens (besides API keys).
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    jwt_public_key: str | None = Field(default=None, description="PEM public key, instead of a JWKS URL.")
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    jwt_role_claim: str = "tcgraph_role"
    jwt_state_claim: str = "tcgraph_state"
    jwt_organization_claim: str = "tcgraph_organization"

    field_suggestions: bool | None = Field(default=None, description="'Did you mean …' hints; off in production.")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or CIDR network") from None
        return value

    @property
    def trusted_proxies(self) -> list[str]:
        return [e.strip() for e in self.forwarded_allow_ips.split(",") if e.strip()]

    @property
    def is_production(self) -> bool:
        return self.profile == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwt_issuer and self.jwt_audience and (self.jwt_jwks_url or self.jwt_public_key))

    @property
    def field_suggestions_enabled(self) -> bool:
        return self.field_suggestions if self.field_suggestions is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production


@lru_cache
def get_settings() -> Settings:
    return Settings()
