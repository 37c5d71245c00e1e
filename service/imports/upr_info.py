"""Import UPR Info database exports: recommendations, voluntary pledges and their reviews.

The layout is UPR Info's export as published (see ``../shared/data/upr-info/``): columns To,
To-Rgrp, To-Org, Text, From, From-Rgrp, From-Org, Response, Action, Issue, Session; Mac Roman
with bare CR line endings, or UTF-8 (with or without BOM) with any line endings. Cells may hold
HTML entities (``&#40;Unknown&#41;``), which are decoded.

One row is one Recommendation, identified by (State under review, session, recommending State,
whitespace-normalised text) through ``Recommendation.identity_key``. UPR Info lists a joint
recommendation once per recommending State: those rows stay separate recommendations and share
``related_key``. A recommendation the UHRI import created earlier for the same State, session
and text (``service.imports.uhri.match_text``) becomes the row instead of a duplicate. Rows whose Response is "Voluntary Pledge" (From is then the State itself) are
Pledges, identified by (State, session, text). Reviews are found or created per (State,
session). Re-importing creates nothing; a changed Response, Action or Issue updates the row in
place (with an audit "update" event); the text, State or recommender cannot change, since they
are the identity.

A row is REJECTED when its State under review cannot be resolved, its text is empty or its
session is not a number. A recommender that is not a State ("European Union", "(Unknown)") is
kept as text in ``other_recommenders`` with a WARNING, as are unknown responses, action
categories and issues. A file is REFUSED (ImportRefused) when its header lacks the columns.

Speed: every file is parsed first; then one query per 10,000 keys finds what exists, new rows
go in with multi-row INSERT … RETURNING in chunks of 1,000, changed ones with one executemany
UPDATE, and audit events in bulk — all in the caller's transaction, inside a SAVEPOINT that a
dry run rolls back.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.audit import _jsonable
from service.events import outbox
from service.events import record as event_log
from service.imports.report import ImportRefused, ImportReport
from service.imports.state_names import StateNameResolver, load_resolver
from service.models import AuditEvent, Pledge, Recommendation, RecommendationRecommender, Review
from service.models.enums import RecommendationResponse
from service.models.recommendations import upr_cycle_of_session

Progress = Callable[[int, int | None], None]

LAYOUT = ("To", "To-Rgrp", "To-Org", "Text", "From", "From-Rgrp", "From-Org", "Response", "Action", "Issue", "Session")
# The columns the import reads; the regional group / organization columns may be absent.
REQUIRED_COLUMNS = ("To", "Text", "From", "Response", "Action", "Issue", "Session")
ISSUE_THEMES_FILE = Path(__file__).parent / "data" / "upr_info_issue_themes.csv"
RESPONSES = {
    "accepted": RecommendationResponse.SUPPORTED,
    "supported": RecommendationResponse.SUPPORTED,
    "noted": RecommendationResponse.NOTED,
}
PLEDGE_RESPONSE = "voluntary pledge"
INSERT_CHUNK = 1000  # rows per multi-row INSERT … RETURNING
KEY_CHUNK = 10_000  # identity keys per look-up query
_SESSION = re.compile(r"^\d+(?:\.0+)?$")
_ACTION = re.compile(r"^[1-5](?:\.0+)?$")


# ------------------------------------------------------------------ reading


def decode(raw: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8 (BOM dropped), else Mac Roman (UPR Info's own
    exports); CR and CRLF line endings become LF."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("mac_roman")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean(value: str | None) -> str:
    """A cell as we store and compare it: entities decoded, NFC, whitespace collapsed."""
    if not value:
        return ""
    return " ".join(unicodedata.normalize("NFC", html.unescape(value)).split())


def read_records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(1-based data row number, {column: cleaned cell}) for every non-blank row. Raises
    ImportRefused for a file whose header lacks the columns."""
    reader = csv.reader(io.StringIO(decode(path.read_bytes())))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ImportRefused(str(path), "empty file: no header row")
    index = {h.strip().casefold(): i for i, h in enumerate(header)}
    missing = [c for c in REQUIRED_COLUMNS if c.casefold() not in index]
    if missing:
        raise ImportRefused(
            str(path),
            f"not a UPR Info export: the header lacks the column(s) {', '.join(missing)} "
            f"(expected {', '.join(LAYOUT)})",
        )
    columns = {c: index[c.casefold()] for c in REQUIRED_COLUMNS}
    for number, record in enumerate(reader, start=1):
        if not any(cell.strip() for cell in record):
            continue
        yield number, {c: clean(record[i]) if i < len(record) else "" for c, i in columns.items()}


