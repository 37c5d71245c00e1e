"""Helpers for API tests: API keys per role, organizations, needs made through the domain."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest_asyncio

from service import needs as needs_service
from service.access.keys import create_api_key
from service.access.principals import SYSTEM, Principal, Role
from service.models import Organization, Recommendation, RecommendationRecommender, Review
from service.models.enums import NeedStatus, OrganizationCategory, RecommendationResponse, Visibility


class World:
    """Builds test data through the same domain functions the API uses."""

    def __init__(self, sessionmaker):
        self.sessionmaker = sessionmaker

    async def organization(
        self, name: str, category: OrganizationCategory = OrganizationCategory.DONOR_GOVERNMENT
    ) -> int:
        async with self.sessionmaker() as session, session.begin():
            org = Organization(name=name, category=category)
            session.add(org)
            await session.flush()
            return org.id

    async def key(self, role: Role, *, state: str | None = None, organization: int | None = None) -> str:
        async with self.sessionmaker() as session, session.begin():
            created = await create_api_key(
                session=session,
                actor=SYSTEM,
                role=role,
                label=f"test {role.value}",
                state_iso3=state,
                organization_id=organization,
            )
            return created.key

    async def recommendation(
        self, state: str, text: str, *, session_no: int = 40, recommenders: tuple[str, ...] = ("NOR",)
    ) -> int:
        async with self.sessionmaker() as session, session.begin():
            import sqlalchemy as sa

            review = (
                await session.execute(sa.select(Review).where(Review.state_iso3 == state, Review.session == session_no))
            ).scalar_one_or_none()
            if review is None:
                review = Review(state_iso3=state, session=session_no, cycle=3, year=2022)
                session.add(review)
                await session.flush()
            rec = Recommendation(
                review_id=review.id,
                state_iso3=state,
                text=text,
                response=RecommendationResponse.SUPPORTED,
                themes=["JUSTICE"],
            )
            session.add(rec)
            await session.flush()
            for code in recommenders:
                session.add(RecommendationRecommender(recommendation_id=rec.id, state_iso3=code))
            return rec.id

    async def need(
        self,
        state: str,
        *,
        title: str = "Court case management",
        visibility: Visibility = Visibility.PUBLIC,
        status: NeedStatus = NeedStatus.SUBMITTED,
        recommendation_ids: list[int] | None = None,
        **fields: Any,
    ) -> int:
        focal = Principal(role=Role.STATE_FOCAL_POINT, state_iso3=state)
        values = needs_service.NeedFields(
            title=title,
            description=fields.pop("description", "Support for the judiciary."),
            themes=fields.pop("themes", ["JUSTICE"]),
            sectors=fields.pop("sectors", ["15130"]),
            visibility=visibility,
            recommendation_ids=recommendation_ids or [],
            **fields,
        )
        async with self.sessionmaker() as session, session.begin():
            need = await needs_service.create_need(session=session, principal=focal, state_iso3=state, values=values)
            path = {
                NeedStatus.DRAFT: [],
                NeedStatus.SUBMITTED: [NeedStatus.SUBMITTED],
                NeedStatus.MATCHED: [NeedStatus.SUBMITTED, NeedStatus.MATCHED],
                NeedStatus.WITHDRAWN: [NeedStatus.WITHDRAWN],
            }[status]
            for step in path:
                await needs_service.transition_need(session=session, principal=focal, need_id=need.id, to=step)
            return need.id

    async def programme(
        self,
        organization: int,
        *,
        iati_identifier: str,
        recipients: tuple[str, ...] = ("KEN",),
        themes: tuple[str, ...] = ("JUSTICE",),
        sectors: tuple[str, ...] = ("15130",),
        is_global: bool = False,
        budget: str | None = "1000000",
        **fields: Any,
    ) -> int:
        from service import programmes

        donor = Principal(role=Role.DONOR, organization_id=organization)
        values = programmes.ProgrammeFields(
            iati_identifier=iati_identifier,
            title=fields.pop("title", "Judicial reform programme"),
            description=fields.pop("description", "Court management and judicial integrity."),
            themes=list(themes),
            sectors=list(sectors),
            is_global=is_global,
            activity_status="2",
            recipient_states=[programmes.RecipientStateInput(state_iso3=s) for s in recipients]
            if not is_global
            else [],
            budget=programmes.Amount(Decimal(budget), "USD") if budget else None,
            **fields,
        )
        async with self.sessionmaker() as session, session.begin():
            row = await programmes.create_programme(session=session, principal=donor, values=values)
            return row.id

    async def capability(
        self,
        organization: int,
        *,
        regions: tuple[str, ...] = ("001",),
        themes: tuple[str, ...] = ("NHRI",),
        **fields: Any,
    ) -> int:
        from service import capabilities

        agency = Principal(role=Role.AGENCY, organization_id=organization)
        values = capabilities.CapabilityFields(
            title=fields.pop("title", "NHRI establishment"),
            description=fields.pop("description", "Advice on the Paris Principles."),
            themes=list(themes),
            regions_served=list(regions),
            **fields,
        )
        async with self.sessionmaker() as session, session.begin():
            row = await capabilities.create_capability(session=session, principal=agency, values=values)
            return row.id


@pytest_asyncio.fixture
async def world(sessionmaker) -> World:
    return World(sessionmaker)


__all__ = ["World", "date", "Decimal"]
