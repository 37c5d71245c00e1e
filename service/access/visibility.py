"""The one answer to "which needs may this principal see?", as a SQL clause.

Every read path that touches assistance needs (lists, counts, node lookups, nested fields,
aggregates, exports) composes this predicate into its query. Nothing filters in Python.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from service.access.principals import Principal, Role
from service.models import AssistanceNeed
from service.models.enums import Visibility


def visible_needs(principal: Principal, need=AssistanceNeed) -> ColumnElement[bool]:
    """PRIVATE: its State's focal points and administrators. PARTNERS: also every
    authenticated donor, agency, NHRI and civil society organization. PUBLIC: everyone."""
    visibility = need.visibility
    if principal.role is Role.ADMINISTRATOR:
        return sa.true()
    if principal.role is Role.STATE_FOCAL_POINT and principal.state_iso3:
        return sa.or_(need.state_iso3 == principal.state_iso3, visibility == Visibility.PUBLIC)
    if principal.is_partner:
        return visibility.in_([Visibility.PUBLIC, Visibility.PARTNERS])
    return visibility == Visibility.PUBLIC
