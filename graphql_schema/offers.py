"""Programmes, capabilities and organizations: what donors and agencies offer.

Resolvers call `service.programmes`, `service.capabilities` and `service.organizations`;
every relation goes through a request DataLoader, so a page of programmes with their
organizations, participants and recipient States costs a constant number of statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from graphql_schema import nodes
from graphql_schema.common import (
    Modality,
    Money,
    MoneyInput,
    OrderDirection,
    OrganizationCategory,
    UserError,
    descending,
    money,
    user_errors,
)
from graphql_schema.needs import filter_key
from graphql_schema.reference import CodelistEntry, load_iati_code
from graphql_schema.relay import (
    AFTER,
    BEFORE,
    FIRST,
    LAST,
    Connection,
    Node,
    PageInfo,
    connection,
    expect_int_id,
    page_args,
    to_global_id,
)
from graphql_schema.states import State, load_state
from service import capabilities as capabilities_service
from service import organizations as organizations_service
from service import programmes as programmes_service
from service import states as states_service
from service.errors import ValidationFailed
from service.models import Capability as CapabilityRow
from service.models import Organization as OrganizationRow
from service.models import Programme as ProgrammeRow
from service.models.enums import ParticipantRole as DomainParticipantRole
from service.pagination import Page

if TYPE_CHECKING:  # strawberry.lazy names, resolved at schema build time
    from graphql_schema.matching import Match, MatchStatus


# -- enums -----------------------------------------------------------------------------------


@strawberry.enum(description="Role of an organization in a programme (IATI OrganisationRole codelist).")
class ParticipantRole(Enum):
    FUNDING = strawberry.enum_value("1", description="Funding (IATI code 1): provides the funds.")
    ACCOUNTABLE = strawberry.enum_value(
        "2", description="Accountable (IATI code 2): oversees the activity and its outcomes."
    )
    EXTENDING = strawberry.enum_value(
        "3", description="Extending (IATI code 3): manages the budget and direction on behalf of the funder."
    )
    IMPLEMENTING = strawberry.enum_value(
        "4", description="Implementing (IATI code 4): physically carries out the activity."
    )


@strawberry.enum(description="Fields programmes can be ordered by.")
class ProgrammeOrderField(Enum):
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="When it was recorded.")
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description="When it last changed.")
    TITLE = strawberry.enum_value("TITLE", description="Title.")
    START_DATE = strawberry.enum_value(
        "START_DATE", description="Start date (unknown dates first ascending, last descending)."
    )
    BUDGET = strawberry.enum_value(
        "BUDGET", description="Budget in USD through the currency rate table (unknown budgets last descending)."
    )
    RELEVANCE = strawberry.enum_value("RELEVANCE", description="Full-text rank of the filter's `search` (needs one).")


@strawberry.enum(description="Fields capabilities can be ordered by.")
class CapabilityOrderField(Enum):
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="When it was recorded.")
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description="When it last changed.")
    TITLE = strawberry.enum_value("TITLE", description="Title.")
    RELEVANCE = strawberry.enum_value("RELEVANCE", description="Full-text rank of the filter's `search` (needs one).")


@strawberry.enum(description="Fields organizations can be ordered by.")
class OrganizationOrderField(Enum):
    NAME = strawberry.enum_value("NAME", description="Name.")
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="When it was recorded.")


# -- filters and orders ----------------------------------------------------------------------


def _organization_ids(ids: list[strawberry.ID] | None, argument: str) -> list[int] | None:
    if ids is None:
        return None
    return [expect_int_id(i, "Organization", argument=argument) for i in ids]


@strawberry.input(description="Order of a programmes list; the ID breaks ties so pages are stable.")
class ProgrammeOrder:
    field: ProgrammeOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")

    def to_domain(self) -> programmes_service.ProgrammeOrder:
        return programmes_service.ProgrammeOrder(
            programmes_service.ProgrammeOrderField(self.field.value), descending(self.direction)
        )


@strawberry.input(description="Filter of a programmes list. Lists mean any of; several fields mean all of.")
class ProgrammeFilter:
    organizations: list[strawberry.ID] | None = strawberry.field(
        default=None, description="IDs of organizations reporting or participating in the programme (any role)."
    )
    recipient_states: list[str] | None = strawberry.field(
        default=None, description="ISO 3166 alpha-3 codes of recipient States; global programmes match every State."
    )
    sectors: list[str] | None = strawberry.field(
        default=None, description="DAC 5-digit sector codes, or 3-digit categories (151 matches 15130, 15160, …)."
    )
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes, e.g. JUSTICE.")
    sdgs: list[str] | None = strawberry.field(default=None, description='SDG goals ("16") or targets ("16.3").')
    open_to_requests: bool | None = strawberry.field(
        default=None, description="Only programmes open (true) or closed (false) to new requests."
    )
    active_on: dt.date | None = strawberry.field(
        default=None, description="Only programmes running on this date (a missing start or end date counts as open)."
    )
    activity_statuses: list[str] | None = strawberry.field(
        default=None,
        description="IATI ActivityStatus codes, e.g. 2 (implementation); see `codelist(name: ACTIVITY_STATUS)`.",
    )
    search: str | None = strawberry.field(
        default=None,
        description='Full-text search over title and description (web-search syntax: words, "phrases", OR, -word).',
    )
    updated_since: dt.datetime | None = strawberry.field(
        default=None, description="Only programmes changed at or after this time (UTC)."
    )

    def to_domain(self) -> programmes_service.ProgrammeFilter:
        return programmes_service.ProgrammeFilter(
            organizations=_organization_ids(self.organizations, "filter.organizations"),
            recipient_states=self.recipient_states,
            sectors=self.sectors,
            themes=self.themes,
            sdgs=self.sdgs,
            open_to_requests=self.open_to_requests,
            active_on=self.active_on,
            activity_statuses=self.activity_statuses,
            search=self.search,
            updated_since=self.updated_since,
        )


@strawberry.input(description="Order of a capabilities list; the ID breaks ties so pages are stable.")
class CapabilityOrder:
    field: CapabilityOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")

    def to_domain(self) -> capabilities_service.CapabilityOrder:
        return capabilities_service.CapabilityOrder(
            capabilities_service.CapabilityOrderField(self.field.value), descending(self.direction)
        )


@strawberry.input(description="Filter of a capabilities list. Lists mean any of; several fields mean all of.")
class CapabilityFilter:
    organizations: list[strawberry.ID] | None = strawberry.field(
        default=None, description="IDs of the organizations offering them."
    )
    themes: list[str] | None = strawberry.field(default=None, description="Theme codes.")
    sectors: list[str] | None = strawberry.field(
        default=None, description="DAC 5-digit sector codes, or 3-digit categories."
    )
    modalities: list[Modality] | None = strawberry.field(default=None, description="Delivery modalities.")
    regions_served: list[str] | None = strawberry.field(
        default=None,
        description="UN M49 region codes; matches capabilities serving the world (001), these regions, or regions overlapping them.",
    )
    search: str | None = strawberry.field(
        default=None, description="Full-text search over title and description (web-search syntax)."
    )
    updated_since: dt.datetime | None = strawberry.field(
        default=None, description="Only capabilities changed at or after this time (UTC)."
    )

    def to_domain(self) -> capabilities_service.CapabilityFilter:
        return capabilities_service.CapabilityFilter(
            organizations=_organization_ids(self.organizations, "filter.organizations"),
            themes=self.themes,
            sectors=self.sectors,
            modalities=self.modalities,
            regions_served=self.regions_served,
            search=self.search,
            updated_since=self.updated_since,
        )


@strawberry.input(description="Order of an organizations list; the ID breaks ties so pages are stable.")
class OrganizationOrder:
    field: OrganizationOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="ASC or DESC.")

    def to_domain(self) -> organizations_service.OrganizationOrder:
        return organizations_service.OrganizationOrder(
            organizations_service.OrganizationOrderField(self.field.value), descending(self.direction, False)
        )


@strawberry.input(description="Filter of an organizations list. Lists mean any of; several fields mean all of.")
class OrganizationFilter:
    categories: list[OrganizationCategory] | None = strawberry.field(default=None, description="Kinds of organization.")
    states: list[str] | None = strawberry.field(
        default=None, description="ISO 3166 alpha-3 codes of the States organizations are linked to."
    )
    search: str | None = strawberry.field(default=None, description="Part of the name or acronym (case-insensitive).")

    def to_domain(self) -> organizations_service.OrganizationFilter:
        return organizations_service.OrganizationFilter(
            categories=self.categories, states=self.states, search=self.search
        )


def _order(order: Any) -> Any:
    return order.to_domain() if order is not None else None


# -- types -----------------------------------------------------------------------------------


@strawberry.type(
    description="A donor government agency, UN agency or fund, regional organization, NHRI, civil society organization or private donor."
)
class Organization(Node):
    row: strawberry.Private[OrganizationRow]

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Organization", self.row.id))

    @strawberry.field(description="Full name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Acronym, e.g. UNODC.")
    def acronym(self) -> str | None:
        return self.row.acronym

    @strawberry.field(description="What kind of organization this is.")
    def category(self) -> OrganizationCategory:
        return self.row.category

    @strawberry.field(description="Type from the IATI OrganisationType codelist (10 Government, 40 Multilateral, …).")
    async def organization_type(self, info: Info) -> CodelistEntry | None:
        return await load_iati_code(info, "OrganisationType", self.row.organisation_type)

    @strawberry.field(description="IATI organisation identifier, e.g. XM-DAC-41128, where one exists.")
    def iati_identifier(self) -> str | None:
        return self.row.iati_identifier

    @strawberry.field(description="The State the organization belongs to (a donor government, an NHRI …), if any.")
    async def state(self, info: Info) -> State | None:
        return await load_state(info, self.row.state_iso3)

    @strawberry.field(description="Programmes this organization reports or participates in (any role).")
    async def programmes(
        self,
        info: Info,
        filter: ProgrammeFilter | None = None,
        order_by: ProgrammeOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Programme]:
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        domain_order = _order(order_by)
        ctx = info.context

        async def batch(session, ids):
            return await programmes_service.programmes_per_organization(
                session=session, organization_ids=ids, programme_filter=domain_filter, order=domain_order, page=args
            )

        async def count_batch(session, ids):
            return await programmes_service.count_programmes_per_organization(
                session=session, organization_ids=ids, programme_filter=domain_filter
            )

        page = await ctx.loader(
            "organization.programmes", batch, args=(args, filter_key(filter), filter_key(order_by))
        ).load(self.row.id)
        count_loader = ctx.loader("organization.programmes.count", count_batch, args=filter_key(filter), default=0)
        return connection(page, wrap_programme, lambda: count_loader.load(self.row.id))

    @strawberry.field(description="What this organization can offer without a funded programme yet.")
    async def capabilities(
        self,
        info: Info,
        filter: CapabilityFilter | None = None,
        order_by: CapabilityOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Capability]:
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        domain_order = _order(order_by)
        ctx = info.context

        async def batch(session, ids):
            return await capabilities_service.capabilities_per_organization(
                session=session, organization_ids=ids, capability_filter=domain_filter, order=domain_order, page=args
            )

        async def count_batch(session, ids):
            return await capabilities_service.count_capabilities_per_organization(
                session=session, organization_ids=ids, capability_filter=domain_filter
            )

        page = await ctx.loader(
            "organization.capabilities", batch, args=(args, filter_key(filter), filter_key(order_by))
        ).load(self.row.id)
        count_loader = ctx.loader("organization.capabilities.count", count_batch, args=filter_key(filter), default=0)
        return connection(page, wrap_capability, lambda: count_loader.load(self.row.id))

    @strawberry.field(description="When it was recorded (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at


@strawberry.type(description="An organization taking part in a programme, with its IATI role.")
class ProgrammeParticipant:
    role: ParticipantRole = strawberry.field(description="Its role in the programme.")
    code: str = strawberry.field(
        description="The role's IATI OrganisationRole code (1 Funding, 2 Accountable, 3 Extending, 4 Implementing)."
    )
    organization_id: strawberry.Private[int]
    confirmed: bool = strawberry.field(
        description=(
            "Whether the link is confirmed: only the reporting organization itself is. Other organizations "
            "are listed on the reporting organization's word (as IATI data does) and have not confirmed it."
        )
    )

    @strawberry.field(description="The participating organization.")
    async def organization(self, info: Info) -> Organization:
        organization = await load_organization(info, self.organization_id)
        assert organization is not None
        return organization


@strawberry.type(description="A recipient State of a programme, with its cursor and share.")
class RecipientStateEdge:
    cursor: str = strawberry.field(description="Opaque cursor to pass as `after` or `before`.")
    node: State = strawberry.field(description="The recipient State.")
    percentage: Decimal | None = strawberry.field(
        description="Share of the programme for this State, in percent (0–100), when reported."
    )


@strawberry.type(description="A page of a programme's recipient States, ordered by English name.")
class RecipientStateConnection:
    edges: list[RecipientStateEdge] = strawberry.field(
        description="The recipient States of this page with their cursors and shares."
    )
    page_info: PageInfo = strawberry.field(description="Pagination state of this page.")
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of recipient States of the programme (all pages).")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(description="A text in one language.")
class LocalizedText:
    language: str = strawberry.field(description="ISO 639-1 language code.")
    text: str = strawberry.field(description="The text.")


@strawberry.type(description="A related IATI activity, by reference.")
class RelatedActivity:
    ref: str = strawberry.field(description="Its IATI identifier.")
    type: str = strawberry.field(
        description="IATI RelatedActivityType code (1 parent, 2 child, 3 sibling, 4 co-funded, 5 third party)."
    )


@strawberry.type(description="A recipient region with its share.")
class RecipientRegion:
    vocabulary: str = strawberry.field(description="IATI RegionVocabulary: 1 OECD DAC, 2 UN M49.")
    code: str = strawberry.field(description="Region code, e.g. 789.")
    percentage: Decimal | None = strawberry.field(description="Share of the programme, when given.")


@strawberry.type(description="An IATI budget line.")
class BudgetLine:
    type: str | None = strawberry.field(description="IATI BudgetType: 1 original, 2 revised.")
    period_start: dt.date | None = strawberry.field(description="Start of the period.")
    period_end: dt.date | None = strawberry.field(description="End of the period.")
    amount: Money = strawberry.field(description="The amount.")


@strawberry.type(description="An IATI transaction.")
class Transaction:
    type: str = strawberry.field(description="IATI TransactionType code.")
    value_date: dt.date | None = strawberry.field(description="Value date.")
    description: str | None = strawberry.field(description="Description, when given.")
    value: Money = strawberry.field(description="The value.")


@strawberry.type(
    description="A donor's bilateral programme or an agency's project, aligned with the IATI activity standard."
)
class Programme(Node):
    row: strawberry.Private[ProgrammeRow]

    @strawberry.field(description="Titles in every language the publisher gave (IATI narratives).")
    def titles(self) -> list["LocalizedText"]:
        return [LocalizedText(language=k, text=v) for k, v in sorted((self.row.titles or {}).items())]

    @strawberry.field(description="Descriptions in every language the publisher gave.")
    def descriptions(self) -> list["LocalizedText"]:
        return [LocalizedText(language=k, text=v) for k, v in sorted((self.row.descriptions or {}).items())]

    @strawberry.field(description="The publisher's default language (ISO 639-1).")
    def default_language(self) -> str | None:
        return self.row.default_language

    @strawberry.field(description="SDG goals tagged by the publisher.")
    def sdg_goals(self) -> list[str]:
        return list(self.row.sdg_goals or [])

    @strawberry.field(
        description="Related activities as published (IATI RelatedActivityType: 1 parent, 2 child, …); kept as references even when we do not hold them."
    )
    def related_activities(self) -> list["RelatedActivity"]:
        return [
            RelatedActivity(ref=r.get("ref", ""), type=str(r.get("type", "")))
            for r in (self.row.related_activities or [])
        ]

    @strawberry.field(
        description="Recipient regions with percentages (vocabulary 1: OECD DAC regions, e.g. 789 Far East Asia; 2: UN M49)."
    )
    async def recipient_regions(self, info: Info) -> list["RecipientRegion"]:
        async def batch(session, ids):
            return await programmes_service.recipient_regions_of(session=session, programme_ids=ids)

        rows = await info.context.loader("programme.regions", batch, default=[]).load(self.row.id)
        return [RecipientRegion(vocabulary=r.vocabulary, code=r.region_code, percentage=r.percentage) for r in rows]

    @strawberry.field(description="Budget lines as published (IATI budget elements).")
    async def budgets(self, info: Info) -> list["BudgetLine"]:
        async def batch(session, ids):
            return await programmes_service.budgets_of(session=session, programme_ids=ids)

        rows = await info.context.loader("programme.budgets", batch, default=[]).load(self.row.id)
        return [
            BudgetLine(
                type=r.type,
                period_start=r.period_start,
                period_end=r.period_end,
                amount=Money(amount=r.amount, currency=r.currency or self.row.currency or ""),
            )
            for r in rows
        ]

    @strawberry.field(
        description="Transactions as published (IATI TransactionType: 2 commitment, 3 disbursement, 4 expenditure, …)."
    )
    async def transactions(self, info: Info) -> list["Transaction"]:
        async def batch(session, ids):
            return await programmes_service.transactions_of(session=session, programme_ids=ids)

        rows = await info.context.loader("programme.transactions", batch, default=[]).load(self.row.id)
        return [
            Transaction(
                type=r.type,
                value_date=r.value_date,
                description=r.description,
                value=Money(amount=r.value, currency=r.currency or self.row.currency or ""),
            )
            for r in rows
        ]

    @strawberry.field(description="Needs matched to this programme, best first (ties by ID); only needs you may see.")
    async def matches(
        self,
        info: Info,
        min_score: Annotated[
            float | None, strawberry.argument(description="Only matches scoring at least this (0..1).")
        ] = None,
        statuses: Annotated[
            list[Annotated["MatchStatus", strawberry.lazy("graphql_schema.matching")]] | None,
            strawberry.argument(description="Only matches in these statuses."),
        ] = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Match", strawberry.lazy("graphql_schema.matching")]]:
        from graphql_schema.matching import nested_matches

        return await nested_matches(
            info, "programme", self.row.id, min_score, statuses, page_args(first, after, last, before)
        )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Programme", self.row.id))

    @strawberry.field(description="IATI activity identifier, e.g. XM-DAC-41128-GLOZ91 (unique).")
    def iati_identifier(self) -> str:
        return self.row.iati_identifier

    @strawberry.field(description="Title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="What the programme does.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The organization that reports the programme (and may change it).")
    async def reporting_organization(self, info: Info) -> Organization:
        organization = await load_organization(info, self.row.reporting_organization_id)
        assert organization is not None
        return organization

    @strawberry.field(
        description="Participating organizations with their IATI roles (one entry per organization and role)."
    )
    async def participants(self, info: Info) -> list[ProgrammeParticipant]:
        async def batch(session, ids):
            return await programmes_service.participants_of(session=session, programme_ids=ids)

        rows = await info.context.loader("programme.participants", batch, default=[]).load(self.row.id)
        return [
            ProgrammeParticipant(
                role=ParticipantRole(role.value),
                code=role.value,
                organization_id=organization_id,
                confirmed=programmes_service.link_confirmed(self.row.reporting_organization_id, organization_id),
            )
            for organization_id, role in rows
        ]

    @strawberry.field(description="Recipient States with their percentages, ordered by English name.")
    async def recipient_states(
        self,
        info: Info,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> RecipientStateConnection:
        args = page_args(first, after, last, before)
        ctx = info.context

        async def batch(session, ids):
            return await states_service.recipient_states_per_programme(session=session, programme_ids=ids, page=args)

        async def count_batch(session, ids):
            return await states_service.count_recipient_states(session=session, programme_ids=ids)

        page: Page = await ctx.loader("programme.recipientStates", batch, args=args).load(self.row.id)
        count_loader = ctx.loader("programme.recipientStates.count", count_batch, default=0)
        return RecipientStateConnection(
            edges=[
                RecipientStateEdge(cursor=cursor, node=State(row=state), percentage=percentage)
                for cursor, (state, percentage) in zip(page.cursors, page.items)
            ],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.start_cursor,
                end_cursor=page.end_cursor,
            ),
            counter=lambda: count_loader.load(self.row.id),
        )

    @strawberry.field(description="A global programme, open to every State (whatever its recipient States).")
    def is_global(self) -> bool:
        return self.row.is_global

    @strawberry.field(description="DAC 5-digit sector codes.")
    def sectors(self) -> list[str]:
        return list(self.row.sectors)

    @strawberry.field(description="Theme codes (see `themes`).")
    def themes(self) -> list[str]:
        return list(self.row.themes)

    @strawberry.field(description="SDG target codes, e.g. 16.3.")
    def sdg_targets(self) -> list[str]:
        return list(self.row.sdg_targets)

    @strawberry.field(description="How the programme delivers assistance.")
    def modalities(self) -> list[Modality]:
        return [Modality(v) for v in self.row.modalities]

    @strawberry.field(description="ISO 639-1 codes of the languages the programme works in.")
    def languages(self) -> list[str]:
        return list(self.row.languages)

    @strawberry.field(description="Total budget, when reported.")
    def budget(self) -> Money | None:
        return money(self.row.budget_amount, self.row.currency)

    @strawberry.field(description="Amount committed so far, when reported.")
    def committed(self) -> Money | None:
        return money(self.row.committed_amount, self.row.currency)

    @strawberry.field(description="Amount disbursed so far, when reported.")
    def disbursed(self) -> Money | None:
        return money(self.row.disbursed_amount, self.row.currency)

    @strawberry.field(description="When the programme starts (planned or actual).")
    def start_date(self) -> dt.date | None:
        return self.row.start_date

    @strawberry.field(description="When the programme ends (planned or actual).")
    def end_date(self) -> dt.date | None:
        return self.row.end_date

    @strawberry.field(
        description="IATI ActivityStatus (1 Pipeline, 2 Implementation, 3 Finalisation, 4 Closed, 5 Cancelled, 6 Suspended)."
    )
    async def activity_status(self, info: Info) -> CodelistEntry | None:
        return await load_iati_code(info, "ActivityStatus", self.row.activity_status)

    @strawberry.field(description="Whether the programme takes new requests from States.")
    def open_to_requests(self) -> bool:
        return self.row.open_to_requests

    @strawberry.field(description="The parent programme (IATI hierarchy), if any.")
    async def parent(self, info: Info) -> Programme | None:
        if self.row.parent_id is None:
            return None
        return await load_programme(info, self.row.parent_id)

    @strawberry.field(
        description=(
            "Whether the parent link is confirmed: only a parent reported by the same organization is. A "
            "parent of another organization is this reporter's claim, not confirmed by it. Null without a parent."
        )
    )
    async def parent_confirmed(self, info: Info) -> bool | None:
        parent = await load_programme(info, self.row.parent_id) if self.row.parent_id is not None else None
        if parent is None:
            return None
        return programmes_service.link_confirmed(
            self.row.reporting_organization_id, parent.row.reporting_organization_id
        )

    @strawberry.field(description="Child programmes (IATI hierarchy).")
    async def children(
        self,
        info: Info,
        order_by: ProgrammeOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Programme]:
        args = page_args(first, after, last, before)
        domain_order = _order(order_by)
        ctx = info.context

        async def batch(session, ids):
            return await programmes_service.children_per_programme(
                session=session, programme_ids=ids, order=domain_order, page=args
            )

        async def count_batch(session, ids):
            return await programmes_service.count_children_per_programme(session=session, programme_ids=ids)

        page = await ctx.loader("programme.children", batch, args=(args, filter_key(order_by))).load(self.row.id)
        count_loader = ctx.loader("programme.children.count", count_batch, default=0)
        return connection(page, wrap_programme, lambda: count_loader.load(self.row.id))

    @strawberry.field(description="When it was recorded (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at


@strawberry.type(
    description="What an organization can offer without a funded programme yet (e.g. court management, NHRI establishment)."
)
class Capability(Node):
    row: strawberry.Private[CapabilityRow]

    @strawberry.field(description="Needs matched to this capability, best first (ties by ID); only needs you may see.")
    async def matches(
        self,
        info: Info,
        min_score: Annotated[
            float | None, strawberry.argument(description="Only matches scoring at least this (0..1).")
        ] = None,
        statuses: Annotated[
            list[Annotated["MatchStatus", strawberry.lazy("graphql_schema.matching")]] | None,
            strawberry.argument(description="Only matches in these statuses."),
        ] = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Annotated["Match", strawberry.lazy("graphql_schema.matching")]]:
        from graphql_schema.matching import nested_matches

        return await nested_matches(
            info, "capability", self.row.id, min_score, statuses, page_args(first, after, last, before)
        )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Capability", self.row.id))

    @strawberry.field(description="The organization offering it (and the only one that may change it).")
    async def organization(self, info: Info) -> Organization:
        organization = await load_organization(info, self.row.organization_id)
        assert organization is not None
        return organization

    @strawberry.field(description="Title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="What is offered, and how.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="Theme codes.")
    def themes(self) -> list[str]:
        return list(self.row.themes)

    @strawberry.field(description="DAC 5-digit sector codes.")
    def sectors(self) -> list[str]:
        return list(self.row.sectors)

    @strawberry.field(description="How the assistance is delivered.")
    def modalities(self) -> list[Modality]:
        return [Modality(v) for v in self.row.modalities]

    @strawberry.field(description="UN M49 codes of the regions served (001 is the world).")
    def regions_served(self) -> list[str]:
        return list(self.row.regions_served)

    @strawberry.field(description="ISO 639-1 codes of the languages it can work in.")
    def languages(self) -> list[str]:
        return list(self.row.languages)

    @strawberry.field(description="When it was recorded (UTC).")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (UTC).")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at


def wrap_programme(row: ProgrammeRow) -> Programme:
    return Programme(row=row)


def wrap_capability(row: CapabilityRow) -> Capability:
    return Capability(row=row)


def wrap_organization(row: OrganizationRow) -> Organization:
    return Organization(row=row)


# -- loaders ---------------------------------------------------------------------------------


async def load_programme(info: Info, programme_id: int) -> Programme | None:
    async def batch(session, ids):
        return await programmes_service.get_programmes(session=session, ids=ids)

    row = await info.context.loader("programme", batch).load(programme_id)
    return Programme(row=row) if row else None


async def load_capability(info: Info, capability_id: int) -> Capability | None:
    async def batch(session, ids):
        return await capabilities_service.get_capabilities(session=session, ids=ids)

    row = await info.context.loader("capability", batch).load(capability_id)
    return Capability(row=row) if row else None


async def load_organization(info: Info, organization_id: int) -> Organization | None:
    async def batch(session, ids):
        return await organizations_service.get_organizations(session=session, ids=ids)

    row = await info.context.loader("organization", batch).load(organization_id)
    return Organization(row=row) if row else None


nodes.register_int("Programme", load_programme)
nodes.register_int("Capability", load_capability)
nodes.register_int("Organization", load_organization)


# -- mutation inputs -------------------------------------------------------------------------


@strawberry.input(description="A recipient State of a programme and its share.")
class RecipientStateInput:
    state: str = strawberry.field(description="ISO 3166 alpha-3 code, e.g. KEN.")
    percentage: Decimal | None = strawberry.field(
        default=None,
        description="Share of the programme in percent (0–100, at most 2 decimals); all shares add up to at most 100.",
    )


@strawberry.input(description="An organization taking part in a programme.")
class ProgrammeParticipantInput:
    organization_id: strawberry.ID = strawberry.field(description="ID of the organization.")
    role: ParticipantRole = strawberry.field(description="Its IATI role.")


@strawberry.input(description="A new programme, reported by your organization (donor and agency keys only).")
class CreateProgrammeInput:
    iati_identifier: str = strawberry.field(description="IATI activity identifier, unique, e.g. XM-DAC-41128-GLOZ91.")
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(default="", description="What the programme does.")
    activity_status: str | None = strawberry.field(
        default=None, description="IATI ActivityStatus code, e.g. 2 (implementation)."
    )
    start_date: dt.date | None = strawberry.field(default=None, description="Start date.")
    end_date: dt.date | None = strawberry.field(default=None, description="End date (not before the start).")
    budget: MoneyInput | None = strawberry.field(
        default=None, description="Total budget; all amounts share one currency."
    )
    committed: MoneyInput | None = strawberry.field(
        default=None, description="Amount committed (not checked against the budget: IATI data often differs)."
    )
    disbursed: MoneyInput | None = strawberry.field(default=None, description="Amount disbursed.")
    open_to_requests: bool = strawberry.field(
        default=True, description="Whether the programme takes new requests from States."
    )
    is_global: bool = strawberry.field(default=False, description="A global programme, open to every State.")
    sectors: list[str] = strawberry.field(default_factory=list, description="DAC 5-digit sector codes.")
    themes: list[str] = strawberry.field(default_factory=list, description="Theme codes.")
    sdg_targets: list[str] = strawberry.field(default_factory=list, description="SDG target codes, e.g. 16.3.")
    modalities: list[Modality] = strawberry.field(default_factory=list, description="Delivery modalities.")
    languages: list[str] = strawberry.field(default_factory=list, description="ISO 639-1 language codes.")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="ID of the parent programme, if any.")
    recipient_states: list[RecipientStateInput] = strawberry.field(
        default_factory=list, description="Recipient States with their shares."
    )
    participants: list[ProgrammeParticipantInput] = strawberry.field(
        default_factory=list, description="Participating organizations with their roles."
    )


@strawberry.input(
    description="Changes to a programme of your organization; omitted fields stay as they are, lists are replaced whole."
)
class UpdateProgrammeInput:
    id: strawberry.ID = strawberry.field(description="ID of the programme.")
    iati_identifier: str | None = strawberry.field(
        default=strawberry.UNSET, description="IATI activity identifier (unique)."
    )
    title: str | None = strawberry.field(default=strawberry.UNSET, description="Title.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="What the programme does.")
    activity_status: str | None = strawberry.field(
        default=strawberry.UNSET, description="IATI ActivityStatus code; null clears it."
    )
    start_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="Start date; null clears it.")
    end_date: dt.date | None = strawberry.field(default=strawberry.UNSET, description="End date; null clears it.")
    budget: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="Total budget; null clears it. All amounts share one currency."
    )
    committed: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="Amount committed; null clears it."
    )
    disbursed: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="Amount disbursed; null clears it."
    )
    open_to_requests: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether the programme takes new requests."
    )
    is_global: bool | None = strawberry.field(
        default=strawberry.UNSET, description="A global programme, open to every State."
    )
    sectors: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="DAC 5-digit sector codes (replaces the list)."
    )
    themes: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Theme codes (replaces the list)."
    )
    sdg_targets: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="SDG target codes (replaces the list)."
    )
    modalities: list[Modality] | None = strawberry.field(
        default=strawberry.UNSET, description="Delivery modalities (replaces the list)."
    )
    languages: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 639-1 language codes (replaces the list)."
    )
    parent_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="ID of the parent programme; null detaches it."
    )
    recipient_states: list[RecipientStateInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Recipient States with their shares (replaces the list)."
    )
    participants: list[ProgrammeParticipantInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Participating organizations (replaces the list)."
    )


@strawberry.type(description="Result of a mutation on a programme: the programme, or what was wrong with the input.")
class ProgrammePayload:
    programme: Programme | None = strawberry.field(
        description="The programme after the change (null when userErrors is not empty)."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


@strawberry.input(description="A new capability of your organization (donor and agency keys only).")
class CreateCapabilityInput:
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(default="", description="What is offered, and how.")
    themes: list[str] = strawberry.field(default_factory=list, description="Theme codes.")
    sectors: list[str] = strawberry.field(default_factory=list, description="DAC 5-digit sector codes.")
    modalities: list[Modality] = strawberry.field(default_factory=list, description="Delivery modalities.")
    regions_served: list[str] = strawberry.field(
        default_factory=list, description="UN M49 region codes served, e.g. 001 (world), 002 (Africa)."
    )
    languages: list[str] = strawberry.field(default_factory=list, description="ISO 639-1 language codes.")


@strawberry.input(
    description="Changes to a capability of your organization; omitted fields stay as they are, lists are replaced whole."
)
class UpdateCapabilityInput:
    id: strawberry.ID = strawberry.field(description="ID of the capability.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="Title.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="What is offered, and how.")
    themes: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Theme codes (replaces the list)."
    )
    sectors: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="DAC 5-digit sector codes (replaces the list)."
    )
    modalities: list[Modality] | None = strawberry.field(
        default=strawberry.UNSET, description="Delivery modalities (replaces the list)."
    )
    regions_served: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="UN M49 region codes served (replaces the list)."
    )
    languages: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 639-1 language codes (replaces the list)."
    )


@strawberry.type(description="Result of a mutation on a capability: the capability, or what was wrong with the input.")
class CapabilityPayload:
    capability: Capability | None = strawberry.field(
        description="The capability after the change (null when userErrors is not empty)."
    )
    user_errors: list[UserError] = strawberry.field(description="Validation failures; empty on success.")


def _given(data: Any, name: str) -> Any:
    return getattr(data, name, strawberry.UNSET)


def _programme_fields(data: CreateProgrammeInput | UpdateProgrammeInput) -> programmes_service.ProgrammeFields:
    values = programmes_service.ProgrammeFields()
    simple = (
        "iati_identifier",
        "title",
        "description",
        "activity_status",
        "start_date",
        "end_date",
        "open_to_requests",
        "is_global",
        "sectors",
        "themes",
        "sdg_targets",
        "modalities",
        "languages",
    )
    for name in simple:
        value = _given(data, name)
        if value is not strawberry.UNSET:
            setattr(values, name, value)
    for name in programmes_service.AMOUNT_FIELDS:
        value = _given(data, name)
        if value is not strawberry.UNSET:
            setattr(values, name, programmes_service.Amount(value.amount, value.currency) if value else None)
    parent = _given(data, "parent_id")
    if parent is not strawberry.UNSET:
        values.parent_id = expect_int_id(parent, "Programme", argument="input.parentId") if parent else None
    recipients = _given(data, "recipient_states")
    if recipients is not strawberry.UNSET:
        values.recipient_states = [
            programmes_service.RecipientStateInput(r.state, r.percentage) for r in (recipients or [])
        ]
    participants = _given(data, "participants")
    if participants is not strawberry.UNSET:
        values.participants = [
            programmes_service.ParticipantInput(
                expect_int_id(p.organization_id, "Organization", argument=f"input.participants.{i}.organizationId"),
                DomainParticipantRole(p.role.value),
            )
            for i, p in enumerate(participants or [])
        ]
    return values


def _capability_fields(data: CreateCapabilityInput | UpdateCapabilityInput) -> capabilities_service.CapabilityFields:
    values = capabilities_service.CapabilityFields()
    for name in ("title", "description", "themes", "sectors", "modalities", "regions_served", "languages"):
        value = _given(data, name)
        if value is not strawberry.UNSET:
            setattr(values, name, value)
    return values


async def _write(info: Info, action: Callable[[Any], Awaitable[Any]]) -> tuple[Any, list[UserError]]:
    """Run one domain write in its own transaction; validation failures become userErrors."""
    try:
        async with info.context.write_session() as session:
            row = await action(session)
    except ValidationFailed as failure:
        return None, user_errors(failure)
    return row, []


# -- root fields -----------------------------------------------------------------------------


@strawberry.type
class OfferQuery:
    @strawberry.field(description="Donors' programmes and agencies' projects (public).")
    async def programmes(
        self,
        info: Info,
        filter: ProgrammeFilter | None = None,
        order_by: ProgrammeOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Programme]:
        ctx = info.context
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        async with ctx.read_session() as session:
            page = await programmes_service.list_programmes(
                session=session, programme_filter=domain_filter, order=_order(order_by), page=args
            )

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await programmes_service.count_programmes(session=session, programme_filter=domain_filter)

        return connection(page, wrap_programme, counter)

    @strawberry.field(description="What organizations can offer without a funded programme yet (public).")
    async def capabilities(
        self,
        info: Info,
        filter: CapabilityFilter | None = None,
        order_by: CapabilityOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Capability]:
        ctx = info.context
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        async with ctx.read_session() as session:
            page = await capabilities_service.list_capabilities(
                session=session, capability_filter=domain_filter, order=_order(order_by), page=args
            )

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await capabilities_service.count_capabilities(session=session, capability_filter=domain_filter)

        return connection(page, wrap_capability, counter)

    @strawberry.field(description="Donors, agencies, funds, NHRIs and civil society organizations (public).")
    async def organizations(
        self,
        info: Info,
        filter: OrganizationFilter | None = None,
        order_by: OrganizationOrder | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Organization]:
        ctx = info.context
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        async with ctx.read_session() as session:
            page = await organizations_service.list_organizations(
                session=session, organization_filter=domain_filter, order=_order(order_by), page=args
            )

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await organizations_service.count_organizations(
                    session=session, organization_filter=domain_filter
                )

        return connection(page, wrap_organization, counter)

    @strawberry.field(description="One organization by ID; null when it does not exist.")
    async def organization(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The organization's global ID.")]
    ) -> Organization | None:
        return await load_organization(info, expect_int_id(id, "Organization"))


@strawberry.type
class OfferMutation:
    @strawberry.mutation(description="Create a programme reported by your organization (DONOR or AGENCY keys only).")
    async def create_programme(self, info: Info, input: CreateProgrammeInput) -> ProgrammePayload:
        values = _programme_fields(input)
        row, errors = await _write(
            info,
            lambda session: programmes_service.create_programme(
                session=session, principal=info.context.principal, values=values
            ),
        )
        return ProgrammePayload(programme=wrap_programme(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Edit a programme your organization reports (DONOR or AGENCY keys of that organization only)."
    )
    async def update_programme(self, info: Info, input: UpdateProgrammeInput) -> ProgrammePayload:
        programme_id = expect_int_id(input.id, "Programme", argument="input.id")
        values = _programme_fields(input)
        row, errors = await _write(
            info,
            lambda session: programmes_service.update_programme(
                session=session, principal=info.context.principal, programme_id=programme_id, values=values
            ),
        )
        return ProgrammePayload(programme=wrap_programme(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Create a capability of your organization (DONOR or AGENCY keys only).")
    async def create_capability(self, info: Info, input: CreateCapabilityInput) -> CapabilityPayload:
        values = _capability_fields(input)
        row, errors = await _write(
            info,
            lambda session: capabilities_service.create_capability(
                session=session, principal=info.context.principal, values=values
            ),
        )
        return CapabilityPayload(capability=wrap_capability(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Edit a capability of your organization (DONOR or AGENCY keys of that organization only)."
    )
    async def update_capability(self, info: Info, input: UpdateCapabilityInput) -> CapabilityPayload:
        capability_id = expect_int_id(input.id, "Capability", argument="input.id")
        values = _capability_fields(input)
        row, errors = await _write(
            info,
            lambda session: capabilities_service.update_capability(
                session=session, principal=info.context.principal, capability_id=capability_id, values=values
            ),
        )
        return CapabilityPayload(capability=wrap_capability(row) if row else None, user_errors=errors)
