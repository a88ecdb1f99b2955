"""Confidence for every answer: how likely it is acceptable (supported, safe, complete), from what the guards
measured and how the answer ended. See `model.py` for the formula and `MODEL_CARD.md` for its calibration."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from detectors.base import Detection
from escalation.confidence.features import FEATURES, Measurement, from_answer, from_findings
from escalation.confidence.model import ConfidenceModel, default_model

__all__ = ["FEATURES", "Confidence", "ConfidenceModel", "measure"]


@dataclass(frozen=True, slots=True)
class Confidence:
    score: float
    features: dict[str, float]
    contributions: dict[str, float]
    model: str

    def detection(self) -> Detection:
        """As a detection (score = the confidence), so the event records it like any other measurement."""
        labels = {name: round(value, 4) for name, value in self.features.items() if value}
        return Detection("confidence", min(1.0, max(0.0, self.score)), labels=labels, details={"model": self.model})


def measure(
    findings: Iterable[Measurement],
    finish_reasons: Sequence[str],
    token_logprobs: Sequence[float],
    model: ConfidenceModel | None = None,
) -> Confidence:
    model = model or default_model()
    features = {**from_findings(findings), **from_answer(finish_reasons, token_logprobs)}
    contributions = {k: round(v, 4) for k, v in model.contributions(features).items() if v}
    return Confidence(model.score(features), features, contributions, model.version)
