"""Import the Universal Human Rights Index (UHRI) JSON export: recommendations of the UPR, the
treaty bodies and the special procedures.

The export is one JSON array of annotation records (``export-full-en.json``, ~360 MB), read
as a stream (ijson) and written in batches of 1,000 records: what stays in memory per record
is ~0.15 KB to catch a duplicate AnnotationId, plus the event each change queues until the
commit (as in every import). The fields read (names compared case-insensitively; any other field is ignored):

AnnotationId (UUID, the identity: re-importing updates that row, never adds one), Symbol,
Text (HTML), PublicationDate (ISO 8601), AnnotationType, Countries, AffectedPersons, Themes,
SDGs/Sdgs ("16.2 - Protect children …"), Regions (not stored: the State has its region),
Body ("- CRC", "- UPR", "- SR Torture"), and for UPR records UprSession, UprPositions
(Supported/Noted) and UprRecommendingCountry.

What becomes what:

- Only recommendations: a record whose AnnotationType is not a recommendation (e.g.
  "Concerns/Observations") is SKIPPED, as is one addressed to no State (a thematic report)
  or to several. Skipped records are reported but do not stop the import.
- Body "UPR" → a UPR recommendation with its review (State, UprSession). Before creating one,
  the import looks for the UPR Info row of the same State, session and text (the match rule
  below) that has no UHRI id yet; when there is one, the UHRI id, symbol, publication date,
  UHRI themes, SDG targets and affected persons are recorded on it instead. UPR Info lists a
  joint recommendation once per recommending State; the UHRI id goes on the lowest-id row of
  them (they share ``related_key``).
- A treaty body (CAT, CCPR, CED, CEDAW, CERD, CESCR, CMW, CRC, CRPD, SPT; long names folded
  into these) → source TREATY_BODY with that body; a special procedure ("SR …", "IE …",
  "WG …") → SPECIAL_PROCEDURE with the mandate as its body. Neither has a review.
- A leading paragraph number ("140.7 Ratify …", "18. The Committee …") moves from the text
  into ``source_reference`` ("A/HRC/43/15, para. 140.7"); for UPR records a trailing
  "(Maldives) (Portugal);" naming recommending States is dropped from the text, since they
  are the recommending States.
- Themes: the UHRI theme names are kept in ``uhri_themes``; ``themes`` gets the theme codes
  they map to (``data/uhri_theme_themes.csv``). SDG entries give their target code ("16.2")
  when it is a known target; affected persons are kept as written.

The match rule (UHRI text against UPR Info text, same State and session): both texts are
NFKC-normalised, case-folded, stripped of every quotation mark (straight, curly, guillemets),
with dashes unified to "-", whitespace collapsed and trailing " .;:," dropped; equal results
match.

A record is REJECTED, with its file, position and reason, when it has no AnnotationId or not a
UUID, no text, a country that cannot be resolved to a State, an unknown Body, a PublicationDate
that is not a date, a UPR record without a session number, or the same AnnotationId as an
earlier record with different content. A file that is not a JSON array, or not valid JSON, is
REFUSED (ImportRefused) and nothing is written, even if earlier batches were.

Everything runs in the caller's transaction, inside a SAVEPOINT that a dry run rolls back.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
import struct
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ijson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.audit import _jsonable
from service.events import outbox
from service.events import record as event_log
from service.imports.report import ImportRefused, ImportReport
from service.imports.state_names import StateNameResolver, load_resolver, normalise_name
from service.imports.upr_info import _any, _chunks, read_issue_themes
from service.models import AuditEvent, Recommendation, RecommendationRecommender, Review, SdgTarget
from service.models.enums import RecommendationResponse, RecommendationSource
from service.models.recommendations import upr_cycle_of_session

Progress = Callable[[int, int | None], None]

UHRI_THEMES_FILE = Path(__file__).parent / "data" / "uhri_theme_themes.csv"
BATCH = 1000  # records parsed, then written, at a time
MAX_BODY_LENGTH = MAX_SYMBOL_LENGTH = 200  # the columns' sizes
INSERT_CHUNK = 1000

TREATY_BODIES = ("CAT", "CCPR", "CED", "CEDAW", "CERD", "CESCR", "CMW", "CRC", "CRPD", "SPT")
TREATY_BODY_NAMES = {
    "committee against torture": "CAT",
    "human rights committee": "CCPR",
    "committee on enforced disappearances": "CED",
    "committee on the elimination of discrimination against women": "CEDAW",
    "committee on the elimination of racial discrimination": "CERD",
    "committee on economic, social and cultural rights": "CESCR",
    "committee on migrant workers": "CMW",
    "committee on the rights of the child": "CRC",
    "committee on the rights of persons with disabilities": "CRPD",
    "subcommittee on prevention of torture": "SPT",
}
_SPECIAL_PROCEDURE_PREFIX = re.compile(r"^(?:SR|IE|WG|SP)\b")
_SPECIAL_PROCEDURE_WORDS = ("special rapporteur", "independent expert", "working group")
_GENERIC_SPECIAL_PROCEDURES = "special procedures"
POSITIONS = {
    "supported": RecommendationResponse.SUPPORTED,
    "accepted": RecommendationResponse.SUPPORTED,
    "noted": RecommendationResponse.NOTED,
}

_TAG = re.compile(r"<[^>]+>")
_PARAGRAPH = re.compile(r"^(\d{1,3}(?:\.\d{1,3})*)(?:\.\s*|\s+)(?=[A-Z\"'“‘(])")
_TRAILING_GROUP = re.compile(r"\s*\(([^()]*)\)[\s;,.]*$")
_SDG_TARGET = re.compile(r"^\s*(\d{1,2}\.[0-9a-z]{1,2})(?![0-9a-z.])", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
_QUOTES = dict.fromkeys(map(ord, "'\"‘’‚‛“”„‟«»‹›`´′″"), None)
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−"), "-")


# ------------------------------------------------------------------ reading


def clean_text(value: Any) -> str:
    """HTML tags dropped, entities decoded, NFC, whitespace collapsed."""
    if not isinstance(value, str) or not value:
        return ""
    text = html.unescape(_TAG.sub(" ", value))
    return " ".join(unicodedata.normalize("NFC", text).split())


def match_text(text: str) -> str:
    """The form UHRI and UPR Info texts are compared in (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES).casefold()
    return " ".join(folded.split()).rstrip(" .;:,")


