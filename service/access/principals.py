"""Principals: the authenticated (or anonymous) caller of the API, CLI or an importer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Role(str, Enum):
    ADMINISTRATOR = "ADMINISTRATOR"
    # Runs UPR Voluntary Fund rounds and approves their allocations (service/fund/); sees no
    # State's PRIVATE data beyond the applications made to the Fund.
    FUND_ADMINISTRATOR = "FUND_ADMINISTRATOR"
    STATE_FOCAL_POINT = "STATE_FOCAL_POINT"
    DONOR = "DONOR"
    AGENCY = "AGENCY"
    NHRI = "NHRI"
    CIVIL_SOCIETY = "CIVIL_SOCIETY"
    ANONYMOUS = "ANONYMOUS"


@dataclass(frozen=True)
class Principal:
    role: Role
    state_iso3: str | None = None
    organization_id: int | None = None
    api_key_id: int | None = None
    label: str | None = None
    subject: str | None = None  # JWT subject, when authenticated by token
    expires_at: datetime | None = None  # when the key or token stops being accepted (a WebSocket is closed then)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMINISTRATOR

    @property
    def is_partner(self) -> bool:
        """Sees PARTNERS needs (service/access/policy.py)."""
        from service.access.policy import NeedAccess, policy_of

        return policy_of(self.role).needs is NeedAccess.PARTNERS

    @property
    def is_anonymous(self) -> bool:
        return self.role is Role.ANONYMOUS

    def is_focal_point_of(self, state_iso3: str) -> bool:
        return self.role is Role.STATE_FOCAL_POINT and self.state_iso3 == state_iso3

    @property
    def actor(self) -> str:
        """How this principal is named in the audit trail."""
        if self.api_key_id is not None:
            return f"api-key:{self.api_key_id}"
        if self.subject is not None:
            return f"token:{self.subject}"
        return self.role.value.lower()


ANONYMOUS = Principal(role=Role.ANONYMOUS)
SYSTEM = Principal(role=Role.ADMINISTRATOR, label="system")
