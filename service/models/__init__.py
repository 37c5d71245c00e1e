"""SQLModel tables, one module per concept. Importing this package registers them all."""

from .audit import ApiKey, AuditEvent
from .base import metadata
from .capabilities import Capability
from .events import Event
from .fund import (
    FundApplication,
    FundApplicationNeed,
    FundCriteriaVersion,
    FundDecision,
    FundRound,
    FundRoundStatus,
    FundScore,
)
from .limits import PersistedQuery, RateLimitBucket
from .matching import CriteriaVersion, Match, MatchStatus, MatchTransition, OfferKind
from .needs import AssistanceNeed, NeedPledge, NeedRecommendation, NeedStakeholder, StakeholderInput
from .organizations import Organization
from .programmes import Programme, ProgrammeParticipant, ProgrammeRecipientState
from .recommendations import Pledge, Recommendation, RecommendationRecommender, Review
from .reference import CurrencyRate, DacSector, DacSectorCategory, IatiCode, SdgGoal, SdgTarget, Theme
from .states import State
from .tracking import (
    ActionNeed,
    ActionRecommendation,
    ImplementationAction,
    Indicator,
    IndicatorValue,
    ProgressComment,
    ProgressReport,
    SupportingInstitution,
)

__all__ = [
    "metadata",
    "ApiKey",
    "AuditEvent",
    "Event",
    "FundApplication",
    "FundApplicationNeed",
    "FundCriteriaVersion",
    "FundDecision",
    "FundRound",
    "FundRoundStatus",
    "FundScore",
    "CriteriaVersion",
    "Match",
    "MatchStatus",
    "MatchTransition",
    "OfferKind",
    "PersistedQuery",
    "RateLimitBucket",
    "AssistanceNeed",
    "Capability",
    "CurrencyRate",
    "DacSector",
    "DacSectorCategory",
    "IatiCode",
    "NeedPledge",
    "NeedRecommendation",
    "NeedStakeholder",
    "Organization",
    "Pledge",
    "Programme",
    "ProgrammeParticipant",
    "ProgrammeRecipientState",
    "Recommendation",
    "RecommendationRecommender",
    "Review",
    "SdgGoal",
    "SdgTarget",
    "State",
    "StakeholderInput",
    "Theme",
    "ActionNeed",
    "ActionRecommendation",
    "ImplementationAction",
    "Indicator",
    "IndicatorValue",
    "ProgressComment",
    "ProgressReport",
    "SupportingInstitution",
]
