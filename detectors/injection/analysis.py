"""The model-free part of the injection check, shared by the detector and the training script.

``analyse`` normalises the text, runs the rules and lists the texts the classifier must read: each window of the
normalised text and each decoded payload. Training computes its features through this same function, so the head
is fitted on exactly what it sees at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.injection.normalize import Normalized, normalize
from detectors.injection.rules import RuleHit, RuleSet, heuristic_score
from detectors.injection.windows import Window, windows


@dataclass(frozen=True)
class Evidence:
    normalized: Normalized
    hits: list[RuleHit]
    heuristic: float
    windows: list[Window]  # windows over the normalised text
    payload_windows: list[Window]  # windows over each decoded payload, in payload order

    @property
    def classifier_texts(self) -> list[str]:
        """What the classifier reads: every window of the text, then every window of every payload."""
        return [w.text for w in self.windows] + [w.text for w in self.payload_windows]


# Below this many words a text carries too little for the classifier to judge ("x", "test", "tell me" score high
# on a head trained on short attacks); such texts are judged by the rules and obfuscations alone.
MIN_CLASSIFIER_WORDS = 3


def trusted(texts: Sequence[str], probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The classifier's probabilities with those of too-short texts set to 0."""
    keep = np.array([len(t.split()) >= MIN_CLASSIFIER_WORDS for t in texts], dtype=bool)
    return np.where(keep, probabilities, 0.0) if len(texts) else probabilities


def analyse(text: str, rules: RuleSet) -> Evidence:
    normalized = normalize(text)
    hits = rules.match(normalized)
    payload_windows = [w for payload in normalized.payloads for w in windows(payload)]
    return Evidence(normalized, hits, heuristic_score(hits), windows(normalized.text), payload_windows)
