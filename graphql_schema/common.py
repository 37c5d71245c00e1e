"""Shared GraphQL types: enums of the domain, money, user errors, directions."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import TypeVar

import strawberry

from service.errors import ValidationFailed
from service.models import enums as domain

T = TypeVar("T")

NeedStatus = strawberry.enum(
    domain.NeedStatus,
    name="NeedStatus",
    description="Where a need is in its lifecycle: DRAFT → SUBMITTED → MATCHED → IN_PROGRESS → COMPLETED; or WITHDRAWN (and reopened to DRAFT).",
)
Visibility = strawberry.enum(
    domain.Visibility,
    name="Visibility",
    description="Who may see a need: PRIVATE (its State's focal points and administrators), PARTNERS (also authenticated donors, agencies, NHRIs and civil society), PUBLIC (everyone).",
)
RightsDimension = strawberry.enum(
    domain.RightsDimension, name="RightsDimension", description="Dimensions of the interdependent human rights."
)
RegionalGroup = strawberry.enum(
    domain.RegionalGroup, name="RegionalGroup", description="UN regional group of a Member State."
)
UnMembership = strawberry.enum(
    domain.UnMembership, name="UnMembership", description="UN Member State or non-member observer State."
)
OrganizationCategory = strawberry.enum(
    domain.OrganizationCategory, name="OrganizationCategory", description="What kind of organization this is."
)
RecommendationResponse = strawberry.enum(
    domain.RecommendationResponse,
    name="RecommendationResponse",
    description="The State under review's response: SUPPORTED (accepted) or NOTED.",
)
RecommendationSource = strawberry.enum(
    domain.RecommendationSource,
    name="RecommendationSource",
    description=(
        "The UN human rights mechanism that made a recommendation: UPR (Universal Periodic Review), "
        "TREATY_BODY (e.g. CRC, CEDAW) or SPECIAL_PROCEDURE (e.g. the Special Rapporteur on torture)."
    ),
)
Modality = strawberry.enum(
    domain.Modality, name="Modality", description="How assistance is delivered (advisory services, training, …)."
)
StakeholderKind = strawberry.enum(
    domain.StakeholderKind, name="StakeholderKind", description="Kind of national stakeholder involved in a need."
)


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum(description="One of the six UN official languages.")
class Language(Enum):
    EN = "en"
    FR = "fr"
    ES = "es"
    AR = "ar"
    ZH = "zh"
    RU = "ru"


@strawberry.type(description="An amount of money in an ISO 4217 currency.")
class Money:
    amount: Decimal = strawberry.field(description="The amount, as a decimal string.")
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. USD.")


def money(amount: Decimal | None, currency: str | None) -> Money | None:
    if amount is None or currency is None:
        return None
    return Money(amount=amount, currency=currency)


@strawberry.input(description="An amount of money in an ISO 4217 currency.")
class MoneyInput:
    amount: Decimal = strawberry.field(description="The amount (at most 2 decimals, not negative).")
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. USD.")


@strawberry.type(description="A validation failure of a mutation's input, pointing at the field.")
class UserError:
    field: list[str] | None = strawberry.field(description='Path to the input field, e.g. ["input", "estimatedCost"].')
    message: str = strawberry.field(description="What was wrong and what would be right.")
    code: str = strawberry.field(
        description="Stable machine-readable code, e.g. UNKNOWN_CODE, NEGATIVE, INVALID_TRANSITION."
    )


def user_errors(failure: ValidationFailed) -> list[UserError]:
    return [
        UserError(field=["input", *e.field.split(".")] if e.field else None, message=e.message, code=e.code)
        for e in failure.errors
    ]


def descending(direction: OrderDirection | None, default: bool = True) -> bool:
    if direction is None:
        return default
    return direction is OrderDirection.DESC