def read_uhri_themes(path: Path = UHRI_THEMES_FILE) -> dict[str, str]:
    """UHRI theme name (case-folded) -> theme code, from the mapping data."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {clean_text(row["uhri_theme"]).casefold(): row["theme"].strip() for row in csv.DictReader(f)}


def read_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(1-based position in the array, record) for every element of the file's top-level
    array, as a stream. Raises ImportRefused for a file that is not a JSON array or not JSON."""
    with path.open("rb") as f:
        head = f.read(3)
        if head != b"\xef\xbb\xbf":
            f.seek(0)
        start = f.tell()
        first = b""
        while True:
            byte = f.read(1)
            if not byte or not byte.isspace():
                first = byte
                break
        if first != b"[":
            what = "an empty file" if not first else "not a JSON array"
            raise ImportRefused(str(path), f"not a UHRI export: {what} (expected a JSON array of annotation records)")
        f.seek(start)
        number = 0
        try:
            for number, record in enumerate(ijson.items(f, "item", use_float=True), start=1):
                yield number, record
        except ijson.JSONError as error:
            raise ImportRefused(str(path), f"not valid JSON after record {number}: {error}") from None


def _field(record: dict[str, Any], *names: str) -> Any:
    """A field by any of its names, compared case-insensitively (SDGs / Sdgs)."""
    for name in names:
        if name in record:
            return record[name]
    wanted = {n.casefold() for n in names}
    for key, value in record.items():
        if isinstance(key, str) and key.casefold() in wanted:
            return value
    return None


