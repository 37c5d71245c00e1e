"""Reference taxonomies in the API (themes, SDGs, DAC sectors, IATI codelists).
Resolvers call `service.reference.queries`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_schema.common import RightsDimension
from graphql_schema.relay import AFTER, BEFORE, FIRST, LAST, Connection, connection, page_args
from service.models import DacSector as DacSectorRow
from service.models import DacSectorCategory as DacSectorCategoryRow
from service.models import IatiCode as IatiCodeRow
from service.models import SdgGoal as SdgGoalRow
from service.models import SdgTarget as SdgTargetRow
from service.models import Theme as ThemeRow
from service.reference import queries


@strawberry.enum(description="The IATI codelists tcgraph keeps whole.")
class IatiCodelist(Enum):
    ORGANISATION_TYPE = strawberry.enum_value(
        "OrganisationType", description="Types of organization (10 Government, 40 Multilateral, …)."
    )
    ORGANISATION_ROLE = strawberry.enum_value(
        "OrganisationRole",
        description="Roles of participating organizations (1 Funding, 2 Accountable, 3 Extending, 4 Implementing).",
    )
    ACTIVITY_STATUS = strawberry.enum_value(
        "ActivityStatus", description="Lifecycle status of an activity (1 Pipeline … 6 Suspended)."
    )
    CURRENCY = strawberry.enum_value("Currency", description="ISO 4217 currencies.")
    REGION = strawberry.enum_value("Region", description="OECD DAC regions used by IATI.")


@strawberry.type(description="One entry of an IATI codelist.")
class CodelistEntry:
    code: str = strawberry.field(description="The code, e.g. 2 (ActivityStatus Implementation) or USD.")
    name: str = strawberry.field(description="Its English name.")
    description: str | None = strawberry.field(description="What it means, where the codelist says.")
    withdrawn: bool = strawberry.field(description="Withdrawn from the codelist (kept for old data).")


def codelist_entry(row: IatiCodeRow) -> CodelistEntry:
    return CodelistEntry(code=row.code, name=row.name, description=row.description, withdrawn=row.withdrawn)


async def load_iati_code(info: Info, codelist: str, code: str | None) -> CodelistEntry | None:
    """One codelist entry through the request's loader (e.g. a programme's activity status)."""
    if code is None:
        return None

    async def batch(session, keys):
        return await queries.get_iati_codes(session=session, keys=keys)

    row = await info.context.loader("iatiCode", batch).load((codelist, code))
    return codelist_entry(row) if row else None


@strawberry.type(description="A thematic area (the UHRI-style list, with the UPR Info issue mapped onto it).")
class Theme:
    row: strawberry.Private[ThemeRow]

    @strawberry.field(description="Stable code, e.g. JUSTICE; used in every `themes` list and filter.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="English name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="The UPR Info database issue this theme corresponds to, if any.")
    def upr_info_issue(self) -> str | None:
        return self.row.upr_info_issue

    @strawberry.field(description="Rights dimensions the theme touches.")
    def rights_dimensions(self) -> list[RightsDimension]:
        return [RightsDimension(d) for d in self.row.rights_dimensions]

    @strawberry.field(description="The cluster the theme belongs to, e.g. ADMINISTRATION_OF_JUSTICE.")
    def cluster(self) -> str:
        return self.row.cluster


@strawberry.input(description="Filter of the themes list. Lists mean any of; several fields mean all of.")
class ThemeFilter:
    clusters: list[str] | None = strawberry.field(
        default=None, description="Cluster codes, e.g. ADMINISTRATION_OF_JUSTICE."
    )
    rights_dimensions: list[RightsDimension] | None = strawberry.field(
        default=None, description="Themes touching any of these rights dimensions."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the code, name or UPR Info issue (case-insensitive)."
    )

    def to_domain(self) -> queries.ThemeFilter:
        return queries.ThemeFilter(clusters=self.clusters, rights_dimensions=self.rights_dimensions, search=self.search)


@strawberry.type(description="A target of a Sustainable Development Goal.")
class SdgTarget:
    row: strawberry.Private[SdgTargetRow]

    @strawberry.field(description="Target code, e.g. 16.3.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="Code of its goal, e.g. 16.")
    def goal_code(self) -> str:
        return self.row.goal_code

    @strawberry.field(description="The target's text.")
    def description(self) -> str:
        return self.row.description


@strawberry.type(description="A Sustainable Development Goal.")
class SdgGoal:
    row: strawberry.Private[SdgGoalRow]

    @strawberry.field(description="Goal code, 1 to 17.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="Short title, e.g. Peace, justice and strong institutions.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="The goal's full text.")
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field(description="The goal's targets, in code order.")
    async def targets(self, info: Info) -> list[SdgTarget]:
        async def batch(session, codes):
            return await queries.sdg_targets_per_goal(session=session, goal_codes=codes)

        rows = await info.context.loader("sdgGoal.targets", batch, default=[]).load(self.row.code)
        return [SdgTarget(row=r) for r in rows]


@strawberry.type(
    description="A DAC 3-digit sector category (IATI SectorCategory), e.g. 151 Government and civil society, general."
)
class DacSectorCategory:
    row: strawberry.Private[DacSectorCategoryRow]

    @strawberry.field(description="3-digit code, e.g. 151.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="English name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="What it covers.")
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field(description="Withdrawn from the codelist.")
    def withdrawn(self) -> bool:
        return self.row.withdrawn


@strawberry.type(description="A DAC 5-digit purpose code (IATI Sector), e.g. 15130 Legal and judicial development.")
class DacSector:
    row: strawberry.Private[DacSectorRow]

    @strawberry.field(description="5-digit code, e.g. 15160.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="English name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="What it covers.")
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field(description="Withdrawn from the codelist (no longer valid for new data).")
    def withdrawn(self) -> bool:
        return self.row.withdrawn

    @strawberry.field(description="Its 3-digit category.")
    async def category(self, info: Info) -> DacSectorCategory | None:
        async def batch(session, codes):
            return await queries.get_dac_sector_categories(session=session, codes=codes)

        row = await info.context.loader("dacSectorCategory", batch).load(self.row.category_code)
        return DacSectorCategory(row=row) if row else None


@strawberry.type
class ReferenceQuery:
    @strawberry.field(description="Thematic areas, ordered by name (public).")
    async def themes(
        self,
        info: Info,
        filter: ThemeFilter | None = None,
        first: Annotated[int | None, FIRST] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> Connection[Theme]:
        ctx = info.context
        args = page_args(first, after, last, before)
        domain_filter = filter.to_domain() if filter else None
        async with ctx.read_session() as session:
            page = await queries.list_themes(session=session, theme_filter=domain_filter, page=args)

        async def counter() -> int:
            async with ctx.read_session() as session:
                return await queries.count_themes(session=session, theme_filter=domain_filter)

        return connection(page, lambda t: Theme(row=t), counter)

    @strawberry.field(description="The 17 Sustainable Development Goals, in order.")
    async def sdg_goals(self, info: Info) -> list[SdgGoal]:
        async with info.context.read_session() as session:
            rows = await queries.list_sdg_goals(session=session)
        return [SdgGoal(row=r) for r in rows]

    @strawberry.field(description="SDG targets, in code order (all 169, or those of one goal).")
    async def sdg_targets(
        self,
        info: Info,
        goal: Annotated[str | None, strawberry.argument(description="Only targets of this goal, e.g. 16.")] = None,
    ) -> list[SdgTarget]:
        async with info.context.read_session() as session:
            rows = await queries.list_sdg_targets(session=session, goal=goal)
        return [SdgTarget(row=r) for r in rows]

    @strawberry.field(description="DAC 3-digit sector categories, in code order.")
    async def dac_sector_categories(
        self,
        info: Info,
        include_withdrawn: Annotated[
            bool, strawberry.argument(description="Include categories withdrawn from the codelist.")
        ] = False,
    ) -> list[DacSectorCategory]:
        async with info.context.read_session() as session:
            rows = await queries.list_dac_sector_categories(session=session, include_withdrawn=include_withdrawn)
        return [DacSectorCategory(row=r) for r in rows]

    @strawberry.field(description="DAC 5-digit sector (purpose) codes, in code order.")
    async def dac_sectors(
        self,
        info: Info,
        category: Annotated[
            str | None, strawberry.argument(description="Only sectors of this 3-digit category, e.g. 151.")
        ] = None,
        include_withdrawn: Annotated[
            bool, strawberry.argument(description="Include sectors withdrawn from the codelist.")
        ] = False,
    ) -> list[DacSector]:
        async with info.context.read_session() as session:
            rows = await queries.list_dac_sectors(
                session=session, category=category, include_withdrawn=include_withdrawn
            )
        return [DacSector(row=r) for r in rows]

    @strawberry.field(description="The entries of one IATI codelist, in code order.")
    async def codelist(
        self,
        info: Info,
        name: Annotated[IatiCodelist, strawberry.argument(description="Which codelist.")],
        include_withdrawn: Annotated[
            bool, strawberry.argument(description="Include entries withdrawn from the codelist.")
        ] = False,
    ) -> list[CodelistEntry]:
        async with info.context.read_session() as session:
            rows = await queries.list_codelist(session=session, name=name.value, include_withdrawn=include_withdrawn)
        return [codelist_entry(r) for r in rows]
