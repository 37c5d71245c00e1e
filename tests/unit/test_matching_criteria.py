"""Each matching criterion: its score and the sentence that explains it."""

from __future__ import annotations

from datetime import date

from service.matching.criteria import CRITERIA, Profile, Vocabulary, score_pair, terms

VOCAB = Vocabulary(
    theme_names={"JUSTICE": "Administration of justice", "DETENTION": "Detention", "NHRI": "NHRI"},
    sector_names={"15130": "Legal and judicial development", "15160": "Human rights"},
    category_names={"151": "Government and civil society"},
)
by_key = {c.key: c.score for c in CRITERIA}


def test_thematic_counts_shared_themes_and_rights_dimensions():
    need = Profile(themes=frozenset({"JUSTICE", "DETENTION"}), rights_dimensions=frozenset({"CIVIL", "POLITICAL"}))
    result = by_key["thematic"](
        need, Profile(themes=frozenset({"JUSTICE"}), rights_dimensions=frozenset({"CIVIL"})), VOCAB
    )
    assert result.score == 0.75 * 0.5 + 0.25 * 0.5
    assert result.explanation == "shares themes: administration of justice; rights dimensions: civil"
    assert by_key["thematic"](need, Profile(themes=frozenset({"NHRI"})), VOCAB).explanation == "no shared themes"


def test_sector_prefers_the_same_code_over_the_same_category():
    need = Profile(sectors=frozenset({"15130"}))
    assert by_key["sector"](need, Profile(sectors=frozenset({"15130"})), VOCAB).score == 1.0
    same_category = by_key["sector"](need, Profile(sectors=frozenset({"15160"})), VOCAB)
    assert same_category.score == 0.5 and "151 Government and civil society" in same_category.explanation
    assert by_key["sector"](need, Profile(sectors=frozenset({"12110"})), VOCAB).score == 0.0


def test_sdg_targets_then_goals():
    need = Profile(sdg_targets=frozenset({"16.3", "16.6"}))
    assert by_key["sdg"](need, Profile(sdg_targets=frozenset({"16.3"})), VOCAB).score == 0.75
    goal = by_key["sdg"](need, Profile(sdg_targets=frozenset({"16.10"})), VOCAB)
    assert goal.score == 0.4 and "goal 16" in goal.explanation
    assert by_key["sdg"](need, Profile(sdg_targets=frozenset({"5.2"})), VOCAB).explanation == "no shared SDG targets"


def test_budget_compares_uncommitted_budget_with_cost():
    need = Profile(amount_usd=100_000)
    assert by_key["budget"](need, Profile(amount_usd=250_000), VOCAB).score == 1.0
    half = by_key["budget"](need, Profile(amount_usd=50_000), VOCAB)
    assert half.score == 0.5 and "covers 50%" in half.explanation
    assert by_key["budget"](need, Profile(amount_usd=0), VOCAB).score == 0.0
    assert by_key["budget"](Profile(), Profile(amount_usd=1), VOCAB).explanation == "the need has no cost estimate"
    assert by_key["budget"](need, Profile(has_budget=False), VOCAB).score == 0.5


def test_timeframe_overlap_share():
    need = Profile(start=date(2027, 1, 1), end=date(2027, 12, 31))
    offer = Profile(start=date(2026, 1, 1), end=date(2027, 7, 1))
    result = by_key["timeframe"](need, offer, VOCAB)
    assert 0.49 < result.score < 0.51
    assert by_key["timeframe"](need, Profile(start=date(2020, 1, 1), end=date(2021, 1, 1)), VOCAB).score == 0.0


def test_language_modality_and_text():
    need = Profile(
        languages=frozenset({"fr", "ar"}),
        modalities=frozenset({"TRAINING", "ADVISORY_SERVICES"}),
        text_terms=terms("Court case management for county courts"),
    )
    offer = Profile(
        languages=frozenset({"fr"}),
        modalities=frozenset({"TRAINING"}),
        text_terms=terms("Court management and case backlog reduction in courts"),
    )
    assert by_key["language"](need, offer, VOCAB).explanation == "works in French"
    assert by_key["modality"](need, offer, VOCAB).score == 0.5
    text = by_key["text"](need, offer, VOCAB)
    assert text.score > 0.5 and "court" in text.explanation
    assert by_key["text"](need, Profile(text_terms=terms("prison health")), VOCAB).score == 0.0


def test_score_is_the_weighted_mean_and_lists_every_criterion():
    need = Profile(themes=frozenset({"JUSTICE"}), sectors=frozenset({"15130"}))
    score, breakdown = score_pair(need, need, VOCAB, {c.key: 1.0 for c in CRITERIA})
    assert [b["criterion"] for b in breakdown] == [c.key for c in CRITERIA]
    assert score == round(sum(b["score"] for b in breakdown) / len(CRITERIA), 4)
    assert all(b["explanation"] for b in breakdown)


def test_unknowns_are_not_mismatches():
    need = Profile(themes=frozenset({"JUSTICE"}), sdg_targets=frozenset({"16.3"}))
    imported = by_key["thematic"](need, Profile(sectors=frozenset({"15130"})), VOCAB)
    assert imported.score == 0.5 and "unknown" in imported.explanation
    capability = by_key["sdg"](need, Profile(has_budget=False), VOCAB)
    assert capability.score == 0.5 and "capability" in capability.explanation


def test_ended_or_spent_programmes_are_not_candidates():
    from service.matching.engine import _usable

    need = Profile(start=date(2027, 7, 1), end=date(2028, 6, 30))
    assert not _usable(need, Profile(start=date(2024, 1, 1), end=date(2026, 12, 31)))
    assert not _usable(need, Profile(amount_usd=0))
    assert _usable(need, Profile(end=date(2027, 12, 31), amount_usd=10))
    assert _usable(need, Profile(has_budget=False, has_timeframe=False))


def test_text_explanation_lists_equally_weighted_terms_alphabetically():
    # Set order differs between processes; the sentence must not, or every rematch would
    # rewrite it and notify subscribers of a change that did not happen.
    need = Profile(text_terms=terms("zebra yak xylophone wombat vulture tiger"))
    offer = Profile(text_terms=terms("tiger vulture wombat xylophone yak zebra"))
    assert (
        by_key["text"](need, offer, VOCAB).explanation
        == "descriptions share key terms: tiger, vulture, wombat, xylophone, yak"
    )
