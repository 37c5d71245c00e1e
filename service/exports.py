"""Exports for partner systems: needs, recommendations and programmes as CSV or JSON.

Rows stream from a server-side cursor and are written as they come, so memory stays flat
whatever the size; needs are read under the principal's visibility, like every read path.
"""

from __future__ import annotations

import base64
import collections.abc
import csv
import dataclasses
import json
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO
from uuid import UUID

import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401  (sa.orm.aliased)
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.errors import InvalidInput
from service.models import (
    AssistanceNeed,
    NeedRecommendation,
    Programme,
    ProgrammeRecipientState,
    Recommendation,
    RecommendationRecommender,
    Review,
)

BATCH = 1000


def global_id(type_name: str, key: Any) -> str:
    """The API's opaque ID, so exported rows join back to `node(id:)`."""
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    return value


def _hint(annotation: Any) -> tuple[str, Any]:
    """("list", element type) or ("value", type) of a filter field's annotation."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return _hint(args[0])
    if origin in (list, tuple, collections.abc.Sequence):
        return "list", args[0] if args else str
    return "value", annotation


def parse_filters(filter_cls: type, items: list[str]) -> Any:
    """`field=v1,v2` strings into a filter dataclass (the API's filter fields, snake_case)."""
    if not items:
        return None
    known = {f.name: f for f in dataclasses.fields(filter_cls)}
    hints = typing.get_type_hints(filter_cls)
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        name = "".join("_" + c.lower() if c.isupper() else c for c in name)  # camelCase too
        if not sep or name not in known:
            raise InvalidInput(
                f"Unknown filter {item!r}; use one of: {', '.join(sorted(known))} (FIELD=VALUE[,VALUE])."
            )
        kind, element = _hint(hints[name])
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        try:
            if kind == "list":
                if isinstance(element, type) and issubclass(element, Enum):
                    values[name] = [element(p.upper()) for p in parts]
                elif element is int:
                    values[name] = [int(p) for p in parts]
                else:
                    values[name] = parts
            elif element is datetime:
                values[name] = datetime.fromisoformat(raw.strip())
            elif element is date:
                values[name] = date.fromisoformat(raw.strip())
            elif element is bool:
                values[name] = raw.strip().lower() in ("1", "true", "yes")
            elif element is str:
                values[name] = raw.strip()
            else:
                raise InvalidInput(f"The {name} filter is not available in exports; filter by other fields.")
        except ValueError as exc:
            raise InvalidInput(f"Bad value in filter {item!r}: {exc}.") from None
    return filter_cls(**values)


def _cell(value: Any) -> Any:
    """CSV cells: lists joined by ';', match objects as id=score."""
    if isinstance(value, list):
        return ";".join(f"{v['id']}={v['score']}" if isinstance(v, dict) else str(v) for v in value)
    return "" if value is None else value


class _Writer:
    def __init__(self, out: TextIO, fmt: str, columns: list[str]):
        self.out, self.fmt, self.columns, self.count = out, fmt, columns, 0
        if fmt == "csv":
            self.csv = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
            self.csv.writeheader()
        else:
            out.write("[")

    def write(self, row: dict[str, Any]) -> None:
        if self.fmt == "csv":
            self.csv.writerow({k: _cell(v) for k, v in row.items()})
        else:
            ordered = {c: row.get(c) for c in self.columns}
            self.out.write(("\n" if self.count == 0 else ",\n") + json.dumps(ordered, ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "]\n")
        self.out.flush()


def _codes(row: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


async def _stream(
    session: AsyncSession, stmt: sa.Select, writer: _Writer, shape: Callable[[Any], dict[str, Any]]
) -> int:
    result = await session.stream(stmt.execution_options(yield_per=BATCH))
    async for partition in result.mappings().partitions(BATCH):
        for row in partition:
            writer.write(shape(row))
    writer.close()
    return writer.count


async def export_needs(*, session: AsyncSession, principal: Principal, filters: list[str], writer_for) -> int:
    from service.needs import NeedFilter, visible_needs_select

    need_filter = parse_filters(NeedFilter, filters)
    base = visible_needs_select(principal, need_filter).subquery()
    need = sa.orm.aliased(AssistanceNeed, base)
    recommendation_ids = (
        sa.select(sa.func.array_agg(NeedRecommendation.recommendation_id))
        .where(NeedRecommendation.need_id == need.id)
        .scalar_subquery()
    )
    from service.models.matching import Match

    top = (
        sa.select(Match.id, Match.offer_kind, Match.programme_id, Match.capability_id, Match.score, Match.status)
        .where(Match.need_id == need.id)
        .order_by(Match.score.desc(), Match.id)
        .limit(10)
        .correlate(base)
        .subquery()
        .lateral("top")
    )
    matches = (
        sa.select(
            sa.func.coalesce(
                sa.func.jsonb_agg(
                    sa.func.jsonb_build_object(
                        "id",
                        top.c.id,
                        "kind",
                        top.c.offer_kind,
                        "offer",
                        sa.func.coalesce(top.c.programme_id, top.c.capability_id),
                        "score",
                        top.c.score,
                        "status",
                        top.c.status,
                    )
                ),
                sa.text("'[]'::jsonb"),
            )
        )
        .select_from(top)
        .scalar_subquery()
    )
    stmt = sa.select(
        need.id,
        need.state_iso3,
        need.title,
        need.description,
        need.status,
        need.visibility,
        need.themes,
        need.sectors,
        need.sdg_targets,
        need.rights_dimensions,
        need.modalities,
        need.working_languages,
        need.estimated_cost,
        need.currency,
        need.start_date,
        need.end_date,
        need.created_at,
        need.updated_at,
        recommendation_ids.label("recommendation_ids"),
        matches.label("matches"),
    ).order_by(need.id)
    columns = [
        "id",
        "state",
        "title",
        "description",
        "status",
        "visibility",
        "themes",
        "sectors",
        "sdg_targets",
        "rights_dimensions",
        "modalities",
        "working_languages",
        "estimated_cost",
        "currency",
        "start_date",
        "end_date",
        "created_at",
        "updated_at",
        "recommendation_ids",
        "matches",
    ]

    def shape(row) -> dict[str, Any]:
        data = _codes(row)
        data["id"] = global_id("Need", row["id"])
        data["state"] = data.pop("state_iso3")
        data["recommendation_ids"] = [global_id("Recommendation", r) for r in (row["recommendation_ids"] or [])]
        raw_matches = row["matches"]
        if isinstance(raw_matches, str):
            raw_matches = json.loads(raw_matches)
        data["matches"] = [
            {
                "id": global_id("Match", m["id"]),
                "offer": global_id("Programme" if m["kind"] == "PROGRAMME" else "Capability", m["offer"]),
                "score": m["score"],
                "status": m["status"],
            }
            for m in raw_matches or []
        ]
        return data

    return await _stream(session, stmt, writer_for(columns), shape)


async def export_recommendations(*, session: AsyncSession, principal: Principal, filters: list[str], writer_for) -> int:
    from service.recommendations import RecommendationFilter, recommendations_select

    base = recommendations_select(parse_filters(RecommendationFilter, filters)).subquery()
    rec = sa.orm.aliased(Recommendation, base)
    recommenders = (
        sa.select(sa.func.array_agg(RecommendationRecommender.state_iso3))
        .where(RecommendationRecommender.recommendation_id == rec.id)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            rec.id,
            rec.state_iso3,
            rec.source,
            rec.body,
            rec.symbol,
            Review.session,
            Review.cycle,
            rec.text,
            rec.response,
            rec.action_category,
            rec.themes,
            rec.sdg_targets,
            rec.affected_persons,
            rec.source_reference,
            recommenders.label("recommending_states"),
            rec.other_recommenders,
            rec.uhri_annotation_id,
            rec.updated_at,
        )
        .outerjoin(Review, Review.id == rec.review_id)  # treaty bodies and special procedures have no review
        .order_by(rec.id)
    )
    columns = [
        "id",
        "state",
        "source",
        "body",
        "symbol",
        "session",
        "cycle",
        "text",
        "response",
        "action_category",
        "themes",
        "sdg_targets",
        "affected_persons",
        "source_reference",
        "recommending_states",
        "other_recommenders",
        "uhri_id",
        "updated_at",
    ]

    def shape(row) -> dict[str, Any]:
        data = _codes(row)
        data["id"] = global_id("Recommendation", row["id"])
        data["state"] = data.pop("state_iso3")
        data["uhri_id"] = data.pop("uhri_annotation_id")
        data["recommending_states"] = row["recommending_states"] or []
        return data

    return await _stream(session, stmt, writer_for(columns), shape)


async def export_programmes(*, session: AsyncSession, principal: Principal, filters: list[str], writer_for) -> int:
    from service import programmes as programmes_service

    select_fn = programmes_service.programmes_select
    base = select_fn(parse_filters(programmes_service.ProgrammeFilter, filters)).subquery()
    prog = sa.orm.aliased(Programme, base)
    recipients = (
        sa.select(sa.func.array_agg(ProgrammeRecipientState.state_iso3))
        .where(ProgrammeRecipientState.programme_id == prog.id)
        .scalar_subquery()
    )
    stmt = sa.select(
        prog.id,
        prog.iati_identifier,
        prog.title,
        prog.description,
        prog.reporting_organization_id,
        prog.activity_status,
        prog.start_date,
        prog.end_date,
        prog.currency,
        prog.budget_amount,
        prog.committed_amount,
        prog.disbursed_amount,
        prog.open_to_requests,
        prog.is_global,
        prog.sectors,
        prog.themes,
        prog.sdg_targets,
        prog.modalities,
        prog.languages,
        recipients.label("recipient_states"),
        prog.updated_at,
    ).order_by(prog.id)
    columns = [
        "id",
        "iati_identifier",
        "title",
        "description",
        "reporting_organization_id",
        "activity_status",
        "start_date",
        "end_date",
        "currency",
        "budget_amount",
        "committed_amount",
        "disbursed_amount",
        "open_to_requests",
        "is_global",
        "sectors",
        "themes",
        "sdg_targets",
        "modalities",
        "languages",
        "recipient_states",
        "updated_at",
    ]

    def shape(row) -> dict[str, Any]:
        data = _codes(row)
        data["id"] = global_id("Programme", row["id"])
        data["reporting_organization_id"] = global_id("Organization", row["reporting_organization_id"])
        data["recipient_states"] = row["recipient_states"] or []
        return data

    return await _stream(session, stmt, writer_for(columns), shape)


EXPORTERS = {"needs": export_needs, "recommendations": export_recommendations, "programmes": export_programmes}


async def export_entities(
    *, session: AsyncSession, principal: Principal, entity: str, fmt: str, filters: list[str], out: TextIO
) -> int:
    if entity not in EXPORTERS:
        raise InvalidInput(f"Unknown export {entity!r}; one of: {', '.join(EXPORTERS)}.")
    if fmt not in ("csv", "json"):
        raise InvalidInput(f"Unknown format {fmt!r}; csv or json.")
    async with session.begin():  # server-side cursors live inside a transaction
        return await EXPORTERS[entity](
            session=session, principal=principal, filters=filters, writer_for=lambda columns: _Writer(out, fmt, columns)
        )


async def export_midterm(
    *, session: AsyncSession, principal: Principal, state_iso3: str, cycle: int, fmt: str, out: TextIO
) -> int:
    """A State's mid-term report for a cycle (see service/tracking/midterm.py), under the
    principal's visibility."""
    from service.tracking.midterm import COLUMNS, midterm_rows

    if fmt not in ("csv", "json"):
        raise InvalidInput(f"Unknown format {fmt!r}; csv or json.")
    async with session.begin():
        rows = await midterm_rows(session=session, principal=principal, state_iso3=state_iso3, cycle=cycle)
    writer = _Writer(out, fmt, COLUMNS)
    for row in rows:
        writer.write(row)
    writer.close()
    return writer.count
