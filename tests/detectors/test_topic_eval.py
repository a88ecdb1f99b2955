"""The topic evaluation on CLINC150: threshold selection reproduces the committed threshold and validation metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.topic import RECOMMENDED_THRESHOLDS
from detectors.topic.clinc import DOMAIN_DESCRIPTIONS, Clinc
from detectors.topic.evaluate import select_threshold, validation_report

RECORDED = Path(__file__).resolve().parents[2] / "detectors" / "topic" / "validation_metrics.json"


def test_threshold_selection_keeps_the_target_in_scope_accuracy() -> None:
    # In-scope queries: their out-of-scope scores and whether their top topic is the right one.
    scores = [0.1, 0.2, 0.3, 0.35, 0.4, 0.9]
    correct = [True, True, True, False, True, True]
    assert select_threshold(scores, correct, 0.5) == 0.301  # accepts 0.1, 0.2, 0.3: 3 of 6 right
    assert select_threshold(scores, correct, 0.6) == 0.401  # 4 of 6 right needs 0.4 accepted
    assert select_threshold(scores, correct, 5 / 6) == 0.901
    with pytest.raises(ValueError, match="no threshold"):
        select_threshold(scores, correct, 0.9)  # one query's top topic is wrong: at most 5 of 6


def test_example_choice_is_seeded_nested_and_capped(shared_data) -> None:
    data = Clinc.load(shared_data("topic/clinc150/data_full.json"))
    ten, three = data.chosen_examples(10, seed=0), data.chosen_examples(3, seed=0)
    assert len(ten) == 150 and all(len(v) == 10 for v in ten.values())
    assert all(three[i] == ten[i][:3] for i in ten)
    assert data.chosen_examples(10, seed=0) == ten != data.chosen_examples(10, seed=1)
    train = {q for q, _ in data.splits["train"]}
    assert all(q in train for qs in ten.values() for q in qs)
    assert sorted(DOMAIN_DESCRIPTIONS) == data.domains


@pytest.mark.slow
def test_validation_reproduces_the_recorded_threshold_and_metrics(shared_data) -> None:
    recorded = json.loads(RECORDED.read_text())
    data = Clinc.load(shared_data("topic/clinc150/data_full.json"))
    report = validation_report(
        data, recorded["examples_per_intent"], recorded["seed"], recorded["target_in_scope_accuracy"]
    )
    assert report["threshold"] == recorded["threshold"] == RECOMMENDED_THRESHOLDS["out_of_scope_above"]
    for key in ("in_scope_accuracy", "oos_recall", "oos_precision", "closed_set_accuracy", "oos_roc_auc"):
        assert report[key] == pytest.approx(recorded[key], abs=0.002), key
