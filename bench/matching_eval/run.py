"""Evaluation of the matching engine on a hand-labelled set (not a test: it prints figures).

    .venv/bin/python bench/matching_eval/run.py                  # weights of service/matching/weights.json
    .venv/bin/python bench/matching_eval/run.py --weights FILE   # other weights (same JSON format)
    .venv/bin/python bench/matching_eval/run.py --tune           # search weights, report held-out figures,
                                                                 # write bench/matching_eval/tuned_weights.json

It creates a scratch database `tcgraph_bench_eval_…` on the dev server (`tcgraph db url`, or
--server-url), migrates it, creates the matching tables if the migrations do not (yet) create
them, loads the reference data and `eval_set.json` (organizations, needs, programmes with their
recipient States, capabilities), runs `rematch_needs` for every need with the chosen weights
(published as a criteria version, exactly as the service would), reads the suggestions back from
the `match` table and scores them against the judgements. The database is dropped at the end
(WITH (FORCE)) unless --keep-db.

Metrics, over needs with at least one judged pair:
  P@5      share of the top 5 suggestions judged relevant;
  nDCG@10  binary gain (1 relevant, 0 otherwise), ideal DCG from the number of pairs judged
           relevant for the need (relevant offers never suggested count against it).
Unjudged retrieved offers count as NOT relevant for P@5 and have gain 0 for nDCG@10.

--tune searches weights (coordinate ascent on the simplex, grid 0.05, several starts) on an
in-memory replica of score_needs (the same candidates, criteria and tie-breaking; checked against
the database run), and guards against overfitting with a 2-fold split (tune on even-numbered
needs, report on odd, and the reverse) and leave-one-need-out. The weights it recommends are
the tuned ones shrunk toward the current weights by the fraction (0, ¼, ½, ¾, 1) whose
leave-one-need-out nDCG@10 is best; it writes them to tuned_weights.json (format of
service/matching/weights.json) and runs them through rematch_needs as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import admin, dev_server_url  # noqa: E402

EVAL_SET = HERE / "eval_set.json"
WEIGHTS_FILE = PROJECT_ROOT / "service" / "matching" / "weights.json"
TUNED_FILE = HERE / "tuned_weights.json"
DB_PREFIX = "tcgraph_bench_"
K_PRECISION = 5
K_NDCG = 10
GRID = [round(0.05 * i, 2) for i in range(0, 11)]  # 0 … 0.5 for one criterion
SHRINK = (0.0, 0.25, 0.5, 0.75, 1.0)  # from the default weights (0) to the tuned ones (1)


# ----------------------------------------------------------------------------- scratch database


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_scratch_database(server_url: str, label: str, revision: str) -> tuple[str, str]:
    """Create, migrate and prepare a scratch database; returns (name, url)."""
    from service.db import migrate

    name = f"{DB_PREFIX}{label}_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(server_url, f'create database "{name}"'))
    url = database_url(server_url, name)
    migrate.upgrade(url, revision)  # Alembic's env.py runs its own event loop: call outside ours
    asyncio.run(_prepare(url))
    return name, url


def drop_scratch_database(server_url: str, name: str) -> None:
    assert name.startswith(DB_PREFIX)
    asyncio.run(admin(server_url, f'drop database if exists "{name}" with (force)'))


async def _prepare(url: str) -> None:
    """Matching tables (and the recipient-region tables the engine reads) when the migrations
    applied do not create them, then the reference data."""
    from service.db.engine import make_engine, make_sessionmaker
    from service.models import CriteriaVersion, Match, MatchTransition
    from service.models.programmes import ProgrammeRecipientRegion, RegionState
    from service.reference.load import load_reference

    tables = [m.__table__ for m in (CriteriaVersion, Match, MatchTransition, RegionState, ProgrammeRecipientRegion)]
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync_conn: [t.create(sync_conn, checkfirst=True) for t in tables])
        async with make_sessionmaker(engine)() as session, session.begin():
            await load_reference(session)
    finally:
        await engine.dispose()


# ----------------------------------------------------------------------------- the labelled set


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


@dataclass
class Loaded:
    need_ids: dict[str, int]  # key -> id
    offer_keys: dict[tuple[str, int], str]  # (kind, id) -> key
    need_keys: dict[int, str]


async def load_eval_set(session, data: dict) -> Loaded:
    from service.models import AssistanceNeed, Capability, Organization, Programme, ProgrammeRecipientState
    from service.models.enums import NeedStatus, OrganizationCategory, Visibility

    orgs: dict[str, int] = {}
    for o in data["organizations"]:
        row = Organization(
            name=o["name"],
            acronym=o.get("acronym"),
            category=OrganizationCategory(o["category"]),
            organisation_type=o.get("organisationType"),
            iati_identifier=o.get("iatiIdentifier"),
            state_iso3=o.get("state"),
        )
        session.add(row)
        await session.flush()
        orgs[o["key"]] = row.id
    need_ids: dict[str, int] = {}
    for n in data["needs"]:
        row = AssistanceNeed(
            state_iso3=n["state"],
            title=n["title"],
            description=n.get("description", ""),
            themes=n.get("themes", []),
            sectors=n.get("sectors", []),
            sdg_targets=n.get("sdgTargets", []),
            rights_dimensions=n.get("rightsDimensions", []),
            modalities=n.get("modalities", []),
            working_languages=n.get("workingLanguages", []),
            estimated_cost=_money(n.get("estimatedCost")),
            currency=n.get("currency") if n.get("estimatedCost") else None,
            start_date=_date(n.get("startDate")),
            end_date=_date(n.get("endDate")),
            status=NeedStatus(n["status"]),
            visibility=Visibility(n["visibility"]),
        )
        session.add(row)
        await session.flush()
        need_ids[n["key"]] = row.id
    offer_keys: dict[tuple[str, int], str] = {}
    for p in data["programmes"]:
        budget = p.get("budget") or {}
        row = Programme(
            iati_identifier=p["iatiIdentifier"],
            title=p["title"],
            description=p.get("description", ""),
            reporting_organization_id=orgs[p["reportingOrganization"]],
            activity_status=p.get("activityStatus"),
            start_date=_date(p.get("startDate")),
            end_date=_date(p.get("endDate")),
            currency=budget.get("currency"),
            budget_amount=_money(budget.get("amount")),
            committed_amount=_money(p.get("committedAmount")),
            open_to_requests=p.get("openToRequests", True),
            is_global=p.get("isGlobal", False),
            sectors=p.get("sectors", []),
            themes=p.get("themes", []),
            sdg_targets=p.get("sdgTargets", []),
            modalities=p.get("modalities", []),
            languages=p.get("languages", []),
            # As the IATI importer stores them (programmes imported from IATI carry no themes,
            # modalities or languages: those are curated by the programme's owner).
            sector_categories=p.get("sectorCategories", sorted({x[:3] for x in p.get("sectors", [])})),
            sdg_goals=p.get("sdgGoals", sorted({t.split(".")[0] for t in p.get("sdgTargets", [])})),
            default_language=p.get("defaultLanguage"),
        )
        session.add(row)
        await session.flush()
        for rs in p.get("recipientStates", []):
            session.add(
                ProgrammeRecipientState(
                    programme_id=row.id, state_iso3=rs["state"], percentage=_money(rs.get("percentage"))
                )
            )
        offer_keys[("PROGRAMME", row.id)] = p["key"]
    for c in data["capabilities"]:
        row = Capability(
            organization_id=orgs[c["organization"]],
            title=c["title"],
            description=c.get("description", ""),
            themes=c.get("themes", []),
            sectors=c.get("sectors", []),
            modalities=c.get("modalities", []),
            regions_served=c.get("regionsServed", []),
            languages=c.get("languages", []),
        )
        session.add(row)
        await session.flush()
        offer_keys[("CAPABILITY", row.id)] = c["key"]
    await session.flush()
    return Loaded(need_ids, offer_keys, {v: k for k, v in need_ids.items()})


def judgements_of(data: dict) -> dict[str, dict[str, bool]]:
    judged: dict[str, dict[str, bool]] = {}
    offers = {p["key"] for p in data["programmes"]} | {c["key"] for c in data["capabilities"]}
    needs = {n["key"] for n in data["needs"]}
    for j in data["judgements"]:
        if j["need"] not in needs or j["offer"] not in offers:
            raise SystemExit(f"judgement names an unknown need or offer: {j}")
        if j["offer"] in judged.get(j["need"], {}):
            raise SystemExit(f"pair judged twice: {j['need']} / {j['offer']}")
        judged.setdefault(j["need"], {})[j["offer"]] = bool(j["relevant"])
    return judged


# ----------------------------------------------------------------------------- metrics


@dataclass
class Figures:
    p5: float
    ndcg10: float
    recall_k: float
    ideal_p5: float
    needs_p: int
    needs_ndcg: int
    per_need: dict[str, tuple[float, float | None]] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"P@5 {self.p5:.3f} (ideal {self.ideal_p5:.3f})  nDCG@10 {self.ndcg10:.3f}  "
            f"recall@{self._k} {self.recall_k:.3f}  [{self.needs_p} needs for P@5, {self.needs_ndcg} with a relevant pair for nDCG]"
        )

    _k: int = 20


def evaluate(
    rankings: dict[str, list[str]],
    judged: dict[str, dict[str, bool]],
    needs: Sequence[str] | None = None,
    k_recall: int = 20,
) -> Figures:
    """P@5 over needs with >=1 judged pair; nDCG@10 and recall@K over those with >=1 relevant pair."""
    keys = [n for n in (needs if needs is not None else judged) if judged.get(n)]
    p_sum = ideal_sum = ndcg_sum = recall_sum = 0.0
    n_ndcg = 0
    per_need: dict[str, tuple[float, float | None]] = {}
    for need in keys:
        labels = judged[need]
        ranked = rankings.get(need, [])
        relevant = {o for o, r in labels.items() if r}
        p5 = sum(1 for o in ranked[:K_PRECISION] if o in relevant) / K_PRECISION
        p_sum += p5
        ideal_sum += min(len(relevant), K_PRECISION) / K_PRECISION
        ndcg = None
        if relevant:
            dcg = sum(1.0 / math.log2(i + 2) for i, o in enumerate(ranked[:K_NDCG]) if o in relevant)
            idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), K_NDCG)))
            ndcg = dcg / idcg
            ndcg_sum += ndcg
            recall_sum += len(relevant & set(ranked[:k_recall])) / len(relevant)
            n_ndcg += 1
        per_need[need] = (p5, ndcg)
    f = Figures(
        p5=p_sum / len(keys) if keys else 0.0,
        ndcg10=ndcg_sum / n_ndcg if n_ndcg else 0.0,
        recall_k=recall_sum / n_ndcg if n_ndcg else 0.0,
        ideal_p5=ideal_sum / len(keys) if keys else 0.0,
        needs_p=len(keys),
        needs_ndcg=n_ndcg,
        per_need=per_need,
    )
    f._k = k_recall
    return f


# ----------------------------------------------------------------------------- runs through the engine


async def rematch_and_read(
    session, loaded: Loaded, weights: dict[str, float] | None, note: str
) -> tuple[dict[str, list[str]], dict[str, list[float]], Any, int]:
    """Publish the weights (None: the service default, weights.json), rematch every need, and
    read the suggestions back best first. Returns rankings, scores, run stats, criteria version."""
    from service.matching.engine import current_criteria, publish_weights, rematch_needs
    from service.models import Match

    if weights is None:
        version = (await current_criteria(session)).version
    else:
        version = (await publish_weights(session, weights, note)).version
    stats = await rematch_needs(session)
    rows = (
        await session.execute(
            sa.select(
                Match.need_id,
                Match.offer_kind,
                Match.programme_id,
                Match.capability_id,
                Match.score,
                Match.criteria_version,
            ).order_by(Match.need_id, Match.score.desc(), Match.id)
        )
    ).all()
    rankings: dict[str, list[str]] = {k: [] for k in loaded.need_ids}
    scores: dict[str, list[float]] = {k: [] for k in loaded.need_ids}
    for need_id, kind, pid, cid, score, used in rows:
        assert used == version, (used, version)
        kind_value = kind.value if hasattr(kind, "value") else str(kind)
        key = loaded.offer_keys[(kind_value, pid or cid)]
        rankings[loaded.need_keys[need_id]].append(key)
        scores[loaded.need_keys[need_id]].append(score)
    return rankings, scores, stats, version


# ----------------------------------------------------------------------------- in-memory replica (for tuning)


@dataclass
class Candidate:
    offer: str
    order: tuple[str, int]  # the engine's tie-break: (offer kind value, offer id)
    vector: tuple[float, ...]


@dataclass
class Replica:
    criteria: tuple[str, ...]
    candidates: dict[str, list[Candidate]]  # need key -> candidates passing geography and the pre-filter
    pair_vectors: dict[tuple[str, str], tuple[float, ...]]  # every judged pair (even when not a candidate)
    pair_flags: dict[tuple[str, str], tuple[bool, bool]]  # (geographically eligible, passes pre-filter)
    top_k: int

    def rank(self, weights: dict[str, float], needs: Sequence[str] | None = None) -> dict[str, list[str]]:
        w = [float(weights.get(c, 0.0)) for c in self.criteria]
        total = sum(w)
        out: dict[str, list[str]] = {}
        for need in needs if needs is not None else self.candidates:
            scored = []
            for cand in self.candidates.get(need, ()):
                s = round(sum(a * b for a, b in zip(w, cand.vector)) / total, 4) if total else 0.0
                if s > 0:
                    scored.append((-s, cand.order, cand.offer))
            scored.sort()
            out[need] = [offer for _, _, offer in scored[: self.top_k]]
        return out


async def build_replica(session, loaded: Loaded, judged: dict[str, dict[str, bool]]) -> Replica:
    """The candidates score_needs would see, with each criterion's score (weights apart)."""
    from service.matching.criteria import CRITERIA, score_pair
    from service.matching.engine import TOP_K, OfferIndex, _related, load_context, load_needs, load_offers

    ctx = await load_context(session)
    needs = await load_needs(session, ctx)
    offers = await load_offers(session, ctx)
    index = OfferIndex(offers)
    unit = {c.key: 1.0 for c in CRITERIA}
    by_key = {loaded.offer_keys[(o.kind.value, o.id)]: o for o in offers}

    def vector(need, offer) -> tuple[float, ...]:
        _, breakdown = score_pair(need.profile, offer.profile, ctx.vocabulary, unit)
        return tuple(float(b["score"]) for b in breakdown)

    candidates: dict[str, list[Candidate]] = {}
    need_items = {}
    for need in needs:
        key = loaded.need_keys[need.id]
        need_items[key] = need
        candidates[key] = [
            Candidate(loaded.offer_keys[(o.kind.value, o.id)], (o.kind.value, o.id), vector(need, o))
            for o in index.eligible(need)
            if _related(need.profile, o.profile)
        ]
    pair_vectors, pair_flags = {}, {}
    for need_key, labels in judged.items():
        need = need_items[need_key]
        eligible = {loaded.offer_keys[(o.kind.value, o.id)] for o in index.eligible(need)}
        for offer_key in labels:
            offer = by_key[offer_key]
            pair_vectors[(need_key, offer_key)] = vector(need, offer)
            pair_flags[(need_key, offer_key)] = (offer_key in eligible, _related(need.profile, offer.profile))
    return Replica(tuple(c.key for c in CRITERIA), candidates, pair_vectors, pair_flags, TOP_K)