def read_issue_themes(path: Path = ISSUE_THEMES_FILE) -> dict[str, str]:
    """UPR Info issue (case-folded) -> theme code, from the mapping data."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {clean(row["upr_info_issue"]).casefold(): row["theme"].strip() for row in csv.DictReader(f)}


def _sha256(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def relation_text(text: str) -> str:
    """The text as joint rows are related on: case-folded, trailing punctuation dropped (UPR
    Info copies of one joint recommendation differ in a final full stop)."""
    return text.casefold().rstrip(" .;:,")


# ------------------------------------------------------------------ one row


@dataclass(slots=True)
class Row:
    """A data row, read and resolved; `kind` says whether it is a recommendation or a pledge."""

    file: str
    position: str  # "row 17"
    kind: str  # "recommendation" | "pledge"
    state: str
    session: int
    text: str
    recommender: str | None  # ISO3 of a recommending State
    other_recommender: str | None  # a recommender that is not a State, as written
    response: RecommendationResponse | None
    action: int | None
    issues: list[str]
    themes: list[str]
    identity_key: str
    related_key: str | None

    def content(self) -> tuple[Any, ...]:
        """What a re-import may change in place."""
        return (self.response, self.action, tuple(self.issues))


@dataclass
class _Parser:
    """Turns records into Rows, reporting rejections and warnings as it goes."""

    report: ImportReport
    states: StateNameResolver
    issue_themes: dict[str, str]
    rows: dict[str, Row] = field(default_factory=dict)  # identity key -> first row

    def take(self, file: str, number: int, cells: dict[str, str]) -> None:
        report = self.report
        report.read += 1
        position = f"row {number}"
        problems: list[str] = []
        to, text, raw_session = cells["To"], cells["Text"], cells["Session"]
        state = self.states.resolve(to) if to else None
        if not to:
            problems.append("no State under review (To is empty)")
        elif state is None:
            report.unresolved_names[to] += 1
            problems.append(f"State under review {to!r} could not be resolved to a State")
        if not text:
            problems.append("empty Text")
        session = int(float(raw_session)) if _SESSION.match(raw_session) else None
        if session is None:
            problems.append(f"Session {raw_session!r} is not a session number" if raw_session else "no Session")
        elif session < 1:
            problems.append(f"Session {raw_session!r} is not a session number (must be 1 or more)")
        if problems:
            report.reject(file, position, "; ".join(problems))
            return
        assert state is not None and session is not None
        warn = lambda reason: report.warn(file, position, reason)  # noqa: E731

        response_text = cells["Response"]
        pledge = response_text.casefold() == PLEDGE_RESPONSE
        response = None if pledge else RESPONSES.get(response_text.casefold())
        if not pledge and response is None:
            warn(
                f"Response {response_text!r} is neither Accepted nor Noted; imported without a response"
                if response_text
                else "no Response; imported without a response"
            )
        action_text = cells["Action"]
        action = int(float(action_text)) if _ACTION.match(action_text) else None
        if action_text and action is None:
            warn(f"Action {action_text!r} is not a UPR Info action category (1-5); left empty")
        issues = [i for i in (clean(p) for p in cells["Issue"].split(",")) if i]
        themes: set[str] = set()
        for issue in issues:
            theme = self.issue_themes.get(issue.casefold())
            if theme is None:
                warn(f"UPR Info issue {issue!r} maps to no theme; kept as an issue only")
            else:
                themes.add(theme)

        recommender = other = None
        if pledge:
            identity = _sha256("pledge", state, str(session), text)
            related = None
        else:
            name = cells["From"]
            recommender = self.states.resolve(name) if name else None
            if not name:
                warn("no recommending State (From is empty)")
            elif recommender is None:
                other = name
                report.unresolved_names[name] += 1
                what = "is not a State" if self.states.is_known_non_state(name) else "could not be resolved to a State"
                warn(f"recommender {name!r} {what}; kept as text in other_recommenders")
            by = recommender or (other or "").casefold()
            identity = _sha256(state, str(session), by, text)
            related = _sha256(state, str(session), relation_text(text))
        row = Row(
            file=file, position=position, kind="pledge" if pledge else "recommendation", state=state,
            session=session, text=text, recommender=recommender, other_recommender=other, response=response,
            action=action, issues=issues, themes=sorted(themes), identity_key=identity, related_key=related,
        )  # fmt: skip
        first = self.rows.get(identity)
        if first is None:
            self.rows[identity] = row
        elif first.content() == row.content():
            report.unchanged += 1
            warn(f"same {row.kind} as {first.file} {first.position}; counted once")
        else:
            report.reject(
                file,
                position,
                f"same {row.kind} as {first.file} {first.position} but with a different Response, Action or Issue",
            )


# ------------------------------------------------------------------ writing


def _any(column: Any, values: Sequence[Any], item_type: Any = None) -> Any:
    """column = ANY(array): one bind parameter however many values."""
    return column == sa.any_(sa.literal(list(values), ARRAY(item_type if item_type is not None else sa.Text())))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Writer:
    session: AsyncSession
    principal: Principal
    report: ImportReport
    progress: Progress | None
    total: int
    issue_themes: dict[str, str]
    now: Any = None
    done: int = 0
    review_ids: dict[tuple[str, int], int] = field(default_factory=dict)

    def tick(self, rows: int) -> None:
        self.done += rows
        if self.progress:
            self.progress(min(self.done, self.total), self.total)

    def event(
        self, entity_type: str, entity_id: int, action: str, before: Any, after: Any, file: str
    ) -> dict[str, Any]:
        p = self.principal
        return {
            "actor": p.actor,
            "actor_role": p.role.value,
            "actor_state_iso3": p.state_iso3,
            "actor_organization_id": p.organization_id,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "action": action,
            "before": _jsonable(before) if before is not None else None,
            "after": _jsonable(after) if after is not None else None,
            "reason": f"UPR Info import of {Path(file).name}",
        }

    async def audit(self, events: list[dict[str, Any]]) -> None:
        for chunk in _chunks(events, INSERT_CHUNK * 5):
            await self.session.execute(sa.insert(AuditEvent.__table__), list(chunk))
        event_log.from_audit_rows(self.session, events)

    async def write(self, rows: list[Row]) -> None:
        self.now = (await self.session.execute(sa.select(sa.func.now()))).scalar_one()
        await self.reviews(rows)
        await self.entities(Recommendation, [r for r in rows if r.kind == "recommendation"])
        await self.entities(Pledge, [r for r in rows if r.kind == "pledge"])

    async def reviews(self, rows: list[Row]) -> None:
        """Find or create the Review of every (State, session) the rows name."""
        table = Review.__table__
        wanted: dict[tuple[str, int], Row] = {}
        for row in rows:
            wanted.setdefault((row.state, row.session), row)
        if not wanted:
            return
        states = sorted({state for state, _ in wanted})
        stmt = sa.select(table.c.id, table.c.state_iso3, table.c.session).where(_any(table.c.state_iso3, states))
        for rid, state, session in (await self.session.execute(stmt)).all():
            self.review_ids[(state, session)] = rid
        missing = [key for key in wanted if key not in self.review_ids]
        events = []
        for chunk in _chunks(missing, INSERT_CHUNK):
            values = [
                {
                    "state_iso3": state,
                    "session": session,
                    "cycle": upr_cycle_of_session(session),
                    "year": 2008 + (session - 1) // 3,
                }
                for state, session in chunk
            ]
            result = await self.session.execute(sa.insert(table).returning(*table.c), values)
            for created in result.mappings().all():
                key = (created["state_iso3"], created["session"])
                self.review_ids[key] = created["id"]
                events.append(self.event("Review", created["id"], "create", None, dict(created), wanted[key].file))
        if missing:
            self.report.created_by_type["Review"] += len(missing)
        await self.audit(events)

    async def entities(self, model: type[Recommendation] | type[Pledge], rows: list[Row]) -> None:
        """Create the new rows, update the changed ones, count the unchanged."""
        if not rows:
            return
        table = model.__table__
        stored: dict[str, dict[str, Any]] = {}
        columns = [table.c.id, table.c.identity_key, table.c.action_category, table.c.upr_info_issues, table.c.themes]
        if model is Recommendation:
            columns.append(table.c.response)
        for chunk in _chunks([r.identity_key for r in rows], KEY_CHUNK):
            stmt = sa.select(*columns).where(_any(table.c.identity_key, chunk))
            for found in (await self.session.execute(stmt)).mappings():
                stored[found["identity_key"]] = dict(found)
        new: list[Row] = []
        changed: list[tuple[Row, dict[str, Any]]] = []
        for row in rows:
            old = stored.get(row.identity_key)
            if old is None:
                new.append(row)
            elif (old.get("response"), old["action_category"], tuple(old["upr_info_issues"])) == row.content():
                self.report.unchanged += 1
            else:
                changed.append((row, old))
        self.tick(len(rows) - len(new) - len(changed))
        if model is Recommendation and new:
            adopted = await self.adopt_uhri(new)
            new = [row for row in new if row.identity_key not in adopted]
            self.tick(len(adopted))
        for chunk in _chunks(new, INSERT_CHUNK):
            await self.create(model, list(chunk))
            self.tick(len(chunk))
        if changed:
            await self.update(model, changed)
            self.tick(len(changed))

    async def adopt_uhri(self, rows: list[Row]) -> set[str]:
        """A recommendation the UHRI import created before this UPR Info row was imported (same
        State, session and text by the UHRI match rule) becomes this row instead of getting a
        duplicate: it takes the row's identity, text, action category, issues, response and
        recommending State, as a UPR Info row matched by the UHRI import would have. Returns
        the identity keys of the rows so placed."""
        from service.imports.uhri import match_text

        table, review = Recommendation.__table__, Review.__table__
        pairs = sorted({(r.state, r.session) for r in rows})
        stmt = (
            sa.select(*[c for c in table.c if c.key != "search_vector"], review.c.session.label("_session"))
            .join(review, review.c.id == table.c.review_id)
            .where(
                table.c.identity_key.is_(None),
                table.c.uhri_annotation_id.is_not(None),
                sa.tuple_(table.c.state_iso3, review.c.session).in_(pairs),
            )
            .order_by(table.c.id)
        )
        candidates: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
        for found in (await self.session.execute(stmt)).mappings():
            old = dict(found)
            key = (old["state_iso3"], old.pop("_session"), match_text(old["text"]))
            candidates.setdefault(key, []).append(old)
        if not candidates:
            return set()
        claimed: list[tuple[Row, dict[str, Any]]] = []
        for row in rows:
            olds = candidates.get((row.state, row.session, match_text(row.text)))
            if olds:
                claimed.append((row, olds.pop(0)))
        if not claimed:
            return set()
        link = RecommendationRecommender.__table__
        ids = [old["id"] for _, old in claimed]
        recommenders: dict[int, list[str]] = {i: [] for i in ids}
        stmt = sa.select(link.c.recommendation_id, link.c.state_iso3).where(
            _any(link.c.recommendation_id, ids, sa.Integer())
        )
        for rid, state in (await self.session.execute(stmt.order_by(link.c.state_iso3))).all():
            recommenders[rid].append(state)
        params, events, links = [], [], []
        for row, old in claimed:
            change = {
                "identity_key": row.identity_key, "related_key": row.related_key, "text": row.text,
                "action_category": row.action, "upr_info_issues": row.issues,
                "themes": sorted(set(old["themes"]) | set(row.themes)),
                "response": row.response if row.response is not None else old["response"],
                "other_recommenders": [row.other_recommender] if row.other_recommender else [],
                "updated_at": self.now,
            }  # fmt: skip
            params.append({"_id": old["id"]} | {f"_{k}": v for k, v in change.items()})
            before = old | {"recommenders": recommenders[old["id"]]}
            after = before | change | {"recommenders": [row.recommender] if row.recommender else []}
            events.append(self.event("Recommendation", old["id"], "update", before, after, row.file))
            if row.recommender:
                links.append({"recommendation_id": old["id"], "state_iso3": row.recommender})
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({k[1:]: sa.bindparam(k, type_=table.c[k[1:]].type) for k in params[0] if k != "_id"})
        )
        await self.session.execute(stmt, params)
        await self.session.execute(sa.delete(link).where(_any(link.c.recommendation_id, ids, sa.Integer())))
        if links:
            await self.session.execute(sa.insert(link), links)
        await self.audit(events)
        self.report.updated += len(claimed)
        return {row.identity_key for row, _ in claimed}

    def values(self, model: type[Recommendation] | type[Pledge], row: Row) -> dict[str, Any]:
        common = {
            "review_id": self.review_ids[(row.state, row.session)],
            "state_iso3": row.state,
            "text": row.text,
            "action_category": row.action,
            "themes": row.themes,
            "upr_info_issues": row.issues,
            "identity_key": row.identity_key,
        }
        if model is Pledge:
            return common
        return common | {
            "response": row.response,
            "other_recommenders": [row.other_recommender] if row.other_recommender else [],
            "related_key": row.related_key,
        }

    async def create(self, model: type[Recommendation] | type[Pledge], rows: list[Row]) -> None:
        table = model.__table__
        values = [self.values(model, row) for row in rows]
        result = await self.session.execute(sa.insert(table).returning(table.c.id, table.c.identity_key), values)
        ids = {key: rid for rid, key in result.all()}
        defaults = {c.key: None for c in table.c if c.key != "search_vector"} | {
            "created_at": self.now, "updated_at": self.now, "sdg_targets": [], "affected_persons": [],
        }  # fmt: skip
        if model is Pledge:
            defaults = {k: v for k, v in defaults.items() if k in table.c}
        name = model.__name__
        events = []
        links = []
        for row, value in zip(rows, values):
            rid = ids[row.identity_key]
            after = defaults | value | {"id": rid}
            if model is Recommendation:
                after["recommenders"] = [row.recommender] if row.recommender else []
                if row.recommender:
                    links.append({"recommendation_id": rid, "state_iso3": row.recommender})
            events.append(self.event(name, rid, "create", None, after, row.file))
        if links:
            await self.session.execute(sa.insert(RecommendationRecommender.__table__), links)
        await self.audit(events)
        self.report.created += len(rows)
        self.report.created_by_type[name] += len(rows)

    async def update(
        self, model: type[Recommendation] | type[Pledge], changed: list[tuple[Row, dict[str, Any]]]
    ) -> None:
        """Response, action category and issues in place; themes derived from the old issues
        are replaced by those of the new ones (themes curated by hand stay)."""
        table = model.__table__
        ids = [old["id"] for _, old in changed]
        columns = [c for c in table.c if c.key != "search_vector"]
        before = {
            r["id"]: dict(r)
            for r in (
                await self.session.execute(sa.select(*columns).where(_any(table.c.id, ids, sa.Integer())))
            ).mappings()
        }
        if model is Recommendation:
            link = RecommendationRecommender.__table__
            for b in before.values():
                b["recommenders"] = []
            stmt = sa.select(link.c.recommendation_id, link.c.state_iso3).where(
                _any(link.c.recommendation_id, ids, sa.Integer())
            )
            for rid, state in (await self.session.execute(stmt.order_by(link.c.state_iso3))).all():
                before[rid]["recommenders"].append(state)
        params = []
        events = []
        for row, old in changed:
            derived = {
                self.issue_themes[i.casefold()] for i in old["upr_info_issues"] if i.casefold() in self.issue_themes
            }
            themes = sorted((set(old["themes"]) - derived) | set(row.themes))
            change = {
                "action_category": row.action,
                "upr_info_issues": row.issues,
                "themes": themes,
                "updated_at": self.now,
            }
            if model is Recommendation:
                change["response"] = row.response
            params.append({"_id": old["id"]} | {f"_{k}": v for k, v in change.items()})
            events.append(
                self.event(model.__name__, old["id"], "update", before[old["id"]], before[old["id"]] | change, row.file)
            )
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({k[1:]: sa.bindparam(k, type_=table.c[k[1:]].type) for k in params[0] if k != "_id"})
        )
        await self.session.execute(stmt, params)
        await self.audit(events)
        self.report.updated += len(changed)


# ------------------------------------------------------------------ the import


async def import_upr_info(
    *,
    session: AsyncSession,
    principal: Principal,
    files: Sequence[Path],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import UPR Info export files in the caller's transaction (committing is the caller's
    decision). Raises ImportRefused, having written nothing, for a file without the columns."""
    started = time.perf_counter()
    paths = [Path(f) for f in files]
    report = ImportReport(source="upr-info", files=[str(p) for p in paths], dry_run=dry_run)
    states = await load_resolver(session)
    if not states.tiers[1]:
        raise ImportRefused(
            str(paths[0]) if paths else "", "the database holds no States: run `tcgraph load-reference` first"
        )
    parser = _Parser(report=report, states=states, issue_themes=read_issue_themes())
    for path in paths:
        for number, cells in read_records(path):
            parser.take(str(path), number, cells)
    rows = list(parser.rows.values())
    queued = outbox.mark(session)
    savepoint = await session.begin_nested()
    try:
        writer = _Writer(
            session=session,
            principal=principal,
            report=report,
            progress=progress,
            total=len(rows),
            issue_themes=parser.issue_themes,
        )
        await writer.write(rows)
    except BaseException:
        await savepoint.rollback()
        outbox.discard_since(session, queued)
        raise
    if dry_run:
        await savepoint.rollback()
        outbox.discard_since(session, queued)
    else:
        await savepoint.commit()
    report.seconds = time.perf_counter() - started
    return report
