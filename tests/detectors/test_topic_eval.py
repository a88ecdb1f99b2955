"""The topic evaluation on CLINC150: threshold selection reproduces the committed threshold and validation metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.topic import RECOMMENDED_THRESHOLDS
from detectors.topic.clinc import DOMAIN_DESCRIPTIONS, Clinc
from detectors.topic.evaluate import select_threshold, validation_report

RECORDED = Path(__file__).resolve().parents[2] / "detectors" / "topic" / "validation_metrics.json"


def test_threshold_selection_keeps_the_target_recall() -> None:
    scores = [0.9, 0.8, 0.7, 0.65, 0.2, 0.1, 0.3]
    is_oos = [True, True, True, True, False, False, False]
    assert select_threshold(scores, is_oos, 0.75) == 0.7  # flags 3 of 4 (0.9, 0.8, 0.7)
    assert select_threshold(scores, is_oos, 1.0) == 0.65


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
    report = validation_report(data, recorded["examples_per_intent"], recorded["seed"], recorded["target_oos_recall"])
    assert report["threshold"] == recorded["threshold"] == RECOMMENDED_THRESHOLDS["out_of_scope_above"]
    for key in ("in_scope_accuracy", "oos_recall", "oos_precision", "closed_set_accuracy", "oos_roc_auc"):
        assert report[key] == pytest.approx(recorded[key], abs=0.002), key
