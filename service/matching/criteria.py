"""The scored criteria (resolution 21/21 para 15: "transparent criteria").

Each criterion is a pure function of a need and an offer profile returning a score in 0..1
and a sentence a person understands. Geography is not here: it is a filter applied when
candidates are generated (service/matching/candidates.py), not a score.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

# Words that say nothing about the substance of a need or an offer.
STOPWORDS = frozenset(
    """a about above after again against all also an and any are as at be because been being
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no
    nor not now of off on once only or other our ours out over own same she should so some such
    than that the their theirs them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    support supports supported strengthen strengthening including include includes national
    programme program project projects need needs request requested requests state states government
    new within across well ensure through year years per""".split()
)
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "ar": "Arabic",
    "zh": "Chinese",
    "ru": "Russian",
    "pt": "Portuguese",
    "sw": "Swahili",
    "de": "German",
    "id": "Indonesian",
    "km": "Khmer",
    "ne": "Nepali",
    "ro": "Romanian",
    "ka": "Georgian",
    "gn": "Guarani",
    "fj": "Fijian",
    "wo": "Wolof",
    "lg": "Luganda",
}
TOKEN = re.compile(r"[a-zà-ÿ]{3,}")


def stem(word: str) -> str:
    """A light English stemmer: enough to meet "courts" with "court", "trained" with "training"."""
    for suffix in ("ational", "ations", "ation", "ments", "ment", "ings", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in TOKEN.findall(text.lower()):
        if word in STOPWORDS:
            continue
        key = stem(word)
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass
class Profile:
    """What scoring needs to know about a need or an offer."""

    themes: frozenset[str] = frozenset()
    rights_dimensions: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()
    sdg_targets: frozenset[str] = frozenset()
    modalities: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    amount_usd: float | None = None  # need: estimated cost; offer: uncommitted budget
    start: date | None = None
    end: date | None = None
    text_terms: dict[str, int] = field(default_factory=dict)
    has_budget: bool = True  # capabilities offer expertise, not money
    has_timeframe: bool = True

    @cached_property
    def text_norm(self) -> float:
        """Length of the term-count vector (computed once: every pair's cosine needs it)."""
        return math.sqrt(sum(v * v for v in self.text_terms.values()))


@dataclass(frozen=True)
class Vocabulary:
    """Display names for explanations (theme, sector and category names)."""

    theme_names: dict[str, str]
    sector_names: dict[str, str]
    category_names: dict[str, str]

    def theme(self, code: str) -> str:
        return self.theme_names.get(code, code).lower()


@dataclass(frozen=True)
class CriterionScore:
    criterion: str
    score: float
    explanation: str


def _names(values, limit: int = 4) -> str:
    values = sorted(values)
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def thematic(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    if not need.themes and not need.rights_dimensions:
        return CriterionScore("thematic", 0.0, "the need names no themes")
    if not offer.themes:
        # Imported (IATI) programmes carry sectors, not our themes: unknown, not a mismatch.
        return CriterionScore("thematic", 0.5, "the offer names no themes (scored as unknown)")
    shared = need.themes & offer.themes
    dims = need.rights_dimensions & offer.rights_dimensions
    theme_part = len(shared) / len(need.themes) if need.themes else 0.0
    dim_part = len(dims) / len(need.rights_dimensions) if need.rights_dimensions else 0.0
    score = 0.75 * theme_part + 0.25 * dim_part
    if shared:
        text = "shares themes: " + _names(vocab.theme(t) for t in shared)
    else:
        text = "no shared themes"
    if dims:
        text += "; rights dimensions: " + _names(d.lower() for d in dims)
    return CriterionScore("thematic", round(score, 4), text)


def sector(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    same = need.sectors & offer.sectors
    if same:
        code = sorted(same)[0]
        return CriterionScore("sector", 1.0, f"same DAC sector: {code} {vocab.sector_names.get(code, '')}".rstrip())
    need_categories = {s[:3] for s in need.sectors}
    offer_categories = {s[:3] for s in offer.sectors}
    shared = need_categories & offer_categories
    if shared:
        code = sorted(shared)[0]
        return CriterionScore(
            "sector", 0.5, f"same DAC sector category: {code} {vocab.category_names.get(code, '')}".rstrip()
        )
    if not need.sectors:
        return CriterionScore("sector", 0.0, "the need names no DAC sector")
    return CriterionScore("sector", 0.0, "no shared DAC sector or category")


def sdg(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    if not need.sdg_targets:
        return CriterionScore("sdg", 0.0, "the need names no SDG targets")
    if not offer.has_budget and not offer.sdg_targets:
        return CriterionScore("sdg", 0.5, "a capability: no SDG targets (scored as unknown)")
    shared = need.sdg_targets & offer.sdg_targets
    if shared:
        score = 0.5 + 0.5 * len(shared) / len(need.sdg_targets)
        return CriterionScore("sdg", round(score, 4), "shares SDG targets " + _names(shared))
    goals = {t.split(".")[0] for t in need.sdg_targets} & {t.split(".")[0] for t in offer.sdg_targets}
    if goals:
        return CriterionScore("sdg", 0.4, "no shared SDG targets, but the same goal " + _names(goals))
    return CriterionScore("sdg", 0.0, "no shared SDG targets")


def modality(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    if not need.modalities:
        return CriterionScore("modality", 0.0, "the need names no modality")
    shared = need.modalities & offer.modalities
    if not shared:
        return CriterionScore("modality", 0.0, "offers none of the modalities asked for")
    score = len(shared) / len(need.modalities)
    return CriterionScore("modality", round(score, 4), "offers " + _names(m.replace("_", " ").lower() for m in shared))


def budget(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    if not offer.has_budget:
        return CriterionScore("budget", 0.5, "a capability: expertise rather than funds")
    if need.amount_usd is None:
        return CriterionScore("budget", 0.5, "the need has no cost estimate")
    if offer.amount_usd is None:
        return CriterionScore("budget", 0.5, "the programme reports no budget")
    if offer.amount_usd <= 0:
        return CriterionScore("budget", 0.0, "the programme's budget is fully committed")
    if offer.amount_usd >= need.amount_usd:
        return CriterionScore(
            "budget",
            1.0,
            f"uncommitted budget (about USD {offer.amount_usd:,.0f}) covers the cost (about USD {need.amount_usd:,.0f})",
        )
    ratio = offer.amount_usd / need.amount_usd
    return CriterionScore(
        "budget",
        round(ratio, 4),
        f"uncommitted budget (about USD {offer.amount_usd:,.0f}) covers {ratio:.0%} of the cost (about USD {need.amount_usd:,.0f})",
    )


def timeframe(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    if not offer.has_timeframe:
        return CriterionScore("timeframe", 0.5, "a capability: available without fixed dates")
    if need.start is None or need.end is None:
        return CriterionScore("timeframe", 0.5, "the need has no timeframe")
    if offer.start is None and offer.end is None:
        return CriterionScore("timeframe", 0.5, "the programme has no dates")
    start = max(need.start, offer.start or need.start)
    end = min(need.end, offer.end or need.end)
    need_days = max((need.end - need.start).days, 1)
    overlap = (end - start).days
    if overlap <= 0:
        return CriterionScore("timeframe", 0.0, "the programme's dates do not overlap the need's timeframe")
    share = min(overlap / need_days, 1.0)
    return CriterionScore(
        "timeframe", round(share, 4), f"the programme runs through {share:.0%} of the need's timeframe"
    )


def language(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    if not need.languages:
        return CriterionScore("language", 0.5, "the need names no working language")
    if not offer.languages:
        return CriterionScore("language", 0.5, "the offer names no working language")
    shared = need.languages & offer.languages
    if not shared:
        return CriterionScore("language", 0.0, "no shared working language")
    return CriterionScore("language", 1.0, "works in " + _names(LANGUAGE_NAMES.get(code, code) for code in shared))


def text(need: Profile, offer: Profile, vocab: Vocabulary) -> CriterionScore:
    a, b = need.text_terms, offer.text_terms
    if not a or not b:
        return CriterionScore("text", 0.0, "no description to compare")
    common = a.keys() & b.keys()
    if not common:
        return CriterionScore("text", 0.0, "the descriptions share no key terms")
    dot = sum(a[t] * b[t] for t in common)
    norm = need.text_norm * offer.text_norm
    cosine = dot / norm if norm else 0.0
    # Short texts rarely exceed ~0.5 cosine even when about the same thing: stretch the scale.
    score = min(1.0, cosine * 2.0)
    # Ties in alphabetical order: set order varies between processes, and an explanation that
    # changed on every rematch would look like a change to subscribers.
    top = sorted(common, key=lambda t: (-(a[t] * b[t]), t))[:5]
    return CriterionScore("text", round(score, 4), "descriptions share key terms: " + ", ".join(top))


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    description: str
    score: Callable[[Profile, Profile, Vocabulary], CriterionScore]


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "thematic",
        "Thematic fit",
        "Share of the need's themes the offer covers (75%) and of its rights dimensions (25%).",
        thematic,
    ),
    Criterion(
        "sector", "Sector fit", "1 for the same DAC 5-digit sector, 0.5 for the same 3-digit category, else 0.", sector
    ),
    Criterion(
        "sdg",
        "SDG overlap",
        "0.5 plus half the share of the need's SDG targets shared; 0.4 for the same goal only.",
        sdg,
    ),
    Criterion("modality", "Modality fit", "Share of the need's delivery modalities the offer provides.", modality),
    Criterion(
        "budget",
        "Budget fit",
        "The programme's uncommitted budget against the need's estimated cost, both in USD through the rate table (0.5 when unknown).",
        budget,
    ),
    Criterion(
        "timeframe",
        "Timeframe overlap",
        "Share of the need's timeframe during which the programme runs (0.5 when unknown).",
        timeframe,
    ),
    Criterion(
        "language", "Language", "1 when need and offer share a working language, else 0 (0.5 when unknown).", language
    ),
    Criterion(
        "text",
        "Text relevance",
        "Cosine similarity of the key terms of the two titles and descriptions (stretched ×2, capped at 1).",
        text,
    ),
)
CRITERIA_BY_KEY = {c.key: c for c in CRITERIA}


def score_pair(need: Profile, offer: Profile, vocab: Vocabulary, weights: dict[str, float]) -> tuple[float, list[dict]]:
    """Weighted mean of every criterion, and the breakdown (zeros included)."""
    breakdown: list[dict] = []
    total = weight_sum = 0.0
    for criterion in CRITERIA:
        result = criterion.score(need, offer, vocab)
        weight = float(weights.get(criterion.key, 0.0))
        total += weight * result.score
        weight_sum += weight
        breakdown.append(
            {"criterion": criterion.key, "weight": weight, "score": result.score, "explanation": result.explanation}
        )
    return (round(total / weight_sum, 4) if weight_sum else 0.0), breakdown
