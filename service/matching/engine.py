"""Computing suggestions: geography filters candidates, the criteria score them, the top K
per need are kept as SUGGESTED matches.

Candidates come from an index of offers by the States they cover (recipient States, the
States of recipient regions, everything for global programmes; M49 regions for
capabilities), and must share at least a theme, a DAC category, an SDG goal or a modality
with the need. Matches past SUGGESTED (proposed, endorsed, …) are never dropped: they are
re-scored in place so their breakdown stays current.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.events import record as event_log
from service.matching import scoring
from service.matching.criteria import Profile, Vocabulary, score_pair, terms
from service.matching.scoring import CandidateSet, Features, FeatureTable, TermIndex
from service.models import (
    AssistanceNeed,
    Capability,
    CurrencyRate,
    DacSector,
    DacSectorCategory,
    Programme,
    ProgrammeRecipientState,
    State,
    Theme,
)
from service.models.enums import NeedStatus
from service.models.matching import CriteriaVersion, Match, MatchStatus, OfferKind

TOP_K = 20
REMATCH_BATCH = 500  # needs scored (in a thread) while the previous batch is written
ELIGIBLE_ACTIVITY_STATUSES = (None, "1", "2")  # pipeline, implementation (IATI ActivityStatus)


_KIND_ORDER = {kind: kind.value for kind in OfferKind}


@dataclass
class Offer:
    kind: OfferKind
    id: int
    organization_id: int
    profile: Profile
    states: frozenset[str] | None = None  # None: global
    regions: frozenset[str] = frozenset()  # capabilities: M49 codes served
    features: Features | None = None  # set by load_offers, for scoring.best

    @property
    def key(self) -> tuple[OfferKind, int]:
        return (self.kind, self.id)

    @property
    def kind_order(self) -> str:
        """Ties between equal scores are broken by kind, then id."""
        return _KIND_ORDER[self.kind]


@dataclass
class NeedItem:
    id: int
    state: str
    regions: frozenset[str]
    profile: Profile
    features: Features | None = None  # set by load_needs


@dataclass
class Context:
    """Everything scoring reads, loaded once per run."""

    vocabulary: Vocabulary
    theme_dimensions: dict[str, frozenset[str]]
    usd_rates: dict[str, float]
    state_regions: dict[str, frozenset[str]]
    weights: dict[str, float]
    version: int
    features: FeatureTable = field(default_factory=FeatureTable)


@dataclass
class RunStats:
    needs: int = 0
    offers: int = 0
    pairs_scored: int = 0
    suggestions: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# -- criteria versions -------------------------------------------------------------------------


def default_weights() -> tuple[dict[str, float], str]:
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "weights.json").read_text())
    return {k: float(v) for k, v in data["weights"].items()}, data.get("note", "")


async def current_criteria(session: AsyncSession) -> CriteriaVersion:
    """The newest criteria version, creating version 1 from weights.json on first use."""
    row = (
        await session.execute(sa.select(CriteriaVersion).order_by(CriteriaVersion.version.desc()).limit(1))
    ).scalar_one_or_none()
    if row is None:
        weights, note = default_weights()
        await session.execute(
            sa.dialects.postgresql.insert(CriteriaVersion)
            .values(version=1, weights=weights, note=note)
            .on_conflict_do_nothing()
        )
        row = (await session.execute(sa.select(CriteriaVersion).where(CriteriaVersion.version == 1))).scalar_one()
    return row


def check_weights(weights: Any) -> dict[str, float]:
    """One finite, non-negative number per criterion, not all zero (ranking relies on
    non-negative weights: a pair's score grows with each criterion's)."""
    from service.errors import InvalidInput
    from service.matching.criteria import CRITERIA_BY_KEY

    if not isinstance(weights, dict):
        raise InvalidInput("Weights are an object of criterion keys to numbers.", field="weights")
    unknown = sorted(set(weights) - set(CRITERIA_BY_KEY))
    missing = sorted(set(CRITERIA_BY_KEY) - set(weights))
    if unknown or missing:
        raise InvalidInput(
            "Weights must name every criterion exactly once"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + f" (criteria: {', '.join(CRITERIA_BY_KEY)}).",
            field="weights",
        )
    checked: dict[str, float] = {}
    for key, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidInput(f"The weight of `{key}` must be a finite number ≥ 0; got {value!r}.", field="weights")
        checked[key] = float(value)
    if not sum(checked.values()):
        raise InvalidInput("At least one weight must be above 0.", field="weights")
    return checked


async def publish_weights(session: AsyncSession, weights: dict[str, float], note: str) -> CriteriaVersion:
    weights = check_weights(weights)
    current = await current_criteria(session)
    row = CriteriaVersion(version=current.version + 1, weights=weights, note=note)
    session.add(row)
    await session.flush()
    return row


# -- loading -------------------------------------------------------------------------------


async def load_context(session: AsyncSession) -> Context:
    criteria = await current_criteria(session)
    themes = (await session.execute(sa.select(Theme.code, Theme.name, Theme.rights_dimensions))).all()
    sectors = dict((await session.execute(sa.select(DacSector.code, DacSector.name))).all())
    categories = dict((await session.execute(sa.select(DacSectorCategory.code, DacSectorCategory.name))).all())
    rates = {
        c: float(r)
        for c, r in (await session.execute(sa.select(CurrencyRate.currency, CurrencyRate.usd_per_unit))).all()
    }
    states = (
        await session.execute(
            sa.select(State.iso3, State.region_code, State.sub_region_code, State.intermediate_region_code)
        )
    ).all()
    return Context(
        vocabulary=Vocabulary({c: n for c, n, _ in themes}, sectors, categories),
        theme_dimensions={c: frozenset(d) for c, _, d in themes},
        usd_rates=rates,
        state_regions={s: frozenset(x for x in (r, sr, ir) if x) | {"001"} for s, r, sr, ir in states},
        weights=dict(criteria.weights),
        version=criteria.version,
    )


def _usd(ctx: Context, amount: Decimal | None, currency: str | None) -> float | None:
    if amount is None or currency is None or currency not in ctx.usd_rates:
        return None
    return float(amount) * ctx.usd_rates[currency]


def _dimensions(ctx: Context, themes: Iterable[str], explicit: Iterable[str] = ()) -> frozenset[str]:
    explicit = frozenset(explicit)
    if explicit:
        return explicit
    dims: set[str] = set()
    for theme in themes:
        dims |= ctx.theme_dimensions.get(theme, frozenset())
    return frozenset(dims)


async def load_needs(session: AsyncSession, ctx: Context, need_ids: Sequence[int] | None = None) -> list[NeedItem]:
    stmt = sa.select(AssistanceNeed).where(AssistanceNeed.status != NeedStatus.WITHDRAWN)
    if need_ids is not None:
        stmt = stmt.where(AssistanceNeed.id.in_(list(need_ids)))
    items = []
    for n in (await session.execute(stmt)).scalars():
        items.append(
            NeedItem(
                id=n.id,
                state=n.state_iso3,
                regions=ctx.state_regions.get(n.state_iso3, frozenset({"001"})),
                profile=Profile(
                    themes=frozenset(n.themes),
                    rights_dimensions=_dimensions(ctx, n.themes, n.rights_dimensions),
                    sectors=frozenset(n.sectors),
                    sdg_targets=frozenset(n.sdg_targets),
                    modalities=frozenset(n.modalities),
                    languages=frozenset(n.working_languages),
                    amount_usd=_usd(ctx, n.estimated_cost, n.currency),
                    start=n.start_date,
                    end=n.end_date,
                    text_terms=terms(f"{n.title} {n.title} {n.description}"),
                ),
            )
        )
        items[-1].features = ctx.features.of(items[-1].profile)
    return items


def programmes_serving(states: Sequence[str]):
    """Programme ids whose recipient States (or recipient regions' States) include one of these."""
    clause = Programme.id.in_(
        sa.select(ProgrammeRecipientState.programme_id).where(ProgrammeRecipientState.state_iso3.in_(list(states)))
    )
    try:
        from service.programmes_geography import programmes_in_regions_of_states  # added with the IATI importer

        clause = sa.or_(clause, Programme.id.in_(programmes_in_regions_of_states(states)))
    except ImportError:
        pass
    return clause


async def _programme_states(session: AsyncSession, programme_ids: Sequence[int] | None) -> dict[int, set[str]]:
    """Recipient States, plus the States of recipient regions where that mapping exists."""
    covered: dict[int, set[str]] = defaultdict(set)
    stmt = sa.select(ProgrammeRecipientState.programme_id, ProgrammeRecipientState.state_iso3)
    if programme_ids is not None:
        stmt = stmt.where(ProgrammeRecipientState.programme_id.in_(list(programme_ids)))
    for pid, state in (await session.execute(stmt)).all():
        covered[pid].add(state)
    try:
        from service.programmes_geography import programme_region_states  # added with the IATI importer

        for pid, states in (await programme_region_states(session, programme_ids)).items():
            covered[pid] |= set(states)
    except ImportError:
        pass
    return covered


async def load_offers(
    session: AsyncSession,
    ctx: Context,
    *,
    programme_ids: Sequence[int] | None = None,
    capability_ids: Sequence[int] | None = None,
    programmes: bool = True,
    capabilities: bool = True,
    for_states: Sequence[str] | None = None,
) -> list[Offer]:
    """Eligible offers; with `for_states`, only those that can serve one of these States."""
    offers: list[Offer] = []
    if programmes:
        stmt = sa.select(Programme).where(
            Programme.open_to_requests.is_(True),
            sa.or_(Programme.activity_status.is_(None), Programme.activity_status.in_(["1", "2"])),
        )
        if programme_ids is not None:
            stmt = stmt.where(Programme.id.in_(list(programme_ids)))
        if for_states is not None:
            stmt = stmt.where(sa.or_(Programme.is_global.is_(True), programmes_serving(for_states)))
        rows = list((await session.execute(stmt)).scalars())
        filtered = programme_ids is not None or for_states is not None
        covered = await _programme_states(session, [p.id for p in rows] if filtered else None)
        for p in rows:
            budget = None
            if p.budget_amount is not None:
                budget = _usd(ctx, p.budget_amount - (p.committed_amount or Decimal(0)), p.currency)
            offers.append(
                Offer(
                    kind=OfferKind.PROGRAMME,
                    id=p.id,
                    organization_id=p.reporting_organization_id,
                    states=None if p.is_global else frozenset(covered.get(p.id, ())),
                    profile=Profile(
                        themes=frozenset(p.themes),
                        rights_dimensions=_dimensions(ctx, p.themes),
                        sectors=frozenset(p.sectors),
                        sdg_targets=frozenset(p.sdg_targets),
                        modalities=frozenset(p.modalities),
                        languages=frozenset(p.languages),
                        amount_usd=budget,
                        start=p.start_date,
                        end=p.end_date,
                        text_terms=terms(f"{p.title} {p.title} {p.description}"),
                    ),
                )
            )
    if capabilities:
        stmt = sa.select(Capability)
        if capability_ids is not None:
            stmt = stmt.where(Capability.id.in_(list(capability_ids)))
        if for_states is not None:
            regions = (
                set().union(*(ctx.state_regions.get(s, frozenset({"001"})) for s in for_states))
                if for_states
                else {"001"}
            )
            stmt = stmt.where(
                sa.or_(Capability.regions_served.overlap(sorted(regions)), Capability.regions_served == [])
            )
        for c in (await session.execute(stmt)).scalars():
            offers.append(
                Offer(
                    kind=OfferKind.CAPABILITY,
                    id=c.id,
                    organization_id=c.organization_id,
                    regions=frozenset(c.regions_served) or frozenset({"001"}),
                    profile=Profile(
                        themes=frozenset(c.themes),
                        rights_dimensions=_dimensions(ctx, c.themes),
                        sectors=frozenset(c.sectors),
                        modalities=frozenset(c.modalities),
                        languages=frozenset(c.languages),
                        has_budget=False,
                        has_timeframe=False,
                        text_terms=terms(f"{c.title} {c.title} {c.description}"),
                    ),
                )
            )
    for offer in offers:
        offer.features = ctx.features.of(offer.profile)
    return offers


# -- candidates and scoring ------------------------------------------------------------------


class OfferIndex:
    """Offers by the States (programmes) or regions (capabilities) they serve."""

    def __init__(self, offers: Iterable[Offer], features: FeatureTable | None = None):
        self.features = features
        self.offers = list(offers)
        self.by_state: dict[str, list[Offer]] = defaultdict(list)
        self.by_region: dict[str, list[Offer]] = defaultdict(list)
        self.everywhere: list[Offer] = []
        self._eligible: dict[tuple[str, frozenset[str]], list[Offer]] = {}  # needs of one State share them
        self._candidates: dict[tuple[str, frozenset[str]], CandidateSet] = {}
        self._terms: TermIndex | None = None  # built on first use, over all the offers
        for offer in self.offers:
            if offer.kind is OfferKind.PROGRAMME:
                if offer.states is None:
                    self.everywhere.append(offer)
                else:
                    for state in offer.states:
                        self.by_state[state].append(offer)
            else:
                for region in offer.regions:
                    self.by_region[region].append(offer)

    def eligible(self, need: NeedItem) -> list[Offer]:
        key = (need.state, need.regions)
        found = self._eligible.get(key)
        if found is None:
            found = self._eligible[key] = self._collect(need)
        return found

    def candidates(self, need: NeedItem) -> CandidateSet:
        """The eligible offers as arrays for scoring.best (built once per State)."""
        assert self.features is not None, "OfferIndex(offers, features) to score"
        key = (need.state, need.regions)
        found = self._candidates.get(key)
        if found is None:
            if self._terms is None:
                self._terms = TermIndex(self.offers)
            found = self._candidates[key] = CandidateSet(self.features, self.eligible(need), self._terms)
        return found

    def _collect(self, need: NeedItem) -> list[Offer]:
        seen: dict[tuple, Offer] = {}
        for offer in self.by_state.get(need.state, ()):
            seen[offer.key] = offer
        for offer in self.everywhere:
            seen[offer.key] = offer
        for region in need.regions:
            for offer in self.by_region.get(region, ()):
                seen[offer.key] = offer
        return list(seen.values())


def _usable(need: Profile, offer: Profile) -> bool:
    """A programme that ends before the need starts, or has nothing left to commit, cannot
    meet it, however well it fits."""
    if offer.has_timeframe and offer.end is not None and need.start is not None and offer.end < need.start:
        return False
    if offer.has_budget and offer.amount_usd is not None and offer.amount_usd <= 0:
        return False
    return True


def _related(need: Profile, offer: Profile) -> bool:
    """Cheap pre-filter: a candidate shares something substantive with the need."""
    if need.themes & offer.themes:
        return True
    if {s[:3] for s in need.sectors} & {s[:3] for s in offer.sectors}:
        return True
    if {t.split(".")[0] for t in need.sdg_targets} & {t.split(".")[0] for t in offer.sdg_targets}:
        return True
    return False


@dataclass
class Scored:
    need_id: int
    offer: Offer
    score: float
    breakdown: list[dict]
    breakdown_json: str  # serialised with the scoring, off the event loop


def score_needs(
    ctx: Context, needs: Sequence[NeedItem], candidates: CandidateSet, stats: RunStats, top_k: int = TOP_K
) -> list[Scored]:
    """Each need's top K related, usable candidates (needs sharing these candidates, e.g. of
    one State): ranked numerically (scoring.best), then explained by criteria.score_pair —
    for the K kept only."""
    ranked = scoring.best([n.features for n in needs], candidates, scoring.weight_vector(ctx.weights), top_k)
    results = []
    for need, (kept, pairs) in zip(needs, ranked):
        stats.pairs_scored += pairs
        for _, offer in kept:
            score, breakdown = score_pair(need.profile, offer.profile, ctx.vocabulary, ctx.weights)
            results.append(Scored(need.id, offer, score, breakdown, orjson.dumps(breakdown).decode()))
    return results


# -- writing -------------------------------------------------------------------------------

MATCH_COLUMNS = (
    "need_id",
    "offer_kind",
    "programme_id",
    "capability_id",
    "organization_id",
    "score",
    "breakdown",
    "criteria_version",
    "status",
)


INCOMING_TABLE = "match_incoming"


async def _write(
    session: AsyncSession,
    ctx: Context,
    need_ids: Sequence[int],
    scored: list[Scored],
    needs: dict[int, NeedItem],
    offers: dict[tuple[OfferKind, int], Offer] | None = None,
) -> tuple[int, int]:
    """Make these needs' SUGGESTED matches the scored ones: rows that did not change are left
    alone, changed ones updated in place, new ones inserted, dropped ones deleted (so a rerun
    with nothing new writes nothing). Matches past SUGGESTED are re-scored in place. One event
    per need whose suggestions changed. Returns (suggestions held, needs whose suggestions changed)."""
    if not need_ids:
        return 0, 0
    engaged = {
        (row.need_id, OfferKind(row.offer_kind), row.programme_id or row.capability_id): row.id
        for row in (
            await session.execute(
                sa.select(Match.id, Match.need_id, Match.offer_kind, Match.programme_id, Match.capability_id).where(
                    Match.need_id.in_(list(need_ids)), Match.status != MatchStatus.SUGGESTED
                )
            )
        ).all()
    }
    rescored: dict[int, tuple[float, list[dict]]] = {}
    records = []
    for s in scored:
        key = (s.need_id, s.offer.kind, s.offer.id)
        if key in engaged:
            rescored[engaged[key]] = (s.score, s.breakdown)
            continue
        records.append(
            (
                s.need_id,
                s.offer.kind.value,
                s.offer.id if s.offer.kind is OfferKind.PROGRAMME else None,
                s.offer.id if s.offer.kind is OfferKind.CAPABILITY else None,
                s.offer.organization_id,
                s.score,
                s.breakdown_json,
                ctx.version,
                MatchStatus.SUGGESTED.value,
            )
        )
    # Engaged matches outside the top K are re-scored too, so every match carries the
    # current criteria version (there are few of them).
    for (need_id, kind, offer_id), match_id in engaged.items():
        offer = (offers or {}).get((kind, offer_id))
        if match_id not in rescored and offer is not None and need_id in needs:
            rescored[match_id] = score_pair(needs[need_id].profile, offer.profile, ctx.vocabulary, ctx.weights)
    for match_id, (score, breakdown) in rescored.items():
        await session.execute(
            sa.update(Match)
            .where(Match.id == match_id)
            .values(score=score, breakdown=breakdown, criteria_version=ctx.version, updated_at=sa.func.now())
        )

    await session.execute(
        sa.text(
            f"create temp table if not exists {INCOMING_TABLE} (need_id int, offer_kind varchar(16), programme_id int, "
            "capability_id int, organization_id int, score float8, breakdown jsonb, criteria_version int, status varchar(32)) "
            "on commit drop"
        )
    )
    await session.execute(sa.text(f"truncate {INCOMING_TABLE}"))
    if records:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        await raw.copy_records_to_table(INCOMING_TABLE, records=records, columns=list(MATCH_COLUMNS))
        await session.execute(sa.text(f"analyze {INCOMING_TABLE}"))
    columns = ", ".join(MATCH_COLUMNS)
    # Hash joins of the incoming rows with these needs' matches (10k × 10k per batch); the
    # breakdowns (~1 KB each) must fit in memory for that.
    await session.execute(sa.text("set local work_mem = '64MB'"))
    changed = set(
        (
            await session.execute(
                sa.text(f"""
        with existing as materialized (
            select id, need_id, offer_kind, coalesce(programme_id, capability_id) as offer_id, status,
                   score, breakdown, criteria_version, organization_id
            from match where need_id = any(:need_ids)
        ), incoming as materialized (
            select *, coalesce(programme_id, capability_id) as offer_id from {INCOMING_TABLE}
        ), deleted as (
            delete from match where id in (
                select e.id from existing e left join incoming i using (need_id, offer_kind, offer_id)
                where e.status = 'SUGGESTED' and i.need_id is null
            )
            returning need_id
        ), updated as (
            update match m set score = i.score, breakdown = i.breakdown, criteria_version = i.criteria_version,
                organization_id = i.organization_id, updated_at = now()
            from existing e join incoming i using (need_id, offer_kind, offer_id)
            where m.id = e.id and e.status = 'SUGGESTED'
            and (e.score, e.breakdown, e.criteria_version, e.organization_id)
                is distinct from (i.score, i.breakdown, i.criteria_version, i.organization_id)
            returning m.need_id
        ), inserted as (
            insert into match ({columns})
            select {", ".join("i." + c for c in MATCH_COLUMNS)}
            from incoming i left join existing e using (need_id, offer_kind, offer_id)
            where e.id is null
            returning need_id
        )
        select need_id from deleted union select need_id from updated union select need_id from inserted
    """).bindparams(sa.bindparam("need_ids", list(need_ids), type_=sa.ARRAY(sa.Integer)))
            )
        ).scalars()
    )
    for need_id in sorted(changed):
        if need_id in needs:
            item = needs[need_id]
            event_log.suggestions_changed(session, need_id, item.state, item.profile.themes)
    return len(records), len(changed)


async def rematch_needs(
    session: AsyncSession, need_ids: Sequence[int] | None = None, *, top_k: int = TOP_K
) -> RunStats:
    """Recompute suggestions for some needs (all when None) against all offers."""
    started = time.perf_counter()
    ctx = await load_context(session)
    stats = RunStats()
    needs = await load_needs(session, ctx, need_ids)
    if need_ids is not None:
        # Withdrawn (or deleted) needs keep no suggestions.
        gone = set(need_ids) - {n.id for n in needs}
        if gone:
            await session.execute(
                sa.delete(Match).where(Match.need_id.in_(list(gone)), Match.status == MatchStatus.SUGGESTED)
            )
    states = sorted({n.state for n in needs})
    offers = await load_offers(session, ctx, for_states=states if need_ids is not None else None)
    index = OfferIndex(offers, ctx.features)
    stats.needs, stats.offers = len(needs), len(offers)

    def score_batch(batch: list[NeedItem]) -> list[Scored]:
        by_candidates: dict[tuple, list[NeedItem]] = defaultdict(list)
        for need in batch:
            by_candidates[(need.state, need.regions)].append(need)
        return [
            s
            for group in by_candidates.values()
            for s in score_needs(ctx, group, index.candidates(group[0]), stats, top_k)
        ]

    # Scoring is Python, writing is PostgreSQL: score the next batch in a thread while the
    # previous one is written, so the two use both cores.
    needs.sort(key=lambda n: (n.state, n.id))  # needs of one State share candidates: score them together
    batches = [needs[i : i + REMATCH_BATCH] for i in range(0, len(needs), REMATCH_BATCH)] or [[]]
    by_id = {n.id: n for n in needs}
    offers_by_key = {o.key: o for o in offers}
    pending = asyncio.ensure_future(asyncio.to_thread(score_batch, batches[0]))
    try:
        for i, batch in enumerate(batches):
            scored = await pending
            if i + 1 < len(batches):
                pending = asyncio.ensure_future(asyncio.to_thread(score_batch, batches[i + 1]))
            held, changed = await _write(session, ctx, [n.id for n in batch], scored, by_id, offers_by_key)
            stats.suggestions += held
            stats.extra["changed_needs"] = stats.extra.get("changed_needs", 0) + changed
    finally:
        if not pending.done():
            pending.cancel()
    stats.seconds = time.perf_counter() - started
    return stats


async def needs_affected_by_offer(session: AsyncSession, kind: OfferKind, offer_id: int) -> list[int]:
    """Needs whose suggestions may change when this offer changes: those it already
    matches, and those in the States (or regions) it serves now."""
    affected, _ = await _affected_needs(session, await load_context(session), kind, offer_id)
    return affected


async def _affected_needs(
    session: AsyncSession, ctx: Context, kind: OfferKind, offer_id: int
) -> tuple[list[int], Offer | None]:
    """(affected need ids, the offer as now eligible or None), loading the offer once."""
    column = Match.programme_id if kind is OfferKind.PROGRAMME else Match.capability_id
    affected = set((await session.execute(sa.select(Match.need_id).where(column == offer_id))).scalars())
    offers = await load_offers(
        session,
        ctx,
        programme_ids=[offer_id] if kind is OfferKind.PROGRAMME else [],
        capability_ids=[offer_id] if kind is OfferKind.CAPABILITY else [],
        programmes=kind is OfferKind.PROGRAMME,
        capabilities=kind is OfferKind.CAPABILITY,
    )
    offer = offers[0] if offers else None
    if offer is not None:
        stmt = sa.select(AssistanceNeed.id).where(AssistanceNeed.status != NeedStatus.WITHDRAWN)
        if offer.kind is OfferKind.PROGRAMME and offer.states is not None:
            stmt = stmt.where(AssistanceNeed.state_iso3.in_(list(offer.states)))
        elif offer.kind is OfferKind.CAPABILITY and "001" not in offer.regions:
            states = [s for s, regions in ctx.state_regions.items() if regions & offer.regions]
            stmt = stmt.where(AssistanceNeed.state_iso3.in_(states))
        # The same test as `_related`: a shared theme, DAC category or SDG goal.
        categories = sorted({code[:3] for code in offer.profile.sectors})
        goals = sorted({target.split(".")[0] for target in offer.profile.sdg_targets})
        related = []
        if offer.profile.themes:
            related.append(AssistanceNeed.themes.overlap(sorted(offer.profile.themes)))
        if categories:
            related.append(
                sa.text(
                    "exists (select 1 from unnest(assistance_need.sectors) s where left(s, 3) = any(:categories))"
                ).bindparams(categories=categories)
            )
        if goals:
            related.append(
                sa.text(
                    "exists (select 1 from unnest(assistance_need.sdg_targets) t where split_part(t, '.', 1) = any(:goals))"
                ).bindparams(goals=goals)
            )
        stmt = stmt.where(sa.or_(*related) if related else sa.false())
        affected |= set((await session.execute(stmt)).scalars())
    return sorted(affected), offer


async def rematch_offer(session: AsyncSession, kind: OfferKind, offer_id: int, *, top_k: int = TOP_K) -> RunStats:
    """After one programme or capability changed: score only it against the needs it may
    serve and merge it into each need's stored top K. A need is recomputed in full only
    when the offer was in its top K and fell (an unstored candidate could overtake it) or
    stopped being a candidate."""
    started = time.perf_counter()
    stats = RunStats()
    ctx = await load_context(session)
    affected, offer = await _affected_needs(session, ctx, kind, offer_id)
    stats.extra["affected_needs"] = len(affected)
    if not affected:
        stats.seconds = time.perf_counter() - started
        return stats
    is_programme = kind is OfferKind.PROGRAMME
    needs = {n.id: n for n in await load_needs(session, ctx, affected)}
    stats.needs, stats.offers = len(needs), int(offer is not None)
    column_kind = kind.value
    current: dict[int, list[tuple]] = defaultdict(list)
    engaged: list[tuple[int, int]] = []  # this offer's matches past SUGGESTED: (match id, need id)
    for match_id, need_id, offer_kind, programme_id, capability_id, score, status in (
        await session.execute(
            sa.select(
                Match.id,
                Match.need_id,
                Match.offer_kind,
                Match.programme_id,
                Match.capability_id,
                Match.score,
                Match.status,
            ).where(Match.need_id.in_(affected))
        )
    ).all():
        offer_kind = getattr(offer_kind, "value", offer_kind)
        offer_key = programme_id or capability_id
        if getattr(status, "value", status) == MatchStatus.SUGGESTED.value:
            current[need_id].append((-score, offer_kind, offer_key, match_id))
        elif offer_kind == column_kind and offer_key == offer_id:
            engaged.append((match_id, need_id))
    recompute, deletes, inserts, updates, changed = [], [], [], [], []
    engaged_needs = {need_id for _, need_id in engaged}
    for need_id, need in needs.items():
        if need_id in engaged_needs:
            continue  # one match per need and offer: the engaged one is re-scored below, never re-suggested
        rows = sorted(current.get(need_id, ()))
        mine = next((r for r in rows if r[1] == column_kind and r[2] == offer_id), None)
        new = None
        if offer is not None and _related(need.profile, offer.profile) and _usable(need.profile, offer.profile):
            eligible = (
                (offer.states is None or need.state in offer.states)
                if is_programme
                else bool(need.regions & offer.regions)
            )
            if eligible:
                stats.pairs_scored += 1
                score, breakdown = score_pair(need.profile, offer.profile, ctx.vocabulary, ctx.weights)
                if score > 0:
                    new = (score, breakdown)
        if mine is not None:
            if new is not None and (new[0] >= -mine[0] or len(rows) < top_k):
                # Refresh the breakdown (texts may change with equal scores).
                updates.append({"match_id": mine[3], "new_score": new[0], "new_breakdown": new[1]})
                if new[0] != -mine[0]:
                    changed.append(need_id)
            else:
                recompute.append(need_id)
        elif new is not None:
            key = (-new[0], column_kind, offer_id)
            if len(rows) < top_k or key < rows[-1][:3]:
                if len(rows) >= top_k:
                    deletes.append(rows[-1][3])
                inserts.append(
                    (
                        need_id,
                        column_kind,
                        offer_id if is_programme else None,
                        None if is_programme else offer_id,
                        offer.organization_id,
                        new[0],
                        orjson.dumps(new[1]).decode(),
                        ctx.version,
                        MatchStatus.SUGGESTED.value,
                    )
                )
                changed.append(need_id)
    gone = [n for n in affected if n not in needs]
    if gone:
        await session.execute(sa.delete(Match).where(Match.need_id.in_(gone), Match.status == MatchStatus.SUGGESTED))
    if deletes:
        await session.execute(sa.delete(Match).where(Match.id.in_(deletes)))
    if updates:
        table = Match.__table__
        await session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("match_id"))
            .values(
                score=sa.bindparam("new_score"),
                breakdown=sa.bindparam("new_breakdown", type_=table.c.breakdown.type),
                criteria_version=ctx.version,
                updated_at=sa.func.now(),
            ),
            updates,
        )
    if inserts:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        await raw.copy_records_to_table("match", records=inserts, columns=list(MATCH_COLUMNS))
    stats.suggestions = len(inserts)
    for match_id, need_id in engaged:  # engaged matches of this offer: re-scored in place, wherever they rank
        need = needs.get(need_id)
        if need is not None and offer is not None:
            score, breakdown = score_pair(need.profile, offer.profile, ctx.vocabulary, ctx.weights)
            await session.execute(
                sa.update(Match)
                .where(Match.id == match_id)
                .values(score=score, breakdown=breakdown, criteria_version=ctx.version, updated_at=sa.func.now())
            )
    for need_id in dict.fromkeys(changed):
        if need_id not in recompute:
            event_log.suggestions_changed(session, need_id, needs[need_id].state, needs[need_id].profile.themes)
    if recompute:
        full = await rematch_needs(session, recompute, top_k=top_k)
        stats.pairs_scored += full.pairs_scored
        stats.suggestions += full.suggestions
    stats.extra["recomputed_needs"] = len(recompute)
    stats.seconds = time.perf_counter() - started
    return stats
