"""The attack memory's recommended threshold reproduces the validation figures it was chosen on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from detectors.memory import RECOMMENDED_THRESHOLDS
from detectors.memory.evaluate import run

RECORDED = Path(__file__).resolve().parents[2] / "detectors" / "memory" / "validation_metrics.json"


@pytest.mark.slow
def test_the_recommended_threshold_reproduces_the_recorded_validation_metrics(shared_data, tmp_path: Path) -> None:
    shared_data("injection/s-labs/validation.csv")
    recorded = json.loads(RECORDED.read_text())
    assert recorded["threshold"] == RECOMMENDED_THRESHOLDS["block_above"]
    cache = Path("/tmp/railguard-attack-memory")
    args = argparse.Namespace(
        data="injection/s-labs",
        split="validation",
        memory_size=200,
        threshold=RECOMMENDED_THRESHOLDS["block_above"],
        cache=cache if cache.is_dir() else tmp_path,
    )
    result = run(args)
    for key in ("recall", "fpr", "precision", "roc_auc"):
        assert result[key] == pytest.approx(recorded[key], abs=0.002), key
    assert result["fpr"] <= 0.001  # the rule the threshold was chosen by
