"""Scoring many candidate pairs quickly.

A full rematch compares ~4 million need–offer pairs; building every criterion's sentence for
each of them costs minutes. Ranking happens here instead, in two steps:

1. For all of a need's candidates at once (numpy), each score as criteria.py computes it but
   before rounding, plus a margin for the rounding: an upper bound of the exact score. Text
   relevance comes from an inverted index of the offers' terms.
2. In descending order of that bound, the exact score of each pair — the same arithmetic as
   criteria.py (same formulas, same rounding, same order of additions, so the same floats) on
   sets precomputed as bit masks — until no remaining bound can reach the K-th best.

Only the K pairs a need keeps are then scored by criteria.score_pair, which writes their
breakdown. criteria.py stays the reference: tests/unit/test_matching_scoring.py checks that
`best` keeps exactly the top K that score_pair would rank first, on random profiles.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from service.matching.criteria import CRITERIA, Profile

KINDS = ("theme", "dimension", "sector", "category", "target", "goal", "modality", "language")
WORD = 64
# Rounding each criterion, and the total, to 4 places moves a score by at most 1e-4 of the
# weights' total; the bound allows twice that.
ROUNDING_MARGIN = 2e-4
BOUNDS_ROWS = 64  # needs per array operation (memory: rows × candidates × words)


@dataclass(slots=True)
class Features:
    """A profile's sets as bit masks (one bit per code, per kind of code), their sizes, and
    what scoring derives from them."""

    profile: Profile
    theme: int
    dimension: int
    sector: int
    category: int
    target: int
    goal: int
    modality: int
    language: int
    n_themes: int
    n_dimensions: int
    n_targets: int
    n_modalities: int
    terms: frozenset[str]  # the keys of the term counts: their intersection is a C-level set operation
    norm: float  # of the term-count vector
    # An offer cannot meet a need starting after `usable_until`, nor with its budget spent
    # (engine._usable).
    usable_until: date | None
    spent: bool


class FeatureTable:
    """Assigns the bits and computes each profile's features once per run."""

    def __init__(self) -> None:
        self._bits: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self._cache: dict[int, Features] = {}

    def bit_count(self, kind: str) -> int:
        return len(self._bits[kind])

    def _mask(self, kind: str, codes: Iterable[str]) -> int:
        table = self._bits[kind]
        mask = 0
        for code in codes:
            bit = table.get(code)
            if bit is None:
                bit = table[code] = 1 << len(table)
            mask |= bit
        return mask

    def of(self, p: Profile) -> Features:
        found = self._cache.get(id(p))
        if found is not None and found.profile is p:
            return found
        codes = {
            "theme": p.themes,
            "dimension": p.rights_dimensions,
            "sector": p.sectors,
            "category": {s[:3] for s in p.sectors},
            "target": p.sdg_targets,
            "goal": {t.split(".")[0] for t in p.sdg_targets},
            "modality": p.modalities,
            "language": p.languages,
        }
        features = Features(
            profile=p,
            **{kind: self._mask(kind, values) for kind, values in codes.items()},
            n_themes=len(p.themes),
            n_dimensions=len(p.rights_dimensions),
            n_targets=len(p.sdg_targets),
            n_modalities=len(p.modalities),
            terms=frozenset(p.text_terms),
            norm=p.text_norm,
            usable_until=p.end if p.has_timeframe else None,
            spent=p.has_budget and p.amount_usd is not None and p.amount_usd <= 0,
        )
        self._cache[id(p)] = features
        return features


class Candidate(Protocol):
    kind_order: str
    id: int
    features: Features


def weight_vector(weights: dict[str, float]) -> list[float]:
    return [float(weights.get(c.key, 0.0)) for c in CRITERIA]


def _words(mask: int, n_words: int) -> list[int]:
    return [(mask >> (WORD * i)) & 0xFFFF_FFFF_FFFF_FFFF for i in range(n_words)]


def _ordinal(day: date | None) -> float:
    return float(day.toordinal()) if day is not None else math.nan


