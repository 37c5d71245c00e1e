"""Progress reports on actions (the State's), and comments on them (NHRIs and civil society).

A report is PRIVATE until the State publishes it (PARTNERS or PUBLIC); whoever may not see
its action never sees it (`visible_progress_reports`). Comments are seen with their report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.access.policy import may_give_input
from service.access.principals import Principal
from service.access.visibility import narrowest, visible_progress_reports
from service.errors import Collector, FieldError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from service.events.outbox import Kind, emit_scoped
from service.models import ImplementationAction, Indicator, IndicatorValue, ProgressComment, ProgressReport
from service.models.enums import ImplementationStatus
from service.pagination import Ordering, Page, PageArgs, SortKey, paginate_per_parent
from service.tracking.actions import UNSET, check_quantity, load_action_for_change

MAX_NARRATIVE = 20_000
MAX_LINK_LENGTH = 1_000
MAX_LINKS = 20
MAX_COMMENT = 10_000


# -- reading -------------------------------------------------------------------------------


def _visible_reports_select(principal: Principal) -> sa.Select:
    return (
        sa.select(ProgressReport)
        .join(ImplementationAction, ImplementationAction.id == ProgressReport.action_id)
        .where(visible_progress_reports(principal))
    )


def report_ordering() -> Ordering:
    """Newest first, as a tracking database shows an action's history."""
    return Ordering(
        "progress-reports:DESC",
        (
            SortKey("reported_on", ProgressReport.reported_on, True, "date"),
            SortKey("id", ProgressReport.id, True, "int"),
        ),
    )


async def reports_per_action(
    *, session: AsyncSession, principal: Principal, action_ids: Sequence[int], page: PageArgs
) -> dict[int, Page[ProgressReport]]:
    return await paginate_per_parent(
        session,
        _visible_reports_select(principal),
        ProgressReport.action_id,
        action_ids,
        report_ordering(),
        page,
        ProgressReport,
    )


