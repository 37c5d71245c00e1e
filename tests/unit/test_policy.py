"""The authorization table (service/access/policy.py): every role has its row, and the rows
say what the product promises each role. A new role fails the first test until it has a row,
and the second until its expectations are written here."""

from __future__ import annotations

import pytest

from service.access import policy
from service.access.policy import Binding, NeedAccess
from service.access.principals import Principal, Role

# role: (binding, needs, offers, gives input, manages fund, approves allocations, holds keys)
EXPECTED = {
    Role.ADMINISTRATOR: (Binding.NOTHING, NeedAccess.ALL, False, False, True, False, True),
    Role.FUND_ADMINISTRATOR: (Binding.NOTHING, NeedAccess.PUBLIC, False, False, True, True, True),
    Role.STATE_FOCAL_POINT: (Binding.STATE, NeedAccess.OWN_STATE, False, False, False, False, True),
    Role.DONOR: (Binding.ORGANIZATION, NeedAccess.PARTNERS, True, False, False, False, True),
    Role.AGENCY: (Binding.ORGANIZATION, NeedAccess.PARTNERS, True, False, False, False, True),
    Role.NHRI: (Binding.ORGANIZATION, NeedAccess.PARTNERS, False, True, False, False, True),
    Role.CIVIL_SOCIETY: (Binding.ORGANIZATION, NeedAccess.PARTNERS, False, True, False, False, True),
    Role.ANONYMOUS: (Binding.NOTHING, NeedAccess.PUBLIC, False, False, False, False, False),
}


def test_every_role_has_a_row():
    assert set(policy.POLICY) == set(Role)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_row_is_what_the_product_promises(role):
    row = policy.policy_of(role)
    assert (
        row.binding,
        row.needs,
        row.offers,
        row.gives_input,
        row.manages_fund,
        row.approves_allocations,
        row.holds_keys,
    ) == EXPECTED[role]


def bound(role: Role) -> Principal:
    binding = policy.policy_of(role).binding
    return Principal(
        role=role,
        state_iso3="KEN" if binding is Binding.STATE else None,
        organization_id=7 if binding is Binding.ORGANIZATION else None,
    )


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_the_helpers_read_the_table(role):
    principal, row = bound(role), policy.policy_of(role)
    assert policy.need_access(principal) is row.needs
    assert principal.is_partner == (row.needs is NeedAccess.PARTNERS)
    assert policy.may_offer(principal) == row.offers
    assert policy.may_give_input(principal) == row.gives_input
    assert policy.manages_fund(principal) == row.manages_fund


def test_binding_is_required_for_what_it_grants():
    # An organization role without its organization offers nothing and gives no input; a
    # focal point without a State sees what the public sees.
    assert not policy.may_offer(Principal(role=Role.DONOR))
    assert not policy.may_give_input(Principal(role=Role.NHRI))
    assert policy.need_access(Principal(role=Role.STATE_FOCAL_POINT)) is NeedAccess.PUBLIC
