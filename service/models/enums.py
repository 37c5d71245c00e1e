"""Closed vocabularies of the domain. Values are stored as these strings."""

from __future__ import annotations

from enum import Enum


class RightsDimension(str, Enum):
    CIVIL = "CIVIL"
    POLITICAL = "POLITICAL"
    ECONOMIC = "ECONOMIC"
    SOCIAL = "SOCIAL"
    CULTURAL = "CULTURAL"


class RegionalGroup(str, Enum):
    AFRICAN = "AFRICAN"
    ASIA_PACIFIC = "ASIA_PACIFIC"
    EASTERN_EUROPEAN = "EASTERN_EUROPEAN"
    LATIN_AMERICAN_CARIBBEAN = "LATIN_AMERICAN_CARIBBEAN"
    WESTERN_EUROPEAN_OTHERS = "WESTERN_EUROPEAN_OTHERS"


class UnMembership(str, Enum):
    MEMBER = "MEMBER"
    OBSERVER = "OBSERVER"


class OrganizationCategory(str, Enum):
    DONOR_GOVERNMENT = "DONOR_GOVERNMENT"
    UN_AGENCY = "UN_AGENCY"
    UN_FUND = "UN_FUND"
    REGIONAL_ORGANIZATION = "REGIONAL_ORGANIZATION"
    NHRI = "NHRI"
    CIVIL_SOCIETY = "CIVIL_SOCIETY"
    PRIVATE_DONOR = "PRIVATE_DONOR"
    ACADEMIC = "ACADEMIC"


class RecommendationResponse(str, Enum):
    SUPPORTED = "SUPPORTED"
    NOTED = "NOTED"


class RecommendationSource(str, Enum):
    """The UN human rights mechanism that made a recommendation."""

    UPR = "UPR"
    TREATY_BODY = "TREATY_BODY"
    SPECIAL_PROCEDURE = "SPECIAL_PROCEDURE"


class NeedStatus(str, Enum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    MATCHED = "MATCHED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"


class Visibility(str, Enum):
    PRIVATE = "PRIVATE"
    PARTNERS = "PARTNERS"
    PUBLIC = "PUBLIC"


class Modality(str, Enum):
    ADVISORY_SERVICES = "ADVISORY_SERVICES"
    TRAINING = "TRAINING"
    LEGISLATIVE_DRAFTING = "LEGISLATIVE_DRAFTING"
    INSTITUTION_BUILDING = "INSTITUTION_BUILDING"
    EQUIPMENT = "EQUIPMENT"
    RESEARCH = "RESEARCH"
    PEER_EXCHANGE = "PEER_EXCHANGE"
    AWARENESS_RAISING = "AWARENESS_RAISING"
    FINANCIAL_SUPPORT = "FINANCIAL_SUPPORT"


class StakeholderKind(str, Enum):
    GOVERNMENT_MINISTRY = "GOVERNMENT_MINISTRY"
    PARLIAMENT = "PARLIAMENT"
    JUDICIARY = "JUDICIARY"
    NHRI = "NHRI"
    CIVIL_SOCIETY = "CIVIL_SOCIETY"
    ACADEMIA = "ACADEMIA"
    OTHER = "OTHER"


class ParticipantRole(str, Enum):
    """IATI OrganisationRole codes."""

    FUNDING = "1"
    ACCOUNTABLE = "2"
    EXTENDING = "3"
    IMPLEMENTING = "4"


class ImplementationStatus(str, Enum):
    """Where an action stands, as its progress reports say (NRTD's scale)."""

    NOT_STARTED = "NOT_STARTED"
    ONGOING = "ONGOING"
    PARTIAL = "PARTIAL"
    COMPLETED = "COMPLETED"