async def count_reports_per_action(
    *, session: AsyncSession, principal: Principal, action_ids: Sequence[int]
) -> dict[int, int]:
    stmt = (
        sa.select(ProgressReport.action_id, sa.func.count())
        .join(ImplementationAction, ImplementationAction.id == ProgressReport.action_id)
        .where(ProgressReport.action_id.in_(list(action_ids)), visible_progress_reports(principal))
        .group_by(ProgressReport.action_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {aid: int(counts.get(aid, 0)) for aid in action_ids}


async def latest_reports(
    *, session: AsyncSession, principal: Principal, action_ids: Sequence[int]
) -> dict[int, ProgressReport | None]:
    """Each action's latest report the caller may see (by date, then ID)."""
    stmt = (
        _visible_reports_select(principal)
        .where(ProgressReport.action_id.in_(list(action_ids)))
        .distinct(ProgressReport.action_id)
        .order_by(ProgressReport.action_id, ProgressReport.reported_on.desc(), ProgressReport.id.desc())
    )
    found: dict[int, ProgressReport | None] = {aid: None for aid in action_ids}
    for row in (await session.execute(stmt)).scalars().all():
        found[row.action_id] = row
    return found


async def get_reports(*, session: AsyncSession, principal: Principal, ids: Sequence[int]) -> dict[int, ProgressReport]:
    if not ids:
        return {}
    stmt = _visible_reports_select(principal).where(ProgressReport.id.in_(list(ids)))
    return {row.id: row for row in (await session.execute(stmt)).scalars().all()}


async def indicator_values_of(
    *, session: AsyncSession, report_ids: Sequence[int]
) -> dict[int, list[tuple[IndicatorValue, Indicator]]]:
    """Callers pass only report ids the principal may see (an indicator belongs to the
    report's action, so it is visible with it)."""
    stmt = (
        sa.select(IndicatorValue, Indicator)
        .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
        .where(IndicatorValue.report_id.in_(list(report_ids)))
        .order_by(IndicatorValue.report_id, Indicator.id)
    )
    grouped: dict[int, list[tuple[IndicatorValue, Indicator]]] = {rid: [] for rid in report_ids}
    for value, indicator in (await session.execute(stmt)).all():
        grouped[value.report_id].append((value, indicator))
    return grouped


def _comments_select(principal: Principal) -> sa.Select:
    return (
        sa.select(ProgressComment)
        .join(ProgressReport, ProgressReport.id == ProgressComment.report_id)
        .join(ImplementationAction, ImplementationAction.id == ProgressReport.action_id)
        .where(visible_progress_reports(principal))
    )


def comment_ordering() -> Ordering:
    return Ordering(
        "progress-comments:ASC",
        (
            SortKey("created_at", ProgressComment.created_at, False, "datetime"),
            SortKey("id", ProgressComment.id, False, "int"),
        ),
    )


async def comments_per_report(
    *, session: AsyncSession, principal: Principal, report_ids: Sequence[int], page: PageArgs
) -> dict[int, Page[ProgressComment]]:
    return await paginate_per_parent(
        session,
        _comments_select(principal),
        ProgressComment.report_id,
        report_ids,
        comment_ordering(),
        page,
        ProgressComment,
    )


async def count_comments_per_report(
    *, session: AsyncSession, principal: Principal, report_ids: Sequence[int]
) -> dict[int, int]:
    stmt = (
        sa.select(ProgressComment.report_id, sa.func.count())
        .join(ProgressReport, ProgressReport.id == ProgressComment.report_id)
        .join(ImplementationAction, ImplementationAction.id == ProgressReport.action_id)
        .where(ProgressComment.report_id.in_(list(report_ids)), visible_progress_reports(principal))
        .group_by(ProgressComment.report_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {rid: int(counts.get(rid, 0)) for rid in report_ids}


async def get_comments(
    *, session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, ProgressComment]:
    if not ids:
        return {}
    stmt = _comments_select(principal).where(ProgressComment.id.in_(list(ids)))
    return {row.id: row for row in (await session.execute(stmt)).scalars().all()}


# -- writing -------------------------------------------------------------------------------


@dataclass
class ReportFields:
    """A progress report's editable fields; UNSET leaves a field as it is in an update.
    `indicator_values` is a list of (indicator id, value) and replaces the report's values."""

    reported_on: Any = UNSET
    status: Any = UNSET
    narrative: Any = UNSET
    evidence_links: Any = UNSET
    visibility: Any = UNSET
    indicator_values: Any = UNSET

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


def _valid_link(link: str) -> bool:
    parts = urlsplit(link)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in link)


async def _validate(
    session: AsyncSession, action: ImplementationAction, values: dict[str, Any], *, today: date
) -> None:
    errors = Collector()
    if "reported_on" in values:
        reported_on = values["reported_on"]
        if reported_on is None:
            errors.add("reportedOn", "Give the date the report speaks for.", "REQUIRED")
        elif reported_on > today:
            errors.add(
                "reportedOn",
                f"A progress report cannot be dated in the future ({reported_on}; today is {today}).",
                "FUTURE_DATE",
            )
    if "status" in values and values["status"] is None:
        errors.add("status", "Give the status: NOT_STARTED, ONGOING, PARTIAL or COMPLETED.", "REQUIRED")
    if len(values.get("narrative") or "") > MAX_NARRATIVE:
        errors.add("narrative", f"Keep the narrative under {MAX_NARRATIVE} characters.", "TOO_LONG")
    links = values.get("evidence_links") or []
    if len(links) > MAX_LINKS:
        errors.add("evidenceLinks", f"Give at most {MAX_LINKS} evidence links; got {len(links)}.", "TOO_MANY")
    for i, link in enumerate(links):
        if len(link) > MAX_LINK_LENGTH:
            errors.add(f"evidenceLinks.{i}", f"Keep each link under {MAX_LINK_LENGTH} characters.", "TOO_LONG")
        elif not _valid_link(link):
            errors.add(f"evidenceLinks.{i}", f"Not an http(s) URL: {link[:80]!r}.", "INVALID_URL")
    pairs = values.get("indicator_values") or []
    if pairs:
        ids = [indicator_id for indicator_id, _ in pairs]
        own = set(
            (
                await session.execute(
                    sa.select(Indicator.id).where(Indicator.id.in_(ids), Indicator.action_id == action.id)
                )
            )
            .scalars()
            .all()
        )
        seen: set[int] = set()
        for i, (indicator_id, value) in enumerate(pairs):
            if indicator_id not in own:
                errors.add(f"indicatorValues.{i}.indicatorId", "No indicator of this action with this id.", "NOT_FOUND")
            elif indicator_id in seen:
                errors.add(f"indicatorValues.{i}.indicatorId", "This indicator is given twice.", "DUPLICATE")
            seen.add(indicator_id)
            if value is None:
                errors.add(f"indicatorValues.{i}.value", "Give the value.", "REQUIRED")
            else:
                check_quantity(errors, f"indicatorValues.{i}.value", value)
    errors.raise_if_any()


async def _replace_values(session: AsyncSession, report_id: int, values: dict[str, Any]) -> None:
    if "indicator_values" not in values:
        return
    await session.execute(sa.delete(IndicatorValue).where(IndicatorValue.report_id == report_id))
    for indicator_id, value in values["indicator_values"] or []:
        session.add(IndicatorValue(report_id=report_id, indicator_id=indicator_id, value=Decimal(value)))


async def _snapshot(session: AsyncSession, report: ProgressReport) -> dict[str, Any]:
    values = (await indicator_values_of(session=session, report_ids=[report.id]))[report.id]
    return audit.snapshot(report) | {"indicator_values": {str(v.indicator_id): str(v.value) for v, _ in values}}


def report_event(session: AsyncSession, report: ProgressReport, action: ImplementationAction, kind: str) -> None:
    emit_scoped(
        session,
        kind,
        "ProgressReport",
        report.id,
        state=action.state_iso3,
        visibility=narrowest(action.visibility, report.visibility),
    )


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "narrative" in out:
        out["narrative"] = (out["narrative"] or "").strip()
    if "evidence_links" in out:
        out["evidence_links"] = list(dict.fromkeys(link.strip() for link in (out["evidence_links"] or [])))
    return out


async def create_report(
    *, session: AsyncSession, principal: Principal, action_id: int, values: ReportFields, today: date | None = None
) -> ProgressReport:
    action = await load_action_for_change(session, principal, action_id, field="actionId")
    given = _normalise(values.given())
    given.setdefault("reported_on", None)
    given.setdefault("status", None)
    await _validate(session, action, given, today=today or date.today())
    report = ProgressReport(
        action_id=action.id,
        reported_on=given["reported_on"],
        status=ImplementationStatus(given["status"]),
        narrative=given.get("narrative", ""),
        evidence_links=given.get("evidence_links", []),
        **({"visibility": given["visibility"]} if given.get("visibility") is not None else {}),
    )
    session.add(report)
    action.updated_at = sa.func.now()
    await session.flush()
    await _replace_values(session, report.id, given)
    await session.flush()
    await session.refresh(report)
    await session.refresh(action)
    await audit.record(
        session,
        principal=principal,
        entity_type="ProgressReport",
        entity_id=report.id,
        action="create",
        after=await _snapshot(session, report),
    )
    report_event(session, report, action, Kind.PROGRESS_REPORT_CREATED)
    return report


async def update_report(
    *, session: AsyncSession, principal: Principal, report_id: int, values: ReportFields, today: date | None = None
) -> ProgressReport:
    report = (
        await session.execute(
            _visible_reports_select(principal).where(ProgressReport.id == report_id).with_for_update(of=ProgressReport)
        )
    ).scalar_one_or_none()
    if report is None:
        if principal.is_anonymous:
            raise Unauthenticated("Sign in with an API key of this State's focal point to change its progress reports.")
        raise NotFound("No progress report with this id.", field="id")
    action = await load_action_for_change(session, principal, report.action_id)
    given = _normalise(values.given())
    await _validate(session, action, given, today=today or date.today())
    before = await _snapshot(session, report)
    for key in ("reported_on", "status", "narrative", "evidence_links", "visibility"):
        if key in given and given[key] is not None:
            setattr(report, key, given[key])
    report.updated_at = sa.func.now()
    action.updated_at = sa.func.now()
    await _replace_values(session, report.id, given)
    await session.flush()
    await session.refresh(report)
    await session.refresh(action)
    await audit.record(
        session,
        principal=principal,
        entity_type="ProgressReport",
        entity_id=report.id,
        action="update",
        before=before,
        after=await _snapshot(session, report),
    )
    report_event(session, report, action, Kind.PROGRESS_REPORT_UPDATED)
    return report


async def add_comment(*, session: AsyncSession, principal: Principal, report_id: int, body: str) -> ProgressComment:
    """NHRIs and civil society organizations comment on reports they can see (para 8, 16)."""
    if principal.is_anonymous:
        raise Unauthenticated("Sign in with an NHRI or civil society key to comment on progress.")
    found = (
        await session.execute(
            sa.select(ProgressReport, ImplementationAction)
            .join(ImplementationAction, ImplementationAction.id == ProgressReport.action_id)
            .where(ProgressReport.id == report_id, visible_progress_reports(principal))
        )
    ).one_or_none()
    if found is None:
        raise NotFound("No progress report with this id.", field="reportId")
    report, action = found
    if not may_give_input(principal):
        raise Forbidden("Only NHRIs and civil society organizations comment on progress reports.")
    text = (body or "").strip()
    if not text:
        raise ValidationFailed(errors=[FieldError("body", "The comment is empty.", "REQUIRED")])
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(
            errors=[FieldError("body", f"Keep the comment under {MAX_COMMENT} characters.", "TOO_LONG")]
        )
    comment = ProgressComment(
        report_id=report.id, organization_id=principal.organization_id, author=principal.actor, body=text
    )
    session.add(comment)
    await session.flush()
    await session.refresh(comment)
    await audit.record(
        session,
        principal=principal,
        entity_type="ProgressComment",
        entity_id=comment.id,
        action="create",
        after={"report_id": report.id, "organization_id": comment.organization_id, "body": text},
    )
    emit_scoped(
        session,
        Kind.PROGRESS_COMMENT_CREATED,
        "ProgressComment",
        comment.id,
        state=action.state_iso3,
        visibility=narrowest(action.visibility, report.visibility),
        organization_ids=[comment.organization_id],
    )
    return comment
