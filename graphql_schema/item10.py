"""GraphQL for Item 10 reports (`item10Report`): types mirror `service.item10`, whose
docstring defines every number; resolvers only map."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from graphql_schema.common import Money, NeedStatus, OrganizationCategory
from service import item10 as service
from service.errors import InvalidInput

if TYPE_CHECKING:
    from graphql_schema.matching import Match
    from graphql_schema.needs import Need
    from graphql_schema.offers import Organization
    from graphql_schema.states import State

#: The most rows one list of the report returns (`first`); lists are priced by it.
MAX_ROWS = 500


def _first(value: int, name: str) -> int:
    if not 0 <= value <= MAX_ROWS:
        raise InvalidInput(f"`{name}(first:)` must be between 0 and {MAX_ROWS}; got {value}.", field="first")
    return value


def _money(amount: service.Amount | None) -> Money | None:
    return Money(amount=amount.amount, currency=amount.currency) if amount is not None else None


@strawberry.input(description="A period of whole days, both ends included (UTC).")
class ReportPeriod:
    from_: dt.date = strawberry.field(name="from", description="First day of the period.")
    to: dt.date = strawberry.field(description="Last day of the period (on or after `from`).")


@strawberry.type(description="Engagements by where they stood at the end of the period.")
class EngagementStageCounts:
    row: strawberry.Private[service.StageCounts]

    @strawberry.field(description="Agreed (the State consented) but not yet active.")
    def agreed(self) -> int:
        return self.row.agreed

    @strawberry.field(description="Under way.")
    def active(self) -> int:
        return self.row.active

    @strawberry.field(description="Completed (on or before the period's last day).")
    def completed(self) -> int:
        return self.row.completed

    @strawberry.field(description="Withdrawn after they were agreed.")
    def withdrawn(self) -> int:
        return self.row.withdrawn

    @strawberry.field(description="All of them.")
    def total(self) -> int:
        return self.row.total


@strawberry.type(
    description="Amounts summed per currency, never across currencies; a USD equivalent only where every currency has a rate."
)
class AmountsByCurrency:
    row: strawberry.Private[service.Amounts]

    @strawberry.field(description="One sum per ISO 4217 currency (XXX: amounts recorded without a currency).")
    def amounts(self) -> list[Money]:
        return [Money(amount=a.amount, currency=a.currency) for a in self.row.by_currency]

    @strawberry.field(
        description="All of it in USD at the rates in `Item10Report.exchangeRates`; null when a currency has no rate."
    )
    def usd_equivalent(self) -> Money | None:
        if self.row.usd_equivalent is None:
            return None
        return Money(amount=self.row.usd_equivalent, currency="USD")

    @strawberry.field(description="Currencies without a rate, which keep `usdEquivalent` null.")
    def currencies_without_rate(self) -> list[str]:
        return list(self.row.currencies_without_rate)


@strawberry.type(description="What one agency, fund or donor did in the theme and period.")
class OrganizationEngagements:
    row: strawberry.Private[service.OrganizationEngagements]

    @strawberry.field(description="The organization.")
    async def organization(
        self, info: Info
    ) -> Annotated["Organization", strawberry.lazy("graphql_schema.offers")] | None:
        from graphql_schema.offers import load_organization

        return await load_organization(info, self.row.organization_id)

    @strawberry.field(description="Its name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Its acronym, when it has one.")
    def acronym(self) -> str | None:
        return self.row.acronym

    @strawberry.field(description="UN agency, donor government, fund …")
    def category(self) -> OrganizationCategory:  # type: ignore[valid-type]
        return OrganizationCategory(self.row.category)

    @strawberry.field(description="Its engagements by stage.")
    def engagements(self) -> EngagementStageCounts:
        return EngagementStageCounts(row=self.row.engagements)

    @strawberry.field(description="Agreed amounts of its engagements not withdrawn.")
    def committed(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.committed)

    @strawberry.field(description="ISO3 codes of the States it engaged with.")
    def states(self) -> list[str]:
        return list(self.row.states)


@strawberry.type(description="What was done with one State in the theme and period.")
class StateEngagements:
    row: strawberry.Private[service.StateEngagements]

    @strawberry.field(description="ISO 3166 alpha-3 code.")
    def code(self) -> str:
        return self.row.state_iso3

    @strawberry.field(description="English name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="The State.")
    async def state(self, info: Info) -> Annotated["State", strawberry.lazy("graphql_schema.states")] | None:
        from graphql_schema.states import load_state

        return await load_state(info, self.row.state_iso3)

    @strawberry.field(description="Its engagements by stage.")
    def engagements(self) -> EngagementStageCounts:
        return EngagementStageCounts(row=self.row.engagements)

    @strawberry.field(description="Agreed amounts of its engagements not withdrawn.")
    def committed(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.committed)

    @strawberry.field(description="Names of the organizations it engaged with.")
    def organizations(self) -> list[str]:
        return list(self.row.organizations)


@strawberry.type(description="Lessons learned and good practices of an engagement completed in the period.")
class EngagementLesson:
    row: strawberry.Private[service.Lesson]

    @strawberry.field(description="The engagement (a match).")
    async def engagement(self, info: Info) -> Annotated["Match", strawberry.lazy("graphql_schema.matching")] | None:
        from graphql_schema.matching import load_match

        return await load_match(info, self.row.match_id)

    @strawberry.field(description="Title of the need it met.")
    def need_title(self) -> str:
        return self.row.need_title

    @strawberry.field(description="ISO3 code of the need's State.")
    def state_code(self) -> str:
        return self.row.state_iso3

    @strawberry.field(description="English name of the need's State.")
    def state_name(self) -> str:
        return self.row.state_name

    @strawberry.field(description="The offering organization's name.")
    def organization_name(self) -> str:
        return self.row.organization_name

    @strawberry.field(description="When it was completed (UTC date).")
    def completed_on(self) -> dt.date:
        return self.row.completed_on

    @strawberry.field(description="What worked, what did not, what others can reuse.")
    def lessons(self) -> str:
        return self.row.text


@strawberry.type(description="A need still open, with what is committed to it and what is missing.")
class OpenNeedFunding:
    row: strawberry.Private[service.OpenNeed]

    @strawberry.field(description="The need.")
    async def need(self, info: Info) -> Annotated["Need", strawberry.lazy("graphql_schema.needs")] | None:
        from graphql_schema.needs import load_need

        return await load_need(info, self.row.need_id)

    @strawberry.field(description="Its title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="ISO3 code of its State.")
    def state_code(self) -> str:
        return self.row.state_iso3

    @strawberry.field(description="English name of its State.")
    def state_name(self) -> str:
        return self.row.state_name

    @strawberry.field(description="SUBMITTED, MATCHED or IN_PROGRESS.")
    def status(self) -> NeedStatus:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field(description="Its estimated cost; null when not given.")
    def requested(self) -> Money | None:
        return _money(self.row.requested)

    @strawberry.field(description="Agreed amounts of its engagements (agreed, active, completed), per currency.")
    def committed(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.committed)

    @strawberry.field(
        description="Cost minus commitments in the need's currency (never negative); null when the cost is unknown or a commitment's currency has no rate."
    )
    def gap(self) -> Money | None:
        return _money(self.row.gap)


@strawberry.type(description="Requested, committed and missing over the open needs of the report.")
class FundingGapSummary:
    row: strawberry.Private[service.FundingGapSummary]

    @strawberry.field(description="Open needs in the theme and region.")
    def open_needs(self) -> int:
        return self.row.open_needs

    @strawberry.field(description="Their estimated costs.")
    def requested(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.requested)

    @strawberry.field(description="What engagements commit to them.")
    def committed(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.committed)

    @strawberry.field(description="Sum of their gaps, in the needs' currencies.")
    def gap(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.gap)

    @strawberry.field(description="Open needs without an estimated cost (no gap known).")
    def needs_without_cost(self) -> int:
        return self.row.needs_without_cost

    @strawberry.field(
        description="Open needs whose commitments are in a currency that could not be converted (no gap known)."
    )
    def needs_without_gap(self) -> int:
        return self.row.needs_without_gap


@strawberry.type(description="A published approximate rate: the USD value of one unit of a currency.")
class CurrencyRate:
    currency: str = strawberry.field(description="ISO 4217 code.")
    usd_per_unit: Decimal = strawberry.field(description="USD per one unit.")
    as_of: dt.date = strawberry.field(description="Date of the rate.")


@strawberry.type(
    description=(
        "What agencies, donors and States did in a theme over a period (HRC resolution 21/21 paras 3-5, 9): engagements "
        "by stage, organization and State, amounts, lessons learned and good practices, open needs and funding gaps. "
        "Only what you may see is counted: a need hidden from you, and its engagements, are in no list, count or sum."
    )
)
class Item10Report:
    row: strawberry.Private[service.Item10Report]

    @strawberry.field(description="The theme or theme cluster code, e.g. JUSTICE or ADMINISTRATION_OF_JUSTICE.")
    def theme(self) -> str:
        return self.row.theme_code

    @strawberry.field(description="Its name.")
    def theme_name(self) -> str:
        return self.row.theme_name

    @strawberry.field(description="The theme codes covered (a cluster covers all of its themes).")
    def themes(self) -> list[str]:
        return list(self.row.theme_codes)

    @strawberry.field(description="First day of the period.")
    def period_from(self) -> dt.date:
        return self.row.period_start

    @strawberry.field(description="Last day of the period.")
    def period_to(self) -> dt.date:
        return self.row.period_end

    @strawberry.field(description="The region asked for (M49 code or UN regional group), if any.")
    def region(self) -> str | None:
        return self.row.region_code

    @strawberry.field(description="Its name.")
    def region_name(self) -> str | None:
        return self.row.region_name

    @strawberry.field(description="When the report was computed (UTC); open needs and gaps are as of then.")
    def generated_at(self) -> dt.datetime:
        return self.row.generated_at

    @strawberry.field(description="All engagements in the theme, region and period, by stage.")
    def engagements(self) -> EngagementStageCounts:
        return EngagementStageCounts(row=self.row.engagements)

    @strawberry.field(description="Agreed amounts of those engagements not withdrawn.")
    def committed(self) -> AmountsByCurrency:
        return AmountsByCurrency(row=self.row.committed)

    @strawberry.field(description="Per organization, most engagements first.")
    def organizations(
        self, first: Annotated[int, strawberry.argument(description=f"At most this many rows (0..{MAX_ROWS}).")] = 50
    ) -> list[OrganizationEngagements]:
        return [OrganizationEngagements(row=r) for r in self.row.by_organization[: _first(first, "organizations")]]

    @strawberry.field(description="Number of organizations with engagements (all rows, whatever `first`).")
    def organization_count(self) -> int:
        return len(self.row.by_organization)

    @strawberry.field(description="Per State, most engagements first.")
    def states(
        self, first: Annotated[int, strawberry.argument(description=f"At most this many rows (0..{MAX_ROWS}).")] = 50
    ) -> list[StateEngagements]:
        return [StateEngagements(row=r) for r in self.row.by_state[: _first(first, "states")]]

    @strawberry.field(description="Number of States with engagements.")
    def state_count(self) -> int:
        return len(self.row.by_state)

    @strawberry.field(description="Lessons of engagements completed in the period, latest first.")
    def lessons(
        self, first: Annotated[int, strawberry.argument(description=f"At most this many (0..{MAX_ROWS}).")] = 20
    ) -> list[EngagementLesson]:
        return [EngagementLesson(row=r) for r in self.row.lessons[: _first(first, "lessons")]]

    @strawberry.field(description="Number of lessons.")
    def lesson_count(self) -> int:
        return len(self.row.lessons)

    @strawberry.field(description="Needs still open, largest gap first.")
    def open_needs(
        self, first: Annotated[int, strawberry.argument(description=f"At most this many (0..{MAX_ROWS}).")] = 50
    ) -> list[OpenNeedFunding]:
        return [OpenNeedFunding(row=r) for r in self.row.open_needs[: _first(first, "openNeeds")]]

    @strawberry.field(description="Requested, committed and missing over the open needs.")
    def funding_gap(self) -> FundingGapSummary:
        return FundingGapSummary(row=self.row.funding_gap)

    @strawberry.field(description="The rates behind every USD equivalent and converted gap in the report.")
    def exchange_rates(self) -> list[CurrencyRate]:
        return [
            CurrencyRate(currency=r.currency, usd_per_unit=r.usd_per_unit, as_of=r.as_of)
            for r in self.row.exchange_rates
        ]


@strawberry.type(description="Item 10 reports.")
class Item10Query:
    @strawberry.field(
        description=(
            "The Item 10 report for a theme and a period (and optionally a region), over what you may see. "
            "Unknown theme or region, or `from` after `to`: BAD_USER_INPUT."
        )
    )
    async def item10_report(
        self,
        info: Info,
        theme: Annotated[
            str,
            strawberry.argument(
                description="A theme code (e.g. JUSTICE) or a theme cluster (e.g. ADMINISTRATION_OF_JUSTICE)."
            ),
        ],
        period: Annotated[ReportPeriod, strawberry.argument(description="The days the report covers.")],
        region: Annotated[
            str | None,
            strawberry.argument(
                description="A UN M49 region, sub-region or intermediate region code (e.g. 202), or a UN regional group (e.g. AFRICAN)."
            ),
        ] = None,
    ) -> Item10Report:
        async with info.context.read_session() as session:
            row = await service.item10_report(
                session=session,
                principal=info.context.principal,
                theme=theme,
                period_start=period.from_,
                period_end=period.to,
                region=region,
            )
        return Item10Report(row=row)