class TermIndex:
    """Offers by the terms of their texts: the dot products of a need's term counts with many
    offers' in a few array operations."""

    def __init__(self, items: Sequence[Candidate]):
        self.position = {id(c): i for i, c in enumerate(items)}
        rows: dict[str, list[int]] = {}
        counts: dict[str, list[int]] = {}
        for i, c in enumerate(items):
            for term, count in c.features.profile.text_terms.items():
                rows.setdefault(term, []).append(i)
                counts.setdefault(term, []).append(count)
        self.postings = {t: (np.array(rows[t], dtype=np.int64), np.array(counts[t], dtype=np.float64)) for t in rows}
        self.size = len(items)

    def products(self, terms: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        """(offer positions, count products) for every term the need shares with an offer."""
        found = [(self.postings[t], a) for t, a in terms.items() if t in self.postings]
        if not found:
            return np.empty(0, dtype=np.int64), np.empty(0)
        return (
            np.concatenate([rows for (rows, _), _ in found]),
            np.concatenate([counts * a for (_, counts), a in found]),
        )


class CandidateSet(Sequence):
    """A list of candidates with their features as arrays, for step 1. Needs of one State
    share their candidates, so one set serves them all."""

    def __init__(self, table: FeatureTable, items: Sequence[Candidate], terms: TermIndex | None = None):
        self.items = list(items)
        # Where each of the term index's offers sits in this set (-1: not a candidate here).
        self.terms = terms if terms is not None else TermIndex(self.items)
        self.local = np.full(self.terms.size, -1, dtype=np.int64)
        self.local[[self.terms.position[id(c)] for c in self.items]] = np.arange(len(self.items))
        self.words = {kind: max(1, -(-table.bit_count(kind) // WORD)) for kind in KINDS}
        features = [c.features for c in self.items]
        self.masks = {
            kind: np.array([_words(getattr(f, kind), n) for f in features], dtype=np.uint64).reshape(len(features), n)
            for kind, n in self.words.items()
        }

        def column(values, dtype=np.float64):
            return np.array(list(values), dtype=dtype)

        profiles = [f.profile for f in features]
        self.n_themes = column(f.n_themes for f in features)
        self.n_targets = column(f.n_targets for f in features)
        self.has_budget = column((p.has_budget for p in profiles), bool)
        self.has_timeframe = column((p.has_timeframe for p in profiles), bool)
        self.amount = column(p.amount_usd if p.amount_usd is not None else math.nan for p in profiles)
        self.start = column(_ordinal(p.start) for p in profiles)
        self.end = column(_ordinal(p.end) for p in profiles)
        self.usable_until = column(_ordinal(f.usable_until) for f in features)
        self.spent = column((f.spent for f in features), bool)
        self.norm = column(f.norm for f in features)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):  # type: ignore[override]
        return self.items[i]

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.items)

    def bounds(self, needs: Sequence[Features], weights: Sequence[float]) -> list[tuple[list[int], list[float]]]:
        """Step 1, for several needs at once (rows) against every candidate (columns): per need,
        the related, usable candidates (indices) in descending order of their bound, and the
        bounds (weighted sums, not yet divided by the weights' total)."""
        w_thematic, w_sector, w_sdg, w_modality, w_budget, w_timeframe, w_language, w_text = weights
        n, c = len(needs), len(self.items)
        if not c:
            return [([], []) for _ in needs]

        def need_column(values, dtype=np.float64) -> np.ndarray:
            return np.array(list(values), dtype=dtype).reshape(n, 1)

        shared_cache: dict[str, np.ndarray] = {}

        def shared(kind: str) -> np.ndarray:  # (needs, candidates, words)
            if kind not in shared_cache:
                words = np.array([_words(getattr(f, kind), self.words[kind]) for f in needs], dtype=np.uint64)
                shared_cache[kind] = self.masks[kind][None, :, :] & words[:, None, :]
            return shared_cache[kind]

        def any_of(kind: str) -> np.ndarray:
            return shared(kind).any(axis=2)

        def count_of(kind: str) -> np.ndarray:
            return np.bitwise_count(shared(kind)).sum(axis=2, dtype=np.float64)

        profiles = [f.profile for f in needs]
        categories, goals = any_of("category"), any_of("goal")
        related = any_of("theme") | categories | goals
        starts = need_column(_ordinal(p.start) for p in profiles)
        ends = need_column(_ordinal(p.end) for p in profiles)

        n_themes = need_column(f.n_themes for f in needs)
        n_dimensions = need_column(f.n_dimensions for f in needs)
        n_targets = need_column(f.n_targets for f in needs)
        n_modalities = need_column(f.n_modalities for f in needs)
        amounts = need_column(p.amount_usd if p.amount_usd is not None else math.nan for p in profiles)
        has_language = need_column((bool(f.language) for f in needs), bool)
        norms = need_column(f.norm for f in needs)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # NaN stands for "not given"
            usable = ~self.spent[None, :] & ~(self.usable_until[None, :] < starts)  # NaN compares False
            theme_part = np.where(n_themes > 0, count_of("theme") / n_themes, 0.0)
            dimension_part = np.where(n_dimensions > 0, count_of("dimension") / n_dimensions, 0.0)
            thematic = np.where(
                (n_themes == 0) & (n_dimensions == 0),
                0.0,
                np.where(self.n_themes[None, :] == 0, 0.5, 0.75 * theme_part + 0.25 * dimension_part),
            )
            sector = np.where(any_of("sector"), 1.0, np.where(categories, 0.5, 0.0))
            targets = count_of("target")
            sdg = np.where(
                n_targets == 0,
                0.0,
                np.where(
                    ~self.has_budget[None, :] & (self.n_targets[None, :] == 0),
                    0.5,
                    np.where(targets > 0, 0.5 + 0.5 * targets / n_targets, np.where(goals, 0.4, 0.0)),
                ),
            )
            modality = np.where(n_modalities > 0, count_of("modality") / n_modalities, 0.0)
            offered = self.amount[None, :]
            budget = np.where(
                np.isnan(amounts) | ~self.has_budget[None, :] | np.isnan(offered),
                0.5,
                np.where(offered <= 0, 0.0, np.where(offered >= amounts, 1.0, offered / amounts)),
            )
            start = np.where(np.isnan(self.start)[None, :], starts, np.maximum(self.start[None, :], starts))
            end = np.where(np.isnan(self.end)[None, :], ends, np.minimum(self.end[None, :], ends))
            overlap = end - start
            undated = (
                (np.isnan(starts) | np.isnan(ends))
                | ~self.has_timeframe[None, :]
                | (np.isnan(self.start) & np.isnan(self.end))[None, :]
            )
            timeframe = np.where(
                undated, 0.5, np.where(overlap <= 0, 0.0, np.minimum(overlap / np.maximum(ends - starts, 1), 1.0))
            )
            language = np.where(
                ~has_language | ~self.masks["language"].any(axis=1)[None, :],
                0.5,
                np.where(any_of("language"), 1.0, 0.0),
            )
            # Text: the dot products of each need's term counts with every candidate's.
            positions, weights_of = [], []
            for i, f in enumerate(needs):
                if f.profile.text_terms and f.norm:
                    rows, products = self.terms.products(f.profile.text_terms)
                    local = self.local[rows]
                    here = local >= 0
                    positions.append(local[here] + i * c)
                    weights_of.append(products[here])
            text = np.zeros((n, c))
            if positions:
                dot = np.bincount(
                    np.concatenate(positions), weights=np.concatenate(weights_of), minlength=n * c
                ).reshape(n, c)
                text = np.where(dot > 0, np.minimum(dot / (norms * self.norm[None, :]) * 2.0, 1.0), 0.0)
        bound = (
            w_thematic * thematic
            + w_sector * sector
            + w_sdg * sdg
            + w_modality * modality
            + w_budget * budget
            + w_timeframe * timeframe
            + w_language * language
            + w_text * text
            + ROUNDING_MARGIN * sum(weights)
        )
        out = []
        candidates = related & usable
        for i in range(n):
            chosen = np.flatnonzero(candidates[i])
            row = bound[i]
            out.append((chosen[np.argsort(-row[chosen], kind="stable")].tolist(), row.tolist()))
        return out


def exact_score(n: Features, o: Features, weights: Sequence[float], w_sum: float) -> float:
    """Step 2: criteria.score_pair's score, without the sentences."""
    w_thematic, w_sector, w_sdg, w_modality, w_budget, w_timeframe, w_language, w_text = weights
    p, q = n.profile, o.profile
    if not n.n_themes and not n.n_dimensions:
        thematic = 0.0
    elif not o.n_themes:
        thematic = 0.5
    else:
        theme_part = (n.theme & o.theme).bit_count() / n.n_themes if n.n_themes else 0.0
        dimension_part = (n.dimension & o.dimension).bit_count() / n.n_dimensions if n.n_dimensions else 0.0
        thematic = round(0.75 * theme_part + 0.25 * dimension_part, 4)
    sector = 1.0 if n.sector & o.sector else 0.5 if n.category & o.category else 0.0
    if not n.n_targets:
        sdg = 0.0
    elif not q.has_budget and not o.n_targets:
        sdg = 0.5
    else:
        shared = (n.target & o.target).bit_count()
        sdg = round(0.5 + 0.5 * shared / n.n_targets, 4) if shared else 0.4 if n.goal & o.goal else 0.0
    modality = round((n.modality & o.modality).bit_count() / n.n_modalities, 4) if n.n_modalities else 0.0
    amount, offered = p.amount_usd, q.amount_usd
    if not q.has_budget or amount is None or offered is None:
        budget = 0.5
    elif offered <= 0:
        budget = 0.0
    elif offered >= amount:
        budget = 1.0
    else:
        budget = round(offered / amount, 4)
    if not q.has_timeframe or p.start is None or p.end is None or (q.start is None and q.end is None):
        timeframe = 0.5
    else:
        overlap = (min(p.end, q.end or p.end) - max(p.start, q.start or p.start)).days
        timeframe = 0.0 if overlap <= 0 else round(min(overlap / max((p.end - p.start).days, 1), 1.0), 4)
    language = 0.5 if not n.language or not o.language else 1.0 if n.language & o.language else 0.0
    text = 0.0
    common = n.terms & o.terms
    if common:
        a, b = p.text_terms, q.text_terms
        dot = 0
        for term in common:
            dot += a[term] * b[term]
        norm = n.norm * o.norm
        text = round(min(1.0, (dot / norm if norm else 0.0) * 2.0), 4)
    total = (
        w_thematic * thematic
        + w_sector * sector
        + w_sdg * sdg
        + w_modality * modality
        + w_budget * budget
        + w_timeframe * timeframe
        + w_language * language
        + w_text * text
    )
    return round(total / w_sum, 4)


def best(
    needs: Sequence[Features], candidates: CandidateSet, weights: Sequence[float], top_k: int
) -> list[tuple[list[tuple[float, Candidate]], int]]:
    """Per need: the top K candidates by score (ties by kind, then id) with their scores, and
    how many related, usable pairs there were."""
    w_sum = sum(weights)
    if not w_sum:
        return [([], 0) for _ in needs]
    results = []
    for start in range(0, len(needs), BOUNDS_ROWS):
        rows = needs[start : start + BOUNDS_ROWS]
        for need, (order, bound) in zip(rows, candidates.bounds(rows, weights)):
            heap: list[float] = []  # the best K scores so far, smallest first
            kept: list[tuple[float, str, int, Candidate]] = []
            for i in order:
                if len(heap) >= top_k and bound[i] / w_sum < heap[0]:
                    break  # neither this pair nor any after it (lower bounds) can reach the top K
                candidate = candidates.items[i]
                score = exact_score(need, candidate.features, weights, w_sum)
                if score > 0:
                    kept.append((-score, candidate.kind_order, candidate.id, candidate))
                    if len(heap) < top_k:
                        heapq.heappush(heap, score)
                    elif score > heap[0]:
                        heapq.heapreplace(heap, score)
            kept.sort(key=lambda t: t[:3])
            results.append(([(-s, c) for s, _, _, c in kept[:top_k]], len(order)))
    return results