# ----------------------------------------------------------------------------- per-criterion statistics


def auc(pos: list[float], neg: list[float]) -> float:
    """P(score of a relevant pair > score of a non-relevant pair), ties counting one half."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def criterion_report(replica: Replica, judged: dict[str, dict[str, bool]], weights: dict[str, float]) -> list[str]:
    lines = [
        "per-criterion statistics over the judged pairs (criterion scores 0..1, computed with score_pair for every judged pair):",
        f"  {'criterion':<10} {'weight':>6} {'mean rel':>9} {'mean non':>9} {'diff':>6} {'AUC':>5} {'=0.5 (unknown)':>15} {'w*diff':>7}",
    ]
    total = sum(weights.values()) or 1.0
    for i, c in enumerate(replica.criteria):
        pos = [v[i] for (n, o), v in replica.pair_vectors.items() if judged[n][o]]
        neg = [v[i] for (n, o), v in replica.pair_vectors.items() if not judged[n][o]]
        neutral = sum(1 for v in replica.pair_vectors.values() if v[i] == 0.5) / max(len(replica.pair_vectors), 1)
        mp, mn = sum(pos) / len(pos), sum(neg) / len(neg)
        w = weights.get(c, 0.0) / total
        lines.append(
            f"  {c:<10} {w:>6.3f} {mp:>9.3f} {mn:>9.3f} {mp - mn:>6.3f} {auc(pos, neg):>5.2f} {neutral:>15.0%} {w * (mp - mn):>7.3f}"
        )
    # The weighted total itself, for reference.
    pos = [
        sum(weights.get(c, 0) * v[i] for i, c in enumerate(replica.criteria)) / total
        for (n, o), v in replica.pair_vectors.items()
        if judged[n][o]
    ]
    neg = [
        sum(weights.get(c, 0) * v[i] for i, c in enumerate(replica.criteria)) / total
        for (n, o), v in replica.pair_vectors.items()
        if not judged[n][o]
    ]
    lines.append(
        f"  {'(total)':<10} {1.0:>6.3f} {sum(pos) / len(pos):>9.3f} {sum(neg) / len(neg):>9.3f} {sum(pos) / len(pos) - sum(neg) / len(neg):>6.3f} {auc(pos, neg):>5.2f}"
    )
    flags = replica.pair_flags
    not_eligible = [p for p, (e, _) in flags.items() if not e]
    filtered_rel = [p for p, (e, r) in flags.items() if e and not r and judged[p[0]][p[1]]]
    filtered_non = [p for p, (e, r) in flags.items() if e and not r and not judged[p[0]][p[1]]]
    lines.append(
        f"  judged pairs not geographically eligible: {len(not_eligible)} (should be 0); dropped by the candidate pre-filter "
        f"(no shared theme, DAC category or SDG goal): {len(filtered_rel)} relevant, {len(filtered_non)} non-relevant"
    )
    for n, o in not_eligible + filtered_rel:
        lines.append(f"    {n} / {o}")
    return lines


# ----------------------------------------------------------------------------- tuning


def normalise(weights: dict[str, float], criteria: Sequence[str]) -> dict[str, float]:
    total = sum(max(weights.get(c, 0.0), 0.0) for c in criteria)
    return {c: round(max(weights.get(c, 0.0), 0.0) / total, 4) for c in criteria}


def with_weight(weights: dict[str, float], criterion: str, value: float, criteria: Sequence[str]) -> dict[str, float]:
    """Set one weight, rescale the others so that the total stays 1."""
    rest = sum(w for c, w in weights.items() if c != criterion)
    out = {}
    for c in criteria:
        if c == criterion:
            out[c] = value
        elif rest > 0:
            out[c] = weights[c] * (1 - value) / rest
        else:
            out[c] = (1 - value) / (len(criteria) - 1)
    return out


def objective(
    replica: Replica, judged, needs: Sequence[str], weights: dict[str, float], default: dict[str, float]
) -> tuple:
    f = evaluate(replica.rank(weights, needs), judged, needs, replica.top_k)
    distance = sum(abs(weights[c] - default.get(c, 0.0)) for c in replica.criteria)
    # nDCG@10 first, then P@5, then the smaller change from the current weights.
    return (round(f.ndcg10, 6), round(f.p5, 6), -round(distance, 6))


def floored(v: dict[str, float], floor: float, criteria: Sequence[str]) -> dict[str, float]:
    """Map a point of the simplex to weights of at least `floor` each, summing to 1."""
    return {c: floor + (1 - len(criteria) * floor) * v[c] for c in criteria}


def unfloored(w: dict[str, float], floor: float, criteria: Sequence[str]) -> dict[str, float]:
    return normalise({c: max(w.get(c, 0.0) - floor, 0.0) + 1e-9 for c in criteria}, criteria)


def coordinate_ascent(
    replica: Replica,
    judged,
    needs: Sequence[str],
    start: dict[str, float],
    default: dict[str, float],
    floor: float,
    max_rounds: int = 8,
) -> tuple[dict[str, float], tuple]:
    """Ascent over the simplex point v behind the weights floored(v) (one coordinate at a time)."""
    criteria = replica.criteria
    best = normalise(start, criteria)
    best_value = objective(replica, judged, needs, floored(best, floor, criteria), default)
    for _ in range(max_rounds):
        improved = False
        for c in criteria:
            for v in GRID:
                trial = with_weight(best, c, v, criteria)
                value = objective(replica, judged, needs, floored(trial, floor, criteria), default)
                if value > best_value:
                    best, best_value, improved = trial, value, True
        if not improved:
            break
    return floored(best, floor, criteria), best_value


def tune(
    replica: Replica,
    judged,
    needs: Sequence[str],
    default: dict[str, float],
    restarts: int,
    floor: float = 0.0,
    seed: int = 21,
) -> dict[str, float]:
    criteria = replica.criteria
    rng = random.Random(seed)
    starts = [unfloored(normalise(default, criteria), floor, criteria), {c: 1.0 for c in criteria}]
    for _ in range(restarts):
        starts.append(normalise({c: rng.gammavariate(1.0, 1.0) for c in criteria}, criteria))
    best, best_value = None, None
    for s in starts:
        w, value = coordinate_ascent(replica, judged, needs, s, default, floor)
        if best_value is None or value > best_value:
            best, best_value = w, value
    return snap(best, criteria)


def snap(weights: dict[str, float], criteria: Sequence[str]) -> dict[str, float]:
    """Round to 0.01 keeping a total of exactly 1 (largest remainders)."""
    cents = {c: weights[c] * 100 for c in criteria}
    floor = {c: int(math.floor(v)) for c, v in cents.items()}
    left = 100 - sum(floor.values())
    for c in sorted(criteria, key=lambda c: cents[c] - floor[c], reverse=True)[:left]:
        floor[c] += 1
    return {c: floor[c] / 100 for c in criteria}


def fmt_weights(w: dict[str, float]) -> str:
    return ", ".join(f"{c} {v:.2f}" for c, v in w.items())


# ----------------------------------------------------------------------------- main


def print_rankings(rankings, scores, judged, data) -> None:
    titles = {n["key"]: n["title"] for n in data["needs"]}
    for need, ranked in rankings.items():
        labels = judged.get(need, {})
        print(f"  {need}: {titles[need]}")
        for i, offer in enumerate(ranked[:K_PRECISION]):
            mark = {True: "REL", False: "non"}.get(labels.get(offer), " ? ")
            print(f"     {i + 1}. [{mark}] {scores[need][i]:.3f} {offer}")
        missed = [o for o, r in labels.items() if r and o not in ranked[:K_PRECISION]]
        for o in missed:
            where = ranked.index(o) + 1 if o in ranked else None
            print(f"        relevant {o} at {'rank ' + str(where) if where else 'not suggested'}")


async def run(args, url: str, data: dict) -> int:
    from service.db.engine import make_engine, make_sessionmaker
    from service.matching.engine import default_weights

    judged = judgements_of(data)
    default, _ = default_weights()
    weights = None
    if args.weights:
        weights = {k: float(v) for k, v in json.loads(Path(args.weights).read_text())["weights"].items()}
    engine = make_engine(url)
    sm = make_sessionmaker(engine)
    try:
        async with sm() as session, session.begin():
            loaded = await load_eval_set(session, data)
        n_rel = sum(r for labels in judged.values() for r in labels.values())
        print(
            f"evaluation set: {len(data['needs'])} needs, {len(data['programmes'])} programmes, {len(data['capabilities'])} capabilities, "
            f"{sum(len(v) for v in judged.values())} judged pairs ({n_rel} relevant) over {len(judged)} needs"
        )
        print("note: unjudged retrieved offers count as NOT relevant for P@5 and have gain 0 for nDCG@10.")

        async with sm() as session, session.begin():
            replica = await build_replica(session, loaded, judged)
        mean_cands = sum(len(c) for c in replica.candidates.values()) / len(replica.candidates)
        print(
            f"candidates per need after geography and the pre-filter: {mean_cands:.1f} on average (TOP_K {replica.top_k})"
        )

        used = weights or default
        label = f"weights from {args.weights}" if args.weights else "default weights (service/matching/weights.json)"
        async with sm() as session, session.begin():
            rankings, scores, stats, version = await rematch_and_read(session, loaded, weights, f"bench: {label}")
        figures = evaluate(rankings, judged, k_recall=replica.top_k)
        agree = sum(1 for n in rankings if rankings[n] == replica.rank(used, [n])[n])
        print(f"\n== {label}: {fmt_weights(normalise(used, replica.criteria))}")
        print(
            f"   rematch_needs: {stats.needs} needs, {stats.offers} offers, {stats.pairs_scored} pairs scored, {stats.suggestions} suggestions, {stats.seconds:.2f} s (criteria version {version})"
        )
        print(f"   {figures.line()}")
        print(f"   in-memory replica agrees with rematch_needs on {agree}/{len(rankings)} needs")
        print()
        for line in criterion_report(replica, judged, used):
            print(line)
        if args.verbose:
            print("\n   top 5 per need ([REL] judged relevant, [non] judged not relevant, [ ? ] unjudged):")
            print_rankings(rankings, scores, judged, data)

        if not args.tune:
            return 0

        print(
            "\n== tuning (coordinate ascent on the simplex, one weight at a time over 0, 0.05 … 0.5, others rescaled;"
        )
        print(
            f"   objective: nDCG@10, then P@5, then the smaller L1 change from the default; {args.restarts} random starts + default + uniform;"
        )
        print(
            f"   every criterion keeps a weight of at least {args.min_weight:.2f}: a published criterion the set cannot judge is not switched off)"
        )
        needs = [n["key"] for n in data["needs"] if judged.get(n["key"])]
        base = normalise(default, replica.criteria)
        started = time.perf_counter()

        def shrink(w: dict[str, float], lam: float) -> dict[str, float]:
            """lam of the way from the default weights to w (0: default, 1: w)."""
            return {c: (1 - lam) * base[c] + lam * w[c] for c in replica.criteria}

        even, odd = needs[0::2], needs[1::2]
        print(
            "   2-fold split (needs in eval_set.json order); held-out figures for shrinkage lam toward the default (0 = default, 1 = tuned):"
        )
        held: dict[str, dict[float, Figures]] = {}
        for name, train, test in (
            ("tune on even, report on odd", even, odd),
            ("tune on odd, report on even", odd, even),
        ):
            w = tune(replica, judged, train, default, args.restarts, args.min_weight)
            tr0 = evaluate(replica.rank(base, train), judged, train, replica.top_k)
            tr1 = evaluate(replica.rank(w, train), judged, train, replica.top_k)
            held[name] = {
                lam: evaluate(replica.rank(shrink(w, lam), test), judged, test, replica.top_k) for lam in SHRINK
            }
            print(f"   - {name}: {fmt_weights(w)}")
            print(
                f"       train: default nDCG@10 {tr0.ndcg10:.3f} P@5 {tr0.p5:.3f} -> tuned nDCG@10 {tr1.ndcg10:.3f} P@5 {tr1.p5:.3f}"
            )
            print(
                "       held-out: "
                + "  ".join(f"lam {lam:.2f}: nDCG@10 {f.ndcg10:.3f} P@5 {f.p5:.3f}" for lam, f in held[name].items())
            )
        # Leave one need out: tune on the others, rank the one left out.
        loo_weights = []
        for i, need in enumerate(needs):
            loo_weights.append(
                tune(replica, judged, needs[:i] + needs[i + 1 :], default, max(args.restarts // 4, 0), args.min_weight)
            )
        loo: dict[float, Figures] = {}
        for lam in SHRINK:
            ranked = {need: replica.rank(shrink(w, lam), [need])[need] for need, w in zip(needs, loo_weights)}
            loo[lam] = evaluate(ranked, judged, needs, replica.top_k)
        print(f"   leave-one-need-out ({len(needs)} folds: tune on the other needs, rank the one left out):")
        print("       " + "  ".join(f"lam {lam:.2f}: nDCG@10 {f.ndcg10:.3f} P@5 {f.p5:.3f}" for lam, f in loo.items()))
        spread = {c: (min(w[c] for w in loo_weights), max(w[c] for w in loo_weights)) for c in replica.criteria}
        print(
            "       weight range across the folds: "
            + ", ".join(f"{c} {lo:.2f}–{hi:.2f}" for c, (lo, hi) in spread.items())
        )
        # The shrinkage that generalises best (leave-one-out nDCG@10, then P@5, then the smaller change).
        best_lam = max(SHRINK, key=lambda lam: (round(loo[lam].ndcg10, 4), round(loo[lam].p5, 4), -lam))
        tuned = tune(replica, judged, needs, default, args.restarts, args.min_weight)
        recommended = snap(shrink(tuned, best_lam), replica.criteria)
        in_sample = evaluate(replica.rank(tuned, needs), judged, needs, replica.top_k)
        print(
            f"   tuned on all {len(needs)} needs: {fmt_weights(tuned)}  (in-sample nDCG@10 {in_sample.ndcg10:.3f} P@5 {in_sample.p5:.3f})"
        )
        print(
            f"   chosen shrinkage lam {best_lam:.2f} (best leave-one-out nDCG@10) -> recommended: {fmt_weights(recommended)}"
        )
        print(f"   (search took {time.perf_counter() - started:.1f} s)")

        # Through the real engine: the fully tuned and the recommended weights.
        results = {}
        for name, w in (("tuned (in-sample optimum)", tuned), ("recommended", recommended)):
            async with sm() as session, session.begin():
                r, sc, st, ver = await rematch_and_read(session, loaded, w, f"bench: {name}")
            fig = evaluate(r, judged, k_recall=replica.top_k)
            same = sum(1 for n in r if r[n] == replica.rank(w, [n])[n])
            results[name] = fig
            print(f"\n== {name} weights through rematch_needs (criteria version {ver}): {fmt_weights(w)}")
            print(f"   {fig.line()}")
            print(f"   in-memory replica agrees with rematch_needs on {same}/{len(r)} needs")
            if args.verbose and name == "recommended":
                print_rankings(r, sc, judged, data)

        fold_text = "; ".join(
            f"{name}: held-out nDCG@10 {h[0.0].ndcg10:.3f} -> {h[best_lam].ndcg10:.3f}, P@5 {h[0.0].p5:.3f} -> {h[best_lam].p5:.3f}"
            for name, h in held.items()
        )
        rec = results["recommended"]
        note = (
            f"Tuned by bench/matching_eval/run.py --tune on bench/matching_eval/eval_set.json ({len(needs)} needs, "
            f"{sum(len(v) for v in judged.values())} judged pairs): coordinate ascent on the simplex (grid 0.05, each weight at "
            f"least {args.min_weight:.2f}; objective nDCG@10, then P@5), then shrunk toward the previous weights by lam={best_lam:.2f}, chosen by leave-one-need-out. "
            f"Through rematch_needs: previous weights P@5 {figures.p5:.3f}, nDCG@10 {figures.ndcg10:.3f}; these weights "
            f"P@5 {rec.p5:.3f}, nDCG@10 {rec.ndcg10:.3f} (in-sample; ideal P@5 {rec.ideal_p5:.3f}). Leave-one-need-out: "
            f"nDCG@10 {loo[0.0].ndcg10:.3f} -> {loo[best_lam].ndcg10:.3f}, P@5 {loo[0.0].p5:.3f} -> {loo[best_lam].p5:.3f}. "
            f"2-fold ({fold_text}). Unjudged retrieved offers count as not relevant."
        )
        out = Path(args.write) if args.write else TUNED_FILE
        out.write_text(json.dumps({"note": note, "weights": recommended}, indent=2) + "\n")
        print(f"\nwrote {out.relative_to(PROJECT_ROOT) if out.is_relative_to(PROJECT_ROOT) else out}")
        return 0
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--weights", help="weights JSON file (format of service/matching/weights.json); default: weights.json"
    )
    parser.add_argument("--tune", action="store_true", help="search weights and report held-out figures")
    parser.add_argument("--restarts", type=int, default=8, help="random starts of the weight search (default 8)")
    parser.add_argument(
        "--min-weight", type=float, default=0.03, help="smallest weight a criterion may get when tuning (default 0.03)"
    )
    parser.add_argument(
        "--write", help=f"where --tune writes its weights (default {TUNED_FILE.relative_to(PROJECT_ROOT)})"
    )
    parser.add_argument("--eval-set", default=str(EVAL_SET))
    parser.add_argument(
        "--server-url", help="maintenance URL of the PostgreSQL server (default: from `tcgraph db url`)"
    )
    parser.add_argument("--revision", default="head", help="Alembic revision for the scratch database (default head)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch database")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the top 5 of every need")
    args = parser.parse_args(argv)

    data = json.loads(Path(args.eval_set).read_text(encoding="utf-8"))
    server = args.server_url or dev_server_url()
    name, url = create_scratch_database(server, "eval", args.revision)
    print(f"scratch database {name}")
    try:
        return asyncio.run(run(args, url, data))
    finally:
        if args.keep_db:
            print(f"kept {name}")
        else:
            drop_scratch_database(server, name)
            print(f"dropped {name}")


if __name__ == "__main__":
    raise SystemExit(main())
