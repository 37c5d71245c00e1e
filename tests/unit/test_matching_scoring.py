"""The fast numeric scorer (scoring.best) ranks exactly as the reference criteria do.

score_pair (criteria.py) is what users read in a breakdown; scoring.best is what a rematch
ranks by. If the two ever disagreed, a need could keep the wrong top K."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.matching.criteria import CRITERIA, Profile, Vocabulary, score_pair, terms
from service.matching.engine import _related, _usable
from service.matching.scoring import CandidateSet, Features, FeatureTable, best, weight_vector

VOCAB = Vocabulary(theme_names={}, sector_names={}, category_names={})
THEMES = ["JUSTICE", "DETENTION", "NHRI", "GENDER", "CHILDREN"]
DIMENSIONS = ["CIVIL", "POLITICAL", "ECONOMIC", "SOCIAL"]
SECTORS = ["15130", "15160", "15170", "12110", "11110"]
TARGETS = ["16.3", "16.6", "16.10", "5.2", "5.5", "4.1"]
MODALITIES = ["TRAINING", "ADVISORY_SERVICES", "EQUIPMENT"]
LANGUAGES = ["en", "fr", "es"]
WORDS = "court judge prison detention gender violence school teacher training police reform law".split()


def subset(values: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values), max_size=len(values))


optional_day = st.one_of(
    st.none(), st.integers(min_value=0, max_value=2000).map(lambda d: date(2025, 1, 1) + timedelta(days=d))
)


@st.composite
def profiles(draw: st.DrawFn, offer: bool) -> Profile:
    capability = offer and draw(st.booleans())
    start, end = draw(optional_day), draw(optional_day)
    if start and end and end < start:
        start, end = end, start
    return Profile(
        themes=draw(subset(THEMES)),
        rights_dimensions=draw(subset(DIMENSIONS)),
        sectors=draw(subset(SECTORS)),
        sdg_targets=frozenset() if capability and draw(st.booleans()) else draw(subset(TARGETS)),
        modalities=draw(subset(MODALITIES)),
        languages=draw(subset(LANGUAGES)),
        amount_usd=None if capability else draw(st.one_of(st.none(), st.floats(min_value=-1e5, max_value=5e6))),
        start=None if capability else start,
        end=None if capability else end,
        text_terms=terms(" ".join(draw(st.lists(st.sampled_from(WORDS), max_size=12)))),
        has_budget=not capability,
        has_timeframe=not capability,
    )


weights_strategy = st.fixed_dictionaries(
    {c.key: st.sampled_from([0.0, 0.5, 1.0, 2.0, 0.15, 0.3]) for c in CRITERIA}
).filter(lambda w: sum(w.values()) > 0)


@dataclass
class Offer:
    id: int
    features: Features
    kind_order: str = "PROGRAMME"


@settings(max_examples=300, deadline=None)
@given(
    needs=st.lists(profiles(offer=False), min_size=1, max_size=3),
    offers=st.lists(profiles(offer=True), min_size=1, max_size=30),
    weights=weights_strategy,
    top_k=st.integers(min_value=1, max_value=8),
)
def test_best_keeps_the_reference_top_k_with_the_reference_scores(needs, offers, weights, top_k):
    table = FeatureTable()
    candidates = [Offer(id=i, features=table.of(p)) for i, p in enumerate(offers)]
    # Needs sharing candidates are scored together (rows of one array operation), as a rematch does.
    results = best([table.of(n) for n in needs], CandidateSet(table, candidates), weight_vector(weights), top_k)

    for need, (ranked, pairs) in zip(needs, results):
        reference = []
        for candidate, offer in zip(candidates, offers):
            if _related(need, offer) and _usable(need, offer):
                score, _ = score_pair(need, offer, VOCAB, weights)
                if score > 0:
                    reference.append((-score, candidate.kind_order, candidate.id))
        reference.sort()
        assert pairs == sum(1 for o in offers if _related(need, o) and _usable(need, o))
        assert [(-score, c.kind_order, c.id) for score, c in ranked] == reference[:top_k]


def test_features_are_computed_once_per_profile():
    table = FeatureTable()
    profile = Profile(themes=frozenset({"JUSTICE"}))
    assert table.of(profile) is table.of(profile)
    assert table.of(Profile(themes=frozenset({"JUSTICE"}))).theme == table.of(profile).theme != 0


def test_weights_are_checked_before_they_are_published():
    import math

    import pytest

    from service.errors import InvalidInput
    from service.matching.engine import check_weights

    good = {c.key: 0.1 for c in CRITERIA}
    assert check_weights(good) == good
    cases = {
        "unknown: colour": {**good, "colour": 1.0},
        "missing: text": {k: v for k, v in good.items() if k != "text"},
        "`text` must be a finite number ≥ 0; got -0.2": {**good, "text": -0.2},
        "`text` must be a finite number ≥ 0; got 'high'": {**good, "text": "high"},
        "`text` must be a finite number ≥ 0; got nan": {**good, "text": math.nan},
        "At least one weight must be above 0": {k: 0 for k in good},
        "an object of criterion keys": [0.1] * 8,
    }
    for message, weights in cases.items():
        with pytest.raises(InvalidInput) as refused:
            check_weights(weights)
        assert message in refused.value.message
