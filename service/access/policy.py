"""Who may do what, by role: one table every authorization decision is read from.

Adding a role is one row here (and its enum member in principals.py), plus its expectations
in tests/unit/test_policy.py; the consent rule (service/access/visibility.py), key and token
binding (keys.py, tokens.py), live-event classes (service/events/feed.py), offering,
stakeholder input, progress comments and the UPR Voluntary Fund all ask this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from service.access.principals import Principal, Role


class Binding(Enum):
    """What a key or token of the role must name."""

    NOTHING = "nothing"
    STATE = "state"
    ORGANIZATION = "organization"


class NeedAccess(Enum):
    """Which needs the role sees (resolution 21/21's consent rule, visibility.py)."""

    ALL = "all"  # administrators
    OWN_STATE = "own State and PUBLIC"  # a State's focal points: everything of their State
    PARTNERS = "PARTNERS and PUBLIC"  # authenticated partners of the State's choosing
    PUBLIC = "PUBLIC"


@dataclass(frozen=True)
class RolePolicy:
    binding: Binding
    needs: NeedAccess
    offers: bool = False  # publishes programmes and capabilities, proposes matches, sees opportunities
    gives_input: bool = False  # stakeholder input on needs, comments on progress reports
    manages_fund: bool = False  # sees and runs UPR Voluntary Fund rounds and applications
    approves_allocations: bool = False  # approves a Fund round's allocation (its own duty)
    holds_keys: bool = True  # an API key or token may carry the role


POLICY: dict[Role, RolePolicy] = {
    Role.ADMINISTRATOR: RolePolicy(Binding.NOTHING, NeedAccess.ALL, manages_fund=True),
    Role.FUND_ADMINISTRATOR: RolePolicy(
        Binding.NOTHING, NeedAccess.PUBLIC, manages_fund=True, approves_allocations=True
    ),
    Role.STATE_FOCAL_POINT: RolePolicy(Binding.STATE, NeedAccess.OWN_STATE),
    Role.DONOR: RolePolicy(Binding.ORGANIZATION, NeedAccess.PARTNERS, offers=True),
    Role.AGENCY: RolePolicy(Binding.ORGANIZATION, NeedAccess.PARTNERS, offers=True),
    Role.NHRI: RolePolicy(Binding.ORGANIZATION, NeedAccess.PARTNERS, gives_input=True),
    Role.CIVIL_SOCIETY: RolePolicy(Binding.ORGANIZATION, NeedAccess.PARTNERS, gives_input=True),
    Role.ANONYMOUS: RolePolicy(Binding.NOTHING, NeedAccess.PUBLIC, holds_keys=False),
}


def policy_of(role: Role) -> RolePolicy:
    return POLICY[role]


def need_access(principal: Principal) -> NeedAccess:
    """What the principal sees; a focal point without a State sees what the public sees."""
    access = POLICY[principal.role].needs
    if access is NeedAccess.OWN_STATE and not principal.state_iso3:
        return NeedAccess.PUBLIC
    return access


def may_offer(principal: Principal) -> bool:
    """Donors and agencies, through the organization their key names."""
    return POLICY[principal.role].offers and principal.organization_id is not None


def may_give_input(principal: Principal) -> bool:
    """NHRIs and civil society, through the organization their key names."""
    return POLICY[principal.role].gives_input and principal.organization_id is not None


def manages_fund(principal: Principal) -> bool:
    return POLICY[principal.role].manages_fund


def approves_allocations(principal: Principal) -> bool:
    return POLICY[principal.role].approves_allocations


def roles_that(predicate) -> frozenset[Role]:  # type: ignore[no-untyped-def]
    """The roles whose policy satisfies `predicate`, e.g. for documentation and tests."""
    return frozenset(role for role, policy in POLICY.items() if predicate(policy))
