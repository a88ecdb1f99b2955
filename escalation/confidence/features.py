"""What confidence is computed from: one number per feature, each a risk in 0..1 (0: nothing wrong seen).

Scores come from the guards' findings (each detector family maps to one feature; a family that did not run, or
skipped, contributes 0), plus two read from the answer itself: why it ended (`finish_reason`) and, when the upstream
returned them, the token log-probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from detectors.base import Detection

FEATURES: tuple[str, ...] = (
    "unsupported",  # faithfulness: the answer is not supported by the context documents
    "toxicity",  # toxicity of the answer
    "injection",  # prompt-injection score of the request
    "off_topic",  # topic guard: the request is outside the allowed topics
    "pii_leak",  # PII found in the answer
    "format_invalid",  # the answer does not have the required format
    "truncated",  # finish_reason `length`: the answer was cut off
    "filtered",  # finish_reason `content_filter`: the upstream filtered its own answer
    "low_logprob",  # 1 - exp(mean token log-probability): how unsure the model was of its own tokens
)


@dataclass(frozen=True, slots=True)
class FamilyFeature:
    """Which findings feed a feature: the detector family (first part of the detector's or guard's name) and, when
    it matters, the layer it must come from."""

    family: str
    feature: str
    layers: frozenset[str] = frozenset()


# Detector families → features. The PII family counts only on the answer (masking the request is routine).
FAMILY_FEATURES: tuple[FamilyFeature, ...] = (
    FamilyFeature("faithfulness", "unsupported"),
    FamilyFeature("toxicity", "toxicity"),
    FamilyFeature("injection", "injection", frozenset({"input"})),
    FamilyFeature("attack", "injection", frozenset({"input"})),  # attack_memory: paraphrases of confirmed attacks
    FamilyFeature("topic", "off_topic"),
    FamilyFeature("pii", "pii_leak", frozenset({"output"})),
    FamilyFeature("format", "format_invalid"),
)


class Measurement(Protocol):
    """A guard's finding as confidence reads it (`proxy.exchange.Finding` is one)."""

    @property
    def guard(self) -> str: ...

    @property
    def layer(self) -> str: ...

    @property
    def detection(self) -> Detection: ...


@dataclass(frozen=True, slots=True)
class Measured:
    """A measurement made outside the pipeline (the calibration script runs detectors itself)."""

    guard: str
    layer: str
    detection: Detection


def family_of(guard: str, detector: str) -> str:
    """`output.toxicity` / `toxicity-detoxify` / `toxicity.head` -> `toxicity`."""
    for name in (detector, guard.rsplit(".", 1)[-1]):
        head = name.replace("-", ".").replace("_", ".").split(".")[0].lower()
        if any(head == f.family for f in FAMILY_FEATURES):
            return head
    return ""


def from_findings(measured: Iterable[Measurement]) -> dict[str, float]:
    """The highest score each feature's family measured (skipped detections do not count)."""
    values = dict.fromkeys(FEATURES, 0.0)
    for item in measured:
        if item.detection.skipped:
            continue
        family = family_of(item.guard, item.detection.detector)
        for mapping in FAMILY_FEATURES:
            if mapping.family == family and (not mapping.layers or item.layer in mapping.layers):
                values[mapping.feature] = max(values[mapping.feature], float(item.detection.score))
    return values


def from_answer(finish_reasons: Sequence[str], token_logprobs: Sequence[float]) -> dict[str, float]:
    values = {
        "truncated": 1.0 if "length" in finish_reasons else 0.0,
        "filtered": 1.0 if "content_filter" in finish_reasons else 0.0,
        "low_logprob": 0.0,
    }
    finite = [v for v in token_logprobs if math.isfinite(v)]
    if finite:
        values["low_logprob"] = 1.0 - math.exp(sum(finite) / len(finite))
    return values
