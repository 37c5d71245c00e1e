"""Who am I (`viewer`), API keys and the audit trail (administrators)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graphql_schema.common import OrderDirection, UserError, descending, user_errors
from graphql_schema.limits import bucket_key, bucket_size
from graphql_schema.relay import (
    AFTER,
    BEFORE,
    FIRST,
    LAST,
    Connection,
    Node,
    connection,
    expect_int_id,
    page_args,
    parse_global_id,
    to_global_id,
)
from graphql_schema.states import State, load_state
from service import audit as audit_service
from service.access import keys as keys_service
from service.access import rate_limit
from service.access.principals import Role as DomainRole
from service.errors import Forbidden, Unauthenticated, ValidationFailed
from service.models import ApiKey as ApiKeyRow
from service.models import AuditEvent as AuditEventRow
from service.settings import get_settings

if TYPE_CHECKING:
    from graphql_schema.offers import Organization

Role = strawberry.enum(DomainRole, name="Role", description="What a principal is allowed to do.")


@strawberry.type(description="The caller's rate limit: a leaky bucket of query cost points.")
class RateLimit:
    limit: float = strawberry.field(description="Points the bucket holds when full.")
    remaining: float = strawberry.field(description="Points available now.")
    restore_rate: float = strawberry.field(description="Points restored per second.")
    reset_at: dt.datetime = strawberry.field(description="When the bucket will be full again (UTC).")


@strawberry.type(description="Who the caller is, as the API sees it.")
class Viewer:
    role: Role = strawberry.field(description="The caller's role; ANONYMOUS without credentials.")  # type: ignore[valid-type]
    label: str | None = strawberry.field(description="Label of the API key in use.")
    state_code: strawberry.Private[str | None]
    organization_key: strawberry.Private[int | None]

    @strawberry.field(description="The State a focal point acts for.")
    async def state(self, info: Info) -> State | None:
        return await load_state(info, self.state_code)

    @strawberry.field(description="Global ID of the organization a donor, agency, NHRI or civil society key acts for.")
    def organization_id(self) -> strawberry.ID | None:
        return strawberry.ID(to_global_id("Organization", self.organization_key)) if self.organization_key else None

    @strawberry.field(description="The organization a donor, agency, NHRI or civil society key acts for.")
    async def organization(
        self, info: Info
    ) -> Annotated["Organization", strawberry.lazy("graphql_schema.offers")] | None:
        if self.organization_key is None:
            return None
        from graphql_schema.offers import load_organization

        return await load_organization(info, self.organization_key)

    @strawberry.field(description="The caller's rate limit, after this query's cost was charged.")
    async def rate_limit(self, info: Info) -> RateLimit:
        ctx = info.context
        throttle = ctx.throttle
        if throttle is None:
            settings = get_settings()
            capacity, rate = bucket_size(settings, ctx)
            async with ctx.read_session() as session:
                throttle = await rate_limit.peek(session, key=bucket_key(ctx), capacity=capacity, restore_rate=rate)
        now = dt.datetime.now(dt.UTC)
        return RateLimit(
            limit=throttle.capacity,
            remaining=round(throttle.available, 1),
            restore_rate=throttle.restore_rate,
            reset_at=now + dt.timedelta(seconds=throttle.reset_seconds),
        )


def viewer(info: Info) -> Viewer:
    p = info.context.principal
    return Viewer(role=p.role, label=p.label, state_code=p.state_iso3, organization_key=p.organization_id)


# -- API keys ----------------------------------------------------------------------------------


@strawberry.type(description="An API key (its secret is shown only once, when created).")
class ApiKey(Node):
    row: strawberry.Private[ApiKeyRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("ApiKey", self.row.id))

    @strawberry.field(description="Numeric key id, as `tcgraph apikey revoke` takes it.")
    def key_id(self) -> int:
        return self.row.id

    @strawberry.field(description="The role the key grants.")
    def role(self) -> Role:  # type: ignore[valid-type]
        return DomainRole(self.row.role)

    @strawberry.field(description="Who holds the key.")
    def label(self) -> str:
        return self.row.label

    @strawberry.field(description="ISO3 code of the State a focal point key is bound to.")
    def state_code(self) -> str | None:
        return self.row.state_iso3

    @strawberry.field(description="Global ID of the organization the key is bound to.")
    def organization_id(self) -> strawberry.ID | None:
        return (
            strawberry.ID(to_global_id("Organization", self.row.organization_id)) if self.row.organization_id else None
        )

    @strawberry.field(description="When it was created.")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it expires, if ever.")
    def expires_at(self) -> dt.datetime | None:
        return self.row.expires_at

    @strawberry.field(description="When it was revoked, if it was.")
    def revoked_at(self) -> dt.datetime | None:
        return self.row.revoked_at

    @strawberry.field(description="When it was last used (to the minute).")
    def last_used_at(self) -> dt.datetime | None:
        return self.row.last_used_at


@strawberry.input(description="A new API key.")
class CreateApiKeyInput:
    role: Role = strawberry.field(description="The role it grants (not ANONYMOUS).")  # type: ignore[valid-type]
    label: str = strawberry.field(description="Who holds it.")
    state: str | None = strawberry.field(default=None, description="ISO3 code, for STATE_FOCAL_POINT keys.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Organization ID, for DONOR, AGENCY, NHRI and CIVIL_SOCIETY keys."
    )
    expires_at: dt.datetime | None = strawberry.field(default=None, description="Expiry (UTC); never when null.")


@strawberry.type(description="A created API key: the secret `key` is shown this once only.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key's record.")
    key: str | None = strawberry.field(description="The secret to send as `Authorization: Bearer <key>`.")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="Revoke an API key.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="Global ID of the key.")


@strawberry.type(description="The revoked key.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key, now revoked.")
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


def _require_admin(info: Info) -> None:
    principal = info.context.principal
    if principal.is_anonymous:
        raise Unauthenticated("Sign in with an administrator key.")
    if not principal.is_admin:
        raise Forbidden("Only administrators manage API keys.")


async def create_api_key(info: Info, data: CreateApiKeyInput) -> CreateApiKeyPayload:
    _require_admin(info)
    organization_id = (
        expect_int_id(data.organization_id, "Organization", argument="input.organizationId")
        if data.organization_id
        else None
    )
    try:
        async with info.context.write_session() as session:
            created = await keys_service.create_api_key(
                session=session,
                actor=info.context.principal,
                role=data.role,
                label=data.label,
                state_iso3=data.state,
                organization_id=organization_id,
                expires_at=data.expires_at,
            )
    except ValidationFailed as failure:
        return CreateApiKeyPayload(api_key=None, key=None, user_errors=user_errors(failure))
    return CreateApiKeyPayload(api_key=ApiKey(row=created.row), key=created.key, user_errors=[])


async def revoke_api_key(info: Info, data: RevokeApiKeyInput) -> RevokeApiKeyPayload:
    _require_admin(info)
    key_id = expect_int_id(data.id, "ApiKey", argument="input.id")
    async with info.context.write_session() as session:
        row = await keys_service.revoke_api_key(session=session, actor=info.context.principal, key_id=key_id)
    return RevokeApiKeyPayload(api_key=ApiKey(row=row), user_errors=[])


async def list_api_keys(info: Info) -> list[ApiKey]:
    _require_admin(info)
    async with info.context.read_session() as session:
        return [ApiKey(row=r) for r in await keys_service.list_api_keys(session=session)]


# -- audit trail -----------------------------------------------------------------------------


@strawberry.type(description="One change: who, when, what (entity, action, before and after). Append-only.")
class AuditEvent(Node):
    row: strawberry.Private[AuditEventRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("AuditEvent", self.row.id))

    @strawberry.field(description="When it happened (UTC; the transaction's time).")
    def occurred_at(self) -> dt.datetime:
        return self.row.occurred_at

    @strawberry.field(description="Who: api-key:N, token:SUBJECT, or system.")
    def actor(self) -> str:
        return self.row.actor

    @strawberry.field(description="The actor's role.")
    def actor_role(self) -> str:
        return self.row.actor_role

    @strawberry.field(description="Kind of entity changed, e.g. Need.")
    def entity_type(self) -> str:
        return self.row.entity_type

    @strawberry.field(description="Global ID of the entity changed.")
    def entity_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id(self.row.entity_type, self.row.entity_id))

    @strawberry.field(description="What was done, e.g. create, update, status:SUBMITTED.")
    def action(self) -> str:
        return self.row.action

    @strawberry.field(description="The entity before the change (JSON), when it existed.")
    def before(self) -> JSON | None:
        return self.row.before

    @strawberry.field(description="The entity after the change (JSON).")
    def after(self) -> JSON | None:
        return self.row.after

    @strawberry.field(description="Why, when the actor said.")
    def reason(self) -> str | None:
        return self.row.reason


@strawberry.input(description="Filter of the audit trail.")
class AuditEventFilter:
    entity_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Global IDs of entities.")
    entity_types: list[str] | None = strawberry.field(
        default=None, description="Entity types, e.g. Need, Programme, ApiKey."
    )
    actors: list[str] | None = strawberry.field(default=None, description="Actors, e.g. api-key:3.")
    actions: list[str] | None = strawberry.field(
        default=None, description="Actions, e.g. create, update, status:SUBMITTED."
    )
    since: dt.datetime | None = strawberry.field(default=None, description="At or after this time.")
    until: dt.datetime | None = strawberry.field(default=None, description="Before this time.")

    def to_domain(self) -> audit_service.AuditFilter:
        entity_ids = None
        entity_types = self.entity_types
        if self.entity_ids is not None:
            parsed = [parse_global_id(i, argument="filter.entityIds") for i in self.entity_ids]
            entity_ids = [key for _, key in parsed]
            entity_types = list({t for t, _ in parsed} | set(entity_types or []))
        return audit_service.AuditFilter(
            entity_types=entity_types,
            entity_ids=entity_ids,
            actors=self.actors,
            actions=self.actions,
            since=self.since,
            until=self.until,
        )


async def list_audit_events(
    info: Info, filter: AuditEventFilter | None, direction: OrderDirection | None, args
) -> Connection[AuditEvent]:
    ctx = info.context
    domain_filter = filter.to_domain() if filter else None
    desc = descending(direction)
    async with ctx.read_session() as session:
        page = await audit_service.list_audit_events(
            session=session, principal=ctx.principal, audit_filter=domain_filter, descending=desc, page=args
        )

    async def counter() -> int:
        async with ctx.read_session() as session:
            return await audit_service.count_audit_events(
                session=session, principal=ctx.principal, audit_filter=domain_filter
            )

    return connection(page, lambda r: AuditEvent(row=r), counter)


@strawberry.type(description="Identity, keys and audit trail.")
class AdminQuery:
    @strawberry.field(description="Who you are: role, State or organization, and your rate limit.")
    def viewer(self, info: Info) -> Viewer:
        return viewer(info)

    @strawberry.field(description="All API keys (administrators only).")
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return await list_api_keys(info)

    @strawberry.field(description="The audit trail of every change, newest first by default (administrators only).")
    async def audit_events(
        self,
        info: Info,
        filter: AuditEventFilter | None = None,
        direction: Annotated[
            OrderDirection | None, strawberry.argument(description="DESC (newest first, default) or ASC.")
        ] = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[AuditEvent]:
        return await list_audit_events(info, filter, direction, page_args(first, after, last, before))


@strawberry.type(description="API key management.")
class AdminMutation:
    @strawberry.mutation(description="Create an API key (administrators only). The secret is returned once.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        return await create_api_key(info, input)

    @strawberry.mutation(description="Revoke an API key (administrators only); it is refused from then on.")
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        return await revoke_api_key(info, input)
