"""Intent analysis: what the user wants to happen (hand-over to a human, a complaint, an account action, ...).

The intents are declarations of the same shape as policy topics (intents.yaml; a policy adds its own or extends a
built-in one with more examples) scored by the same few-shot classifier as topics. ``request_human`` additionally
goes through a phrase layer (phrases.py), because an embedding of the whole turn cannot tell a request for a human
from a question about one.

What ``detect`` returns:

- ``labels``: every intent with a score in 0..1. For most intents it is the cosine similarity to the intent's
  nearest prototype (clipped at 0). For ``request_human`` it is the combined score: ``PHRASE_SCORE`` (or the
  embedding score if higher) when a request phrase matched; at most ``NOT_REQUEST_CAP`` when the turn mentions a
  human without asking for one; otherwise the embedding score, halved when another intent is closer.
- ``score``: the score of the top intent (``details["top_intent"]``).
- ``details``: ``top_intent``, ``request_human_phrase`` (the matched request phrase or None),
  ``request_human_not_request`` (the phrase that ruled a request out, or None), ``out_of_scope`` (1 - best
  similarity, as for topics).

The escalation trigger ``request_human`` fires when ``labels["request_human"] >= RECOMMENDED_THRESHOLDS[...]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detection, Detector, DetectorContext
from detectors.intent.phrases import read_request_human
from detectors.models.encoder import SharedEncoder
from detectors.topic.declarations import TopicDeclaration, as_declarations, load_declarations
from detectors.topic.scorers import EmbeddingTopicScorer

REQUEST_HUMAN = "request_human"
BUILTIN_INTENTS_FILE = Path(__file__).with_name("intents.yaml")

# Score given to a turn in which the phrase layer found a request frame ("let me talk to a person").
PHRASE_SCORE = 0.9
# Highest request_human score of a turn that mentions humans without asking for one ("is a human reviewing ...").
NOT_REQUEST_CAP = 0.2
# Chosen on data/request_human_dev.yaml (see README.md); `railguard eval intent` reports at it.
RECOMMENDED_THRESHOLDS = {"request_human_above": 0.7}


def builtin_intents() -> tuple[TopicDeclaration, ...]:
    return load_declarations(BUILTIN_INTENTS_FILE, "intents")


def merge_intents(
    builtin: Iterable[TopicDeclaration], extra: Iterable[TopicDeclaration | Mapping[str, Any]]
) -> tuple[TopicDeclaration, ...]:
    """Built-in intents plus the policy's. A policy intent with a built-in name adds its examples to the built-in
    ones (and replaces the description when it gives one); a new name adds a new intent."""
    merged = {d.name: d for d in builtin}
    for declaration in as_declarations(extra):
        base = merged.get(declaration.name)
        if base is None:
            merged[declaration.name] = declaration
        else:
            merged[declaration.name] = TopicDeclaration(
                name=base.name,
                description=declaration.description or base.description,
                examples=(*base.examples, *declaration.examples),
            )
    return tuple(merged.values())


class IntentDetector(Detector):
    """Scores a turn against the built-in intents plus the policy's own. Build one per policy version."""

    name = "intent"
    uses_models = True

    def __init__(
        self, intents: Iterable[TopicDeclaration | Mapping[str, Any]] = (), *, encoder: SharedEncoder | None = None
    ) -> None:
        # Sentence vectors: the intent thresholds and the request_human figures were measured on them (README.md).
        self.scorer = EmbeddingTopicScorer(merge_intents(builtin_intents(), intents), encoder=encoder, topical=False)

    @property
    def intents(self) -> tuple[str, ...]:
        return self.scorer.names

    def detect(self, text: str, context: DetectorContext) -> Detection:
        if not text.strip():
            return Detection.skip(self.name, "empty text")
        similarity = self.scorer.score([text], context)[0]
        names = self.scorer.names
        labels = {name: float(value) for name, value in zip(names, similarity, strict=True)}
        verdict = read_request_human(text)
        labels[REQUEST_HUMAN] = self._request_human(labels, verdict.request, verdict.not_request)
        top = max(labels, key=labels.__getitem__)
        return Detection(
            detector=self.name,
            score=round(labels[top], 6),
            labels={name: round(value, 6) for name, value in labels.items()},
            details={
                "top_intent": top,
                "request_human_phrase": verdict.request,
                "request_human_not_request": verdict.not_request,
                "out_of_scope": round(1.0 - float(np.max(similarity)), 6),
            },
        )

    @staticmethod
    def _request_human(labels: Mapping[str, float], request: str | None, not_request: str | None) -> float:
        embedded = labels[REQUEST_HUMAN]
        if not_request is not None:
            return min(embedded, NOT_REQUEST_CAP)
        if request is not None:
            return max(embedded, PHRASE_SCORE)
        closest_other = max((v for k, v in labels.items() if k != REQUEST_HUMAN), default=0.0)
        # Without a phrase, the embedding alone speaks only when no other intent is closer.
        return embedded if embedded >= closest_other else embedded / 2

    def warm_up(self) -> None:
        self.scorer.warm_up()