def _strings(value: Any) -> list[str]:
    """A list field as cleaned, non-empty, de-duplicated strings (a lone string is a list of one)."""
    if value is None:
        return []
    items = [value] if isinstance(value, (str, int, float)) else value if isinstance(value, list) else []
    out: list[str] = []
    for item in items:
        text = clean_text(str(item)) if isinstance(item, (str, int, float)) else ""
        if text and text not in out:
            out.append(text)
    return out


def _dashless(value: str) -> str:
    """UHRI writes "- CRC", "- Concerns/Observations"."""
    return value.strip().lstrip("-").strip()


def classify_body(value: Any) -> tuple[RecommendationSource, str | None] | None:
    """(source, body) of a Body field, or None when it names no mechanism we know."""
    parts = [_dashless(p) for p in (_strings(value) if isinstance(value, list) else clean_text(value).split(";"))]
    parts = [p for p in parts if p]
    generic = any(p.casefold() == _GENERIC_SPECIAL_PROCEDURES for p in parts)
    for part in parts:
        folded = part.casefold()
        if folded in ("upr", "universal periodic review"):
            return RecommendationSource.UPR, None
        if part.upper() in TREATY_BODIES:
            return RecommendationSource.TREATY_BODY, part.upper()
        if folded in TREATY_BODY_NAMES:
            return RecommendationSource.TREATY_BODY, TREATY_BODY_NAMES[folded]
    for part in parts:
        if part.casefold() == _GENERIC_SPECIAL_PROCEDURES:
            continue
        if _SPECIAL_PROCEDURE_PREFIX.match(part) or any(w in part.casefold() for w in _SPECIAL_PROCEDURE_WORDS):
            return RecommendationSource.SPECIAL_PROCEDURE, part
    if generic:
        return RecommendationSource.SPECIAL_PROCEDURE, "Special Procedures"
    return None


