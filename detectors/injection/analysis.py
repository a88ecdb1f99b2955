"""The model-free part of the injection check, shared by the detector and the training script.

``analyse`` normalises the text, runs the rules and lists the texts the classifier must read: each window of the
normalised text and each decoded payload. Training computes its features through this same function, so the head
is fitted on exactly what it sees at run time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.injection.normalize import Normalized, normalize
from detectors.injection.rules import RuleHit, RuleSet, heuristic_score
from detectors.injection.windows import Window, windows
from detectors.models.embeddings import Span


@dataclass(frozen=True)
class Evidence:
    normalized: Normalized
    hits: list[RuleHit]
    heuristic: float
    windows: list[Window]  # windows over the normalised text
    payload_windows: list[Window]  # windows over each decoded payload, in payload order
    payload_of_window: list[str]  # the payload each of those windows is cut from

    @property
    def classifier_texts(self) -> list[str]:
        """What the classifier reads: every window of the text, then every window of every payload."""
        return [w.text for w in self.windows] + [w.text for w in self.payload_windows]

    @property
    def classifier_spans(self) -> list[Span]:
        """The same windows as ``(text or payload, start, end)``: their sentence vectors are read from one encoder
        pass over each text (``EmbeddingCache.embed_spans``); their lexical vectors from ``classifier_texts``."""
        spans = [(self.normalized.text, w.start, w.end) for w in self.windows]
        return spans + [(p, w.start, w.end) for p, w in zip(self.payload_of_window, self.payload_windows, strict=True)]

    @property
    def classifier_can_judge(self) -> bool:
        """Whether any of those texts is long enough for the classifier (``MIN_CLASSIFIER_WORDS``)."""
        return any(word_count(t) >= MIN_CLASSIFIER_WORDS for t in self.classifier_texts)


# Below this many words a text carries too little for the classifier to judge ("x", "test", "tell me" score high
# on a head trained on short attacks); such texts are judged by the rules and obfuscations alone.
MIN_CLASSIFIER_WORDS = 3
# Chinese and Japanese are written without spaces: a word per two characters of Han or kana, or a whole request would
# count as one "word" and never reach the classifier. (Thai, Lao, Khmer and Myanmar are unspaced too, but the head has
# no training text in them, so their texts stay with the rules: see README "What it misses".)
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def word_count(text: str) -> int:
    """Words in ``text``: whitespace-separated tokens, plus one per two Han or kana characters."""
    return len(text.split()) + len(_UNSPACED.findall(text)) // 2


def trusted(texts: Sequence[str], probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The classifier's probabilities with those of too-short texts set to 0."""
    keep = np.array([word_count(t) >= MIN_CLASSIFIER_WORDS for t in texts], dtype=bool)
    return np.where(keep, probabilities, 0.0) if len(texts) else probabilities


# The classifier's "no opinion": logit 0, so the fusion weighs the rules alone.
ABSTAIN = 0.5


def per_evidence(evidence: Sequence[Evidence], probabilities: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
    """One batch's probabilities (every classifier text of every piece of evidence, in order) split back into each
    piece of evidence's own."""
    if not evidence:
        return []
    return np.split(probabilities, np.cumsum([len(found.classifier_texts) for found in evidence])[:-1])


def classifier_score(evidence: Evidence, probabilities: npt.NDArray[np.float64]) -> float:
    """The classifier's say on a text, from its probabilities for ``evidence.classifier_texts``: the highest one among
    the texts long enough to judge. Where none is (a two-word text) it abstains if a rule fired, so that the rules
    decide ("ignore instructions" is still an attack), and says 0 otherwise."""
    if evidence.classifier_can_judge:
        return float(trusted(evidence.classifier_texts, probabilities).max())
    return ABSTAIN if evidence.hits else 0.0


def analyse(text: str, rules: RuleSet) -> Evidence:
    normalized = normalize(text)
    hits = rules.match(normalized)
    cut = [(payload, w) for payload in normalized.payloads for w in windows(payload)]
    return Evidence(
        normalized, hits, heuristic_score(hits), windows(normalized.text), [w for _, w in cut], [p for p, _ in cut]
    )
