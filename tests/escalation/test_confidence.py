"""Confidence: which findings feed which feature, the committed model's formula, and that the committed coefficients
reproduce the calibration figures recorded in metrics.json."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from detectors.base import Detection
from escalation.confidence import measure
from escalation.confidence.calibrate import (
    FAMILIES,
    FITTED,
    METRICS_PATH,
    PRIORS,
    SIGNALS_PATH,
    calibration_rows,
    detector_scores,
    installed_detector,
    reliability,
    run,
)
from escalation.confidence.features import FEATURES, Measured, family_of, from_answer, from_findings
from escalation.confidence.model import ConfidenceModel, sigmoid


def finding(guard: str, layer: str, detector: str, score: float, skipped: str | None = None) -> Measured:
    detection = Detection(detector, score) if skipped is None else Detection.skip(detector, skipped)
    return Measured(guard, layer, detection)


def test_detector_families_map_to_features() -> None:
    assert family_of("output.toxicity", "detoxify") == "toxicity"
    assert family_of("input.injection", "injection-head") == "injection"
    assert family_of("post_response.escalation", "terms") == ""
    features = from_findings(
        [
            finding("output.toxicity", "output", "toxicity", 0.4),
            finding("output.toxicity", "output", "toxicity", 0.7),  # the worst window counts
            finding("output.faithfulness", "output", "faithfulness", 0.9, skipped="no context documents"),
            finding("input.pii", "input", "pii", 1.0),  # masking the request is routine, not a risk to the answer
            finding("output.pii", "output", "pii", 0.6),
            finding("input.injection", "input", "injection", 0.3),
            finding("input.attack_memory", "input", "attack_memory", 0.5),
        ]
    )
    assert features == {**dict.fromkeys(FEATURES, 0.0), "toxicity": 0.7, "pii_leak": 0.6, "injection": 0.5}


def test_answer_features_read_finish_reason_and_logprobs() -> None:
    assert from_answer(["stop"], []) == {"truncated": 0.0, "filtered": 0.0, "low_logprob": 0.0}
    values = from_answer(["length"], [-0.5, -1.5])
    assert values["truncated"] == 1.0 and values["low_logprob"] == pytest.approx(1 - math.exp(-1.0))
    assert from_answer(["content_filter"], [float("-inf")])["filtered"] == 1.0


def test_the_committed_model_is_the_documented_formula() -> None:
    model = ConfidenceModel.load()
    assert set(model.fitted) == set(FITTED) and all(w <= 0 for w in model.weights.values())
    assert {name: model.weights[name] for name in PRIORS} == PRIORS
    features = {"toxicity": 0.5, "truncated": 1.0}
    logit = model.intercept + 0.5 * model.weights["toxicity"] + model.weights["truncated"]
    assert model.score(features) == pytest.approx(sigmoid(logit))
    confidence = measure([finding("output.toxicity", "output", "toxicity", 0.5)], ["length"], [], model)
    assert confidence.score == pytest.approx(sigmoid(logit))
    assert confidence.contributions == {
        "toxicity": round(0.5 * model.weights["toxicity"], 4),
        "truncated": model.weights["truncated"],
    }
    assert confidence.detection().score == pytest.approx(confidence.score)


def test_a_model_that_would_reward_risk_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be <= 0"):
        ConfidenceModel(intercept=1.0, weights={"toxicity": 2.0})
    with pytest.raises(ValueError, match="unknown features"):
        ConfidenceModel(intercept=1.0, weights={"sentiment": -1.0})


def test_reliability_bins() -> None:
    table = reliability([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 1], bins=10)
    assert table[0] == {"bin": "0.0-0.1", "n": 1, "mean_predicted": 0.05, "observed": 0.0}
    assert table[9]["n"] == 2 and table[9]["observed"] == 1.0 and table[5]["n"] == 0


@pytest.mark.slow
def test_the_committed_calibration_reproduces_its_recorded_figures(shared_data) -> None:
    """Refitting from the committed signals gives the committed model and figures, and the installed detectors still
    give those signals (a sample of rows is re-scored; computing them all takes a quarter of an hour)."""
    shared_data("faithfulness/summac/summeval.json")
    shared_data("toxicity/labeled_data.csv")
    recorded = json.loads(METRICS_PATH.read_text())
    args = argparse.Namespace(write=False, toxicity_rows=1200, from_signals=True, threads=2)
    result = run(args)
    assert result["signals"] == recorded["signals"]
    assert result["model"]["fitted"] == recorded["model"]["fitted"]
    for name in FITTED:
        assert result["model"]["weights"][name] == pytest.approx(recorded["model"]["weights"][name], abs=1e-4)
    for key in ("ece", "brier", "roc_auc"):
        assert result["report"][key] == pytest.approx(recorded["report"][key], abs=1e-4)
    committed = ConfidenceModel.load()
    assert committed.intercept == pytest.approx(recorded["model"]["intercept"], abs=1e-6)
    assert committed.weights == pytest.approx(recorded["model"]["weights"], abs=1e-6)

    fit_rows, report_rows = calibration_rows(1200)
    rows = fit_rows + report_rows
    values = json.loads(SIGNALS_PATH.read_text())["values"]
    checked = 0
    for feature, family in FAMILIES.items():
        source = recorded["signals"][feature]
        if not source.startswith("detector "):
            continue  # a stand-in computed by the calibration itself
        module, _, name = source.removeprefix("detector ").rpartition(".")
        detector = installed_detector(family, f"{module}:{name}")
        assert detector is not None
        relevant = [i for i, row in enumerate(rows) if row.context or feature != "unsupported"]
        sample = relevant[:: max(1, len(relevant) // 12)]
        scores = detector_scores(detector, [rows[i] for i in sample])
        assert scores == pytest.approx([values[feature][i] for i in sample], abs=1e-3), feature
        checked += 1
    assert checked, "the committed calibration should come from at least one merged detector"