def parse_date(value: Any) -> date | None:
    """An ISO 8601 date or date-time as a date; None when empty. Raises ValueError."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(value)
    text = value.strip()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return date.fromisoformat(text)


# ------------------------------------------------------------------ one record


@dataclass(slots=True)
class Row:
    """A recommendation record, read and resolved."""

    file: str
    position: str  # "record 17 (a9ceae8c-…)"
    annotation_id: uuid.UUID
    source: RecommendationSource
    body: str | None
    symbol: str | None
    publication_date: date | None
    state: str
    session: int | None  # UPR only
    text: str
    source_reference: str | None
    response: RecommendationResponse | None
    recommenders: list[str]
    other_recommenders: list[str]
    uhri_themes: list[str]
    themes: list[str]
    sdg_targets: list[str]
    affected_persons: list[str]

    def digest(self) -> bytes:
        """What two records with the same AnnotationId must agree on (16 bytes: kept per record)."""
        content = [getattr(self, name) for name in self.__slots__ if name not in ("file", "position")]  # type: ignore[attr-defined]
        return hashlib.blake2b(repr(content).encode("utf-8"), digest_size=16).digest()


@dataclass
class _Parser:
    report: ImportReport
    states: StateNameResolver
    uhri_themes: dict[str, str]
    sdg_targets: set[str]
    # Every AnnotationId read, for duplicates: UUID as int -> digest + record number + file
    # index, packed into one bytes object (~150 bytes a record for the whole export).
    seen: dict[int, bytes] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    warned: set[str] = field(default_factory=set)

    def warn_once(self, file: str, position: str, key: str, reason: str) -> None:
        """Vocabulary gaps repeat across thousands of records: said once, where first seen."""
        if key not in self.warned:
            self.warned.add(key)
            self.report.warn(file, position, reason + " (reported once, where first seen)")

    def take(self, file: str, number: int, record: Any) -> Row | None:
        report = self.report
        report.read += 1
        position = f"record {number}"
        if not isinstance(record, dict):
            report.reject(file, position, f"not a JSON object but {type(record).__name__}")
            return None
        raw_id = _field(record, "AnnotationId")
        annotation_id: uuid.UUID | None = None
        if isinstance(raw_id, str) and raw_id.strip():
            try:
                annotation_id = uuid.UUID(raw_id.strip())
            except ValueError:
                pass
            position = f"record {number} ({raw_id.strip()[:60]})"
        if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
            report.reject(file, position, "no AnnotationId")
            return None
        if annotation_id is None:
            report.reject(file, position, f"AnnotationId {str(raw_id)[:60]!r} is not a UUID")
            return None

        kind = _dashless(clean_text(_field(record, "AnnotationType")))
        if kind and not kind.casefold().startswith("recommendation"):
            report.skip(file, position, f"AnnotationType {kind!r} is not a recommendation")
            return None
        countries = _strings(_field(record, "Countries"))
        if not countries:
            report.skip(file, position, "no country: a thematic recommendation addressed to no State")
            return None
        if len(countries) > 1:
            report.skip(
                file,
                position,
                f"addressed to {len(countries)} countries ({', '.join(countries[:5])}); a recommendation here belongs to one State",
            )
            return None

        problems: list[str] = []
        state = self.states.resolve(countries[0])
        if state is None:
            report.unresolved_names[countries[0]] += 1
            problems.append(f"country {countries[0]!r} could not be resolved to a State")
        raw_body = _field(record, "Body")
        mechanism = classify_body(raw_body)
        if mechanism is None:
            shown = clean_text(raw_body if isinstance(raw_body, str) else "; ".join(_strings(raw_body)))
            problems.append(
                f"Body {shown!r} is not UPR, a treaty body (e.g. CRC, CEDAW) or a special procedure (e.g. 'SR Torture')"
                if shown
                else "no Body"
            )
        raw_date = _field(record, "PublicationDate")
        publication_date = None
        try:
            publication_date = parse_date(raw_date)
        except ValueError:
            problems.append(f"PublicationDate {str(raw_date)[:60]!r} is not an ISO 8601 date")
        text = clean_text(_field(record, "Text"))
        if not text:
            problems.append("empty Text")
        session = None
        if mechanism is not None and mechanism[0] is RecommendationSource.UPR:
            sessions = {int(m.group()) for s in _strings(_field(record, "UprSession")) if (m := _NUMBER.search(s))}
            if len(sessions) == 1 and min(sessions) >= 1:
                session = sessions.pop()
            else:
                given = _strings(_field(record, "UprSession"))
                problems.append(
                    f"UprSession {', '.join(given)!r} is not one UPR session number"
                    if given
                    else "a UPR record without UprSession: its review cannot be known"
                )
        if mechanism is not None and mechanism[1] is not None and len(mechanism[1]) > MAX_BODY_LENGTH:
            problems.append(f"Body {mechanism[1][:60]!r}… is longer than {MAX_BODY_LENGTH} characters")
        if problems:
            report.reject(file, position, "; ".join(problems))
            return None
        assert state is not None and mechanism is not None
        source, body = mechanism
        warn = lambda reason: report.warn(file, position, reason)  # noqa: E731

        symbol = clean_text(_field(record, "Symbol"))[:MAX_SYMBOL_LENGTH] or None
        paragraph = None
        if found := _PARAGRAPH.match(text):
            paragraph, text = found.group(1), text[found.end() :]
        recommenders: list[str] = []
        others: list[str] = []
        response = None
        if source is RecommendationSource.UPR:
            for name in _strings(_field(record, "UprRecommendingCountry")):
                iso3 = self.states.resolve(name)
                if iso3 is not None:
                    if iso3 not in recommenders:
                        recommenders.append(iso3)
                else:
                    others.append(name)
                    report.unresolved_names[name] += 1
                    what = (
                        "is not a State" if self.states.is_known_non_state(name) else "could not be resolved to a State"
                    )
                    warn(f"recommender {name!r} {what}; kept as text in other_recommenders")
            named = {normalise_name(n) for n in _strings(_field(record, "UprRecommendingCountry"))}
            while (group := _TRAILING_GROUP.search(text)) and (
                self.states.resolve(group.group(1)) or normalise_name(group.group(1)) in named
            ):
                text = text[: group.start()]
            text = text.rstrip(" ;,")
            positions = {p.casefold() for p in _strings(_field(record, "UprPositions"))}
            responses = {POSITIONS.get(p) for p in positions}
            if len(responses) == 1 and None not in responses:
                response = responses.pop()
            elif positions:
                warn(f"UprPositions {sorted(positions)!r} is neither Supported nor Noted; imported without a response")
        if not text:
            report.reject(file, position, "empty Text (once its paragraph number and recommending States are removed)")
            return None

        uhri_themes = _strings(_field(record, "Themes"))
        themes: set[str] = set()
        for name in uhri_themes:
            code = self.uhri_themes.get(name.casefold())
            if code is None:
                self.warn_once(
                    file,
                    position,
                    f"theme:{name.casefold()}",
                    f"UHRI theme {name!r} maps to no theme; kept in uhri_themes only",
                )
            else:
                themes.add(code)
        sdg_targets: list[str] = []
        for entry in _strings(_field(record, "SDGs", "Sdgs")):
            target = _SDG_TARGET.match(entry)
            code = target.group(1).lower() if target else None
            if code in self.sdg_targets:
                if code not in sdg_targets:
                    sdg_targets.append(code)
            else:
                self.warn_once(
                    file, position, f"sdg:{entry.casefold()}", f"SDG entry {entry[:80]!r} names no SDG target; left out"
                )
        reference = None
        if symbol and paragraph:
            reference = f"{symbol}, para. {paragraph}"
        elif symbol:
            reference = symbol

        row = Row(
            file=file, position=position, annotation_id=annotation_id, source=source, body=body, symbol=symbol,
            publication_date=publication_date, state=state, session=session, text=text, source_reference=reference,
            response=response, recommenders=sorted(recommenders), other_recommenders=others, uhri_themes=uhri_themes,
            themes=sorted(themes), sdg_targets=sorted(sdg_targets), affected_persons=_strings(_field(record, "AffectedPersons")),
        )  # fmt: skip
        digest = row.digest()
        if not self.files or self.files[-1] != file:
            self.files.append(file)
        first = self.seen.get(annotation_id.int)
        if first is None:
            self.seen[annotation_id.int] = digest + struct.pack("<IH", number, len(self.files) - 1)
            return row
        first_number, first_file = struct.unpack("<IH", first[16:])
        where = f"{self.files[first_file]} record {first_number} ({annotation_id})"
        if first[:16] == digest:
            report.unchanged += 1
            warn(f"same annotation as {where}; counted once")
        else:
            report.reject(file, position, f"same AnnotationId as {where} but with different content")
        return None


# ------------------------------------------------------------------ writing

# Columns the import owns on a recommendation it created, and on a UPR Info row it matched.
_OWNED = (
    "review_id", "state_iso3", "text", "source", "body", "symbol", "publication_date", "uhri_themes", "themes",
    "sdg_targets", "affected_persons", "response", "source_reference", "other_recommenders",
)  # fmt: skip
_ATTACHED = ("symbol", "publication_date", "uhri_themes", "themes", "sdg_targets", "affected_persons")


@dataclass
class _Writer:
    session: AsyncSession
    principal: Principal
    report: ImportReport
    progress: Progress | None
    uhri_themes: dict[str, str]
    issue_themes: dict[str, str]
    now: Any = None
    done: int = 0
    review_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    # (State, session) -> match text -> ids of unclaimed UPR Info rows, loaded once per pair.
    candidates: dict[tuple[str, int], dict[str, list[int]]] = field(default_factory=dict)
    columns: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.columns = [c for c in Recommendation.__table__.c if c.key != "search_vector"]

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
            "reason": f"UHRI import of {Path(file).name}",
        }

    async def audit(self, events: list[dict[str, Any]]) -> None:
        for chunk in _chunks(events, INSERT_CHUNK * 5):
            await self.session.execute(sa.insert(AuditEvent.__table__), list(chunk))
        event_log.from_audit_rows(self.session, events)

    async def rows_where(self, clause: Any) -> dict[int, dict[str, Any]]:
        """Full rows (and their recommending States) by id."""
        rows = {
            r["id"]: dict(r) for r in (await self.session.execute(sa.select(*self.columns).where(clause))).mappings()
        }
        for row in rows.values():
            row["recommenders"] = []
        if rows:
            link = RecommendationRecommender.__table__
            stmt = sa.select(link.c.recommendation_id, link.c.state_iso3).where(
                _any(link.c.recommendation_id, list(rows), sa.Integer())
            )
            for rid, state in (await self.session.execute(stmt.order_by(link.c.state_iso3))).all():
                rows[rid]["recommenders"].append(state)
        return rows

    def derived(self, names: Sequence[str], mapping: dict[str, str]) -> set[str]:
        return {mapping[n.casefold()] for n in names if n.casefold() in mapping}

    def merged_themes(self, old: dict[str, Any], row: Row) -> list[str]:
        """Themes the previous UHRI themes gave are replaced by those of the new ones; themes
        from UPR Info issues or set by hand stay."""
        kept = set(old["themes"]) - self.derived(old["uhri_themes"], self.uhri_themes)
        return sorted(kept | self.derived(old["upr_info_issues"], self.issue_themes) | set(row.themes))

    def owned(self, row: Row, old: dict[str, Any] | None) -> dict[str, Any]:
        """The columns of a recommendation the import created, as this record says."""
        return {
            "review_id": self.review_ids[(row.state, row.session)] if row.session is not None else None,
            "state_iso3": row.state, "text": row.text, "source": row.source, "body": row.body, "symbol": row.symbol,
            "publication_date": row.publication_date, "uhri_themes": row.uhri_themes,
            "themes": self.merged_themes(old, row) if old else row.themes, "sdg_targets": row.sdg_targets,
            "affected_persons": row.affected_persons, "response": row.response,
            "source_reference": row.source_reference, "other_recommenders": row.other_recommenders,
        }  # fmt: skip

    def attached(self, row: Row, old: dict[str, Any]) -> dict[str, Any]:
        """The columns of a matched UPR Info row that UHRI fills in (union for SDG targets and
        affected persons, which UPR Info does not have)."""
        return {
            "symbol": row.symbol, "publication_date": row.publication_date, "uhri_themes": row.uhri_themes,
            "themes": self.merged_themes(old, row),
            "sdg_targets": sorted(set(old["sdg_targets"]) | set(row.sdg_targets)),
            "affected_persons": list(dict.fromkeys([*old["affected_persons"], *row.affected_persons])),
        }  # fmt: skip

    async def write(self, rows: list[Row]) -> None:
        if self.now is None:
            self.now = (await self.session.execute(sa.select(sa.func.now()))).scalar_one()
        table = Recommendation.__table__
        stored = {
            r["uhri_annotation_id"]: r
            for r in (
                await self.rows_where(_any(table.c.uhri_annotation_id, [r.annotation_id for r in rows], sa.Uuid()))
            ).values()
        }
        await self.reviews([r for r in rows if r.session is not None])
        fresh = [r for r in rows if r.annotation_id not in stored]
        matched = await self.match([r for r in fresh if r.source is RecommendationSource.UPR])
        new = [r for r in fresh if r.annotation_id not in matched]
        updates: list[
            tuple[Row, dict[str, Any], dict[str, Any], list[str] | None]
        ] = []  # row, old, change, recommenders
        for row in rows:
            old = stored.get(row.annotation_id)
            if old is None:
                if row.annotation_id in matched:
                    old = matched[row.annotation_id]
                    updates.append(
                        (row, old, {"uhri_annotation_id": row.annotation_id} | self.attached(row, old), None)
                    )
                continue
            if old["identity_key"] is not None:  # a UPR Info row matched earlier
                wanted = self.attached(row, old)
                recommenders = None
            else:
                if old["state_iso3"] != row.state:
                    self.report.reject(
                        row.file,
                        row.position,
                        f"the country changed from {old['state_iso3']} to {row.state} since the last import; "
                        "a recommendation cannot move to another State",
                    )
                    continue
                wanted = self.owned(row, old)
                recommenders = row.recommenders if row.recommenders != old["recommenders"] else None
            change = {k: v for k, v in wanted.items() if old[k] != v}
            if change or recommenders is not None:
                updates.append((row, old, change, recommenders))
            else:
                self.report.unchanged += 1
        for chunk in _chunks(new, INSERT_CHUNK):
            await self.create(list(chunk))
        if updates:
            await self.update(updates)
        self.done += len(rows)
        if self.progress:
            self.progress(self.done, None)

    async def reviews(self, rows: list[Row]) -> None:
        """Find or create the Review of every (State, session) the UPR rows name."""
        table = Review.__table__
        wanted: dict[tuple[str, int], Row] = {}
        for row in rows:
            assert row.session is not None
            if (row.state, row.session) not in self.review_ids:
                wanted.setdefault((row.state, row.session), row)
        if not wanted:
            return
        stmt = sa.select(table.c.id, table.c.state_iso3, table.c.session).where(
            sa.tuple_(table.c.state_iso3, table.c.session).in_(list(wanted))
        )
        for rid, state, session in (await self.session.execute(stmt)).all():
            self.review_ids[(state, session)] = rid
        missing = [key for key in wanted if key not in self.review_ids]
        if not missing:
            return
        values = [
            {
                "state_iso3": state,
                "session": session,
                "cycle": upr_cycle_of_session(session),
                "year": 2008 + (session - 1) // 3,
            }
            for state, session in missing
        ]
        events = []
        for created in (await self.session.execute(sa.insert(table).returning(*table.c), values)).mappings().all():
            key = (created["state_iso3"], created["session"])
            self.review_ids[key] = created["id"]
            events.append(self.event("Review", created["id"], "create", None, dict(created), wanted[key].file))
        self.report.created_by_type["Review"] += len(missing)
        await self.audit(events)

    async def match(self, rows: list[Row]) -> dict[uuid.UUID, dict[str, Any]]:
        """Claim the UPR Info row of the same State, session and text for each UPR record."""
        pairs = {(r.state, r.session) for r in rows if r.session is not None} - set(self.candidates)
        if pairs:
            table = Recommendation.__table__
            review = Review.__table__
            for pair in pairs:
                self.candidates[pair] = {}  # type: ignore[index]
            stmt = (
                sa.select(table.c.id, table.c.state_iso3, review.c.session, table.c.text)
                .join(review, review.c.id == table.c.review_id)
                .where(
                    table.c.identity_key.is_not(None),
                    table.c.uhri_annotation_id.is_(None),
                    sa.tuple_(table.c.state_iso3, review.c.session).in_(sorted(pairs)),  # type: ignore[arg-type]
                )
                .order_by(table.c.id)
            )
            for rid, state, session, text in (await self.session.execute(stmt)).all():
                self.candidates[(state, session)].setdefault(match_text(text), []).append(rid)
        claims: dict[uuid.UUID, int] = {}
        for row in rows:
            assert row.session is not None
            ids = self.candidates[(row.state, row.session)].get(match_text(row.text))
            if ids:
                claims[row.annotation_id] = ids.pop(0)
        if not claims:
            return {}
        found = await self.rows_where(_any(Recommendation.__table__.c.id, list(claims.values()), sa.Integer()))
        return {annotation: found[rid] for annotation, rid in claims.items()}

    async def create(self, rows: list[Row]) -> None:
        table = Recommendation.__table__
        values = [self.owned(row, None) | {"uhri_annotation_id": row.annotation_id} for row in rows]
        result = await self.session.execute(sa.insert(table).returning(table.c.id, table.c.uhri_annotation_id), values)
        ids = {annotation: rid for rid, annotation in result.all()}
        defaults = {c.key: None for c in self.columns} | {
            "created_at": self.now, "updated_at": self.now, "upr_info_issues": [], "action_category": None,
        }  # fmt: skip
        events, links = [], []
        for row, value in zip(rows, values):
            rid = ids[row.annotation_id]
            links.extend({"recommendation_id": rid, "state_iso3": s} for s in row.recommenders)
            after = defaults | value | {"id": rid, "recommenders": row.recommenders}
            events.append(self.event("Recommendation", rid, "create", None, after, row.file))
        if links:
            await self.session.execute(sa.insert(RecommendationRecommender.__table__), links)
        await self.audit(events)
        self.report.created += len(rows)
        self.report.created_by_type["Recommendation"] += len(rows)

    async def update(self, updates: list[tuple[Row, dict[str, Any], dict[str, Any], list[str] | None]]) -> None:
        table = Recommendation.__table__
        link = RecommendationRecommender.__table__
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        events = []
        relinked: list[tuple[int, list[str]]] = []
        for row, old, change, recommenders in updates:
            change = change | {"updated_at": self.now}
            groups.setdefault(tuple(sorted(change)), []).append(
                {"_id": old["id"]} | {f"_{k}": v for k, v in change.items()}
            )
            after = old | change
            if recommenders is not None:
                relinked.append((old["id"], recommenders))
                after = after | {"recommenders": recommenders}
            events.append(self.event("Recommendation", old["id"], "update", old, after, row.file))
        for keys, params in groups.items():
            stmt = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("_id"))
                .values({k: sa.bindparam(f"_{k}", type_=table.c[k].type) for k in keys})
            )
            await self.session.execute(stmt, params)
        if relinked:
            await self.session.execute(
                sa.delete(link).where(_any(link.c.recommendation_id, [i for i, _ in relinked], sa.Integer()))
            )
            values = [{"recommendation_id": rid, "state_iso3": s} for rid, states in relinked for s in states]
            if values:
                await self.session.execute(sa.insert(link), values)
        await self.audit(events)
        self.report.updated += len(updates)


# ------------------------------------------------------------------ the import


async def import_uhri(
    *,
    session: AsyncSession,
    principal: Principal,
    files: Sequence[Path],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import UHRI JSON exports in the caller's transaction (committing is the caller's
    decision). Raises ImportRefused, having written nothing, for a file that is not a JSON array."""
    started = time.perf_counter()
    paths = [Path(f) for f in files]
    report = ImportReport(source="uhri", files=[str(p) for p in paths], dry_run=dry_run)
    states = await load_resolver(session)
    if not states.tiers[1]:
        raise ImportRefused(
            str(paths[0]) if paths else "", "the database holds no States: run `tcgraph load-reference` first"
        )
    targets = set((await session.execute(sa.select(SdgTarget.code))).scalars())
    parser = _Parser(report=report, states=states, uhri_themes=read_uhri_themes(), sdg_targets=targets)
    queued = outbox.mark(session)
    savepoint = await session.begin_nested()
    try:
        writer = _Writer(
            session=session,
            principal=principal,
            report=report,
            progress=progress,
            uhri_themes=parser.uhri_themes,
            issue_themes=read_issue_themes(),
        )
        for path in paths:
            batch: list[Row] = []
            for number, record in read_records(path):
                row = parser.take(str(path), number, record)
                if row is not None:
                    batch.append(row)
                if len(batch) >= BATCH:
                    await writer.write(batch)
                    batch = []
            if batch:
                await writer.write(batch)
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
