"""ToxicityDetector: how toxic a text is, per label, in tweet-sized chunks of whole sentences and sentence by sentence.

``Detection.labels`` holds per-label probabilities with detoxify's names (the offline head has ``toxicity``,
``identity_attack`` and ``insult``; detoxify checkpoints add ``severe_toxicity``, ``obscene``, ``threat``,
``sexual_explicit`` as trained). Each label's score is its maximum over the text's tweet-sized chunks (see ``units``)
and, except for ``CHUNK_ONLY_LABELS``, over its single sentences too, so one toxic sentence in a long, otherwise
harmless answer or streamed window is not averaged away. The sentences (or, for a one-sentence text, the chunks)
whose ``toxicity`` is over ``SPAN_ABOVE`` are ``spans`` (labelled with their highest label).
``Detection.score`` is the ``toxicity`` label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.base import Detection, Detector, DetectorContext, Span
from detectors.faithfulness.segment import split_sentences
from detectors.models.embeddings import EmbeddingCache
from detectors.toxicity.detoxify_backend import VARIANTS, DetoxifyLocation, load_detoxify
from detectors.toxicity.head import DEFAULT_HEAD, ToxicityHead
from detectors.toxicity.lexical import counts
from detectors.toxicity.text import clean

BACKENDS = ("offline", "detoxify")
# For the offline head, chosen on the development split by train.py (block: at most 2% of development texts without
# the label; log: the max-F1 point); tests check they match weights/validation_metrics.json and the policy defaults.
RECOMMENDED_THRESHOLDS = {
    "toxicity": {"block_above": 0.6704, "log_above": 0.3052},
    "identity_attack": {"block_above": 0.8029},
}
SPAN_ABOVE = 0.5  # a reporting cut for spans, not a policy threshold
MAX_UNITS = 64  # chunks scored per text (a window is far shorter; whole answers beyond this are rarely toxic only late)
CHUNK_CHARS = 140
# Scored on chunks only; every other label also on each sentence alone. Why: an insult is an insult in any company,
# so one insulting sentence must not be diluted by its harmless neighbours (the guard's main case). Whether a sentence
# attacks a group depends more on its neighbours, and that head's probabilities on short fragments run high. Measured
# on the development split with a train-only head: chunks+sentences vs chunks, toxicity 0.9795 vs 0.9829,
# identity_attack 0.8775 vs 0.8820 ROC AUC; the toxicity cost is accepted for the guard's sake.
CHUNK_ONLY_LABELS = frozenset({"identity_attack"})

__all__ = ["BACKENDS", "RECOMMENDED_THRESHOLDS", "VARIANTS", "ToxicityDetector"]


def units(text: str) -> list[tuple[int, int, str]]:
    """The parts of ``text`` scored on their own, with offsets: consecutive sentences merged up to ``CHUNK_CHARS``.

    Why chunks of that size: the head was trained on tweets, which are at most 140 characters once cleaned, and its
    n-gram features are length-normalised, so a toxic sentence inside a much longer text would be diluted. A text
    that short is one unit (scored exactly as in training); a longer one is cut at sentence ends."""
    if len(text) <= CHUNK_CHARS:
        return [(0, len(text), text)]
    chunks: list[tuple[int, int]] = []
    for start, end, _ in sentences(text):
        if chunks and end - chunks[-1][0] <= CHUNK_CHARS:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return [(start, end, text[start:end]) for start, end in chunks[:MAX_UNITS]] or [(0, len(text), text)]


def sentences(text: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.text) for s in split_sentences(text) if s.text.strip()][:MAX_UNITS]


class ToxicityDetector(Detector):
    """``backend="offline"``: the shipped head on hashed n-grams plus the shared encoder's embedding.
    ``backend="detoxify"``: one of detoxify's checkpoints (``model``: original, unbiased, multilingual), pulled
    ahead of time; absent → ModelUnavailableError when the detector is built, never a silent fall back."""

    name = "toxicity"
    uses_models = True

    def __init__(
        self,
        backend: str = "offline",
        model: str = "original",
        head_path: Path | None = None,
        location: DetoxifyLocation | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown toxicity backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.model = model
        self.head = ToxicityHead.load(head_path or DEFAULT_HEAD) if backend == "offline" else None
        self._location = location
        if backend == "detoxify" and location is None:
            self._location = DetoxifyLocation.of(model)  # fail at policy load if it was not pulled

    def warm_up(self) -> None:
        self.detect("Warming up the toxicity detector.", DetectorContext())

    def score_texts(self, texts: Sequence[str], embeddings: EmbeddingCache | None = None) -> list[dict[str, float]]:
        """Per-label probabilities for each text, in one batch."""
        if not texts:
            return []
        if self.head is not None:
            cache = embeddings if embeddings is not None else EmbeddingCache()
            vectors = cache.embed([clean(t) for t in texts])
            scores = self.head.scores(counts(texts), vectors)
            return [{label: float(row[i]) for i, label in enumerate(self.head.labels)} for row in scores]
        return list(load_detoxify(self.model, self._location).predict(texts))

    def detect(self, text: str, context: DetectorContext) -> Detection:
        if not text.strip():
            return Detection.skip(self.name, "empty text")
        chunks = units(text)
        split = sentences(text)
        parts = split if len(split) > 1 else []
        scored = self.score_texts([p[2] for p in chunks + parts], context.embeddings)
        by_chunk, by_sentence = scored[: len(chunks)], scored[len(chunks) :]
        labels = {}
        for label in scored[0]:
            labels[label] = max(s[label] for s in by_chunk)
            if label not in CHUNK_ONLY_LABELS and by_sentence:
                labels[label] = max(labels[label], *(s[label] for s in by_sentence))
        spans = []
        for (start, end, _), unit_scores in zip(parts or chunks, by_sentence or by_chunk, strict=True):
            toxicity = unit_scores.get("toxicity", max(unit_scores.values()))
            if toxicity > SPAN_ABOVE:
                label = max(unit_scores, key=lambda name: unit_scores[name])
                spans.append(Span(start, end, label, round(toxicity, 4)))
        return Detection(
            detector=self.name,
            score=float(np.clip(labels.get("toxicity", max(labels.values())), 0.0, 1.0)),
            labels={k: round(v, 4) for k, v in labels.items()},
            spans=spans,
            details={"backend": self.backend, "chunks": len(chunks), "sentences": len(split)}
            | ({"model": self.model} if self.backend == "detoxify" else {}),
        )
