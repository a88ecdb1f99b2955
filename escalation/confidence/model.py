"""The confidence model: a logistic combination of the features with committed coefficients.

    confidence = sigmoid(intercept + sum(weight[f] * feature[f]))

Every feature is a risk in 0..1 and every weight is negative or zero, so confidence only falls as risks rise. Which
weights were fitted on labelled data and which are stated priors is recorded in `model.json` (and explained in
`MODEL_CARD.md`); `python -m escalation.confidence.calibrate --write` refits the fitted ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escalation.confidence.features import FEATURES

MODEL_PATH = Path(__file__).with_name("model.json")


def sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


@dataclass(frozen=True)
class ConfidenceModel:
    intercept: float
    weights: dict[str, float]
    version: str = "unversioned"
    fitted: tuple[str, ...] = ()  # features whose weights were fitted on labelled data (the rest are priors)
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"confidence model names unknown features: {sorted(unknown)}")
        positive = [name for name, weight in self.weights.items() if weight > 0]
        if positive:
            raise ValueError(f"confidence weights must be <= 0 (a risk never raises confidence): {positive}")

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> ConfidenceModel:
        data = json.loads(path.read_text())
        return cls(
            intercept=float(data["intercept"]),
            weights={k: float(v) for k, v in data["weights"].items()},
            version=str(data.get("version", "unversioned")),
            fitted=tuple(data.get("fitted", ())),
            notes=dict(data.get("notes", {})),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "intercept": round(self.intercept, 6),
            "weights": {name: round(self.weights.get(name, 0.0), 6) for name in FEATURES},
            "fitted": list(self.fitted),
            "notes": self.notes,
        }

    def contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the logit (0 for features at 0)."""
        return {name: self.weights.get(name, 0.0) * float(features.get(name, 0.0)) for name in FEATURES}

    def logit(self, features: Mapping[str, float]) -> float:
        return self.intercept + sum(self.contributions(features).values())

    def score(self, features: Mapping[str, float]) -> float:
        return sigmoid(self.logit(features))


_loaded: ConfidenceModel | None = None


def default_model() -> ConfidenceModel:
    """The committed model, read once per process."""
    global _loaded
    if _loaded is None:
        _loaded = ConfidenceModel.load()
    return _loaded
