"""The one answer to "which needs may this principal see?", as a SQL clause.

Every read path that touches assistance needs (lists, counts, node lookups, nested fields,
aggregates, exports) composes this predicate into its query. Nothing filters in Python.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from service.access.policy import NeedAccess, need_access
from service.access.principals import Principal
from service.models import AssistanceNeed
from service.models.enums import Visibility


def visible_needs(principal: Principal, need=AssistanceNeed) -> ColumnElement[bool]:
    """PRIVATE: its State's focal points and administrators. PARTNERS: also every
    authenticated donor, agency, NHRI and civil society organization. PUBLIC: everyone."""
    visibility = need.visibility
    access = need_access(principal)  # the role's row in service/access/policy.py
    if access is NeedAccess.ALL:
        return sa.true()
    if access is NeedAccess.OWN_STATE:
        return sa.or_(need.state_iso3 == principal.state_iso3, visibility == Visibility.PUBLIC)
    if access is NeedAccess.PARTNERS:
        return visibility.in_([Visibility.PUBLIC, Visibility.PARTNERS])
    return visibility == Visibility.PUBLIC


def visible_actions(principal: Principal, action=None) -> ColumnElement[bool]:
    """Implementation actions follow the needs' consent rule, on their own State and
    visibility (`action` defaults to the ImplementationAction table)."""
    if action is None:
        from service.models import ImplementationAction as action  # noqa: N813
    return visible_needs(principal, need=action)


def visible_progress_reports(principal: Principal, report=None, action=None) -> ColumnElement[bool]:
    """A progress report is seen by whoever may see both its action and the report itself
    (so a PUBLIC report of a PRIVATE action stays hidden). The caller joins the action."""
    from types import SimpleNamespace

    if report is None:
        from service.models import ProgressReport as report  # noqa: N813
    if action is None:
        from service.models import ImplementationAction as action  # noqa: N813
    own = SimpleNamespace(state_iso3=action.state_iso3, visibility=report.visibility)
    return sa.and_(visible_needs(principal, need=action), visible_needs(principal, need=own))


_RANK = {Visibility.PRIVATE: 0, Visibility.PARTNERS: 1, Visibility.PUBLIC: 2}


def narrowest(*visibilities: Visibility) -> Visibility:
    """The visibility that admits only those admitted by all: what an event about a report
    records (its action's and its own, the narrower of the two)."""
    return min((Visibility(v) for v in visibilities), key=_RANK.__getitem__)
