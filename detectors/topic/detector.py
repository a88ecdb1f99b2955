"""The topic detector: which declared topic the latest user turn is about, and how far it is from all of them.

What ``detect`` returns (embedding backend; the NLI backend has the same shape with entailment probabilities):

- ``score``: the **out-of-scope** ("none of these") score, ``1 - best topic score``. High means the turn matches
  none of the declared topics (the built-in small-talk topic counts as declared, so "thanks" is not off-topic).
- ``labels``: the top ``top_k`` topics with their scores in 0..1 (cosine similarity to the topic's nearest
  prototype, clipped at 0), best first.
- ``details``: ``top_topic`` (name or None), ``top_score``, ``out_of_scope`` (= score), ``small_talk`` (the top
  topic is the built-in small-talk topic), ``view`` ("message" or "conversation": whether the previous turns
  decided the top topic), ``message_top_topic`` (the top topic of the message read alone), ``backend``.

The policy decides: off-topic when ``score >= RECOMMENDED_THRESHOLDS["out_of_scope_above"]``, otherwise the turn is
about ``details["top_topic"]`` and the policy's allowed/blocked lists apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from detectors.base import Detection, Detector, DetectorContext
from detectors.models.encoder import SharedEncoder
from detectors.models.spec import ModelSpec
from detectors.topic import conversation
from detectors.topic.declarations import SMALL_TALK, TopicDeclaration, as_declarations, with_small_talk
from detectors.topic.scorers import Scores, TopicScorer

# Chosen on CLINC150 validation (val + oos_val) with 10 examples per intent: the lowest out-of-scope cut-off that
# flags at least 80% of validation out-of-scope queries. Reproduced by `railguard eval topic`; see README.md.
RECOMMENDED_THRESHOLDS = {"out_of_scope_above": 0.362}


class TopicDetector(Detector):
    """Classifies a turn (read with ``context.history``) against a topic set. Build one per policy version."""

    name = "topic"

    def __init__(
        self,
        scorer: TopicScorer,
        *,
        top_k: int = 3,
        history_turns: int = conversation.HISTORY_TURNS,
        encoder: SharedEncoder | None = None,
    ) -> None:
        self.scorer = scorer
        self.other_subjects = conversation.OtherSubjects(encoder)
        self.top_k = top_k
        self.history_turns = history_turns
        self.uses_models = scorer.uses_models

    @property
    def topics(self) -> tuple[str, ...]:
        return self.scorer.names

    def detect(self, text: str, context: DetectorContext) -> Detection:
        if not text.strip():
            return Detection.skip(self.name, "empty text")
        message: Scores = self.scorer.score([text], context)[0]
        combined, view = message, "message"
        history = [h for h in context.history if h.strip()] if self.history_turns > 0 else []
        if (
            history
            and conversation.looks_like_follow_up(text)
            and not self.other_subjects.has_own_subject(text, context)
        ):
            read_in_context = conversation.in_context(text, history, self.history_turns)
            in_context = self.scorer.score([read_in_context], context)[0]
            combined = np.maximum(message, in_context)
            if float(in_context.max()) > float(message.max()):
                view = "conversation"
        return self._detection(combined, message, view)

    def _detection(self, combined: Scores, message: Scores, view: str) -> Detection:
        order = np.argsort(-combined, kind="stable")
        names = self.scorer.names
        top = int(order[0])
        top_score = float(combined[top])
        out_of_scope = round(min(1.0, max(0.0, 1.0 - top_score)), 6)
        return Detection(
            detector=self.name,
            score=out_of_scope,
            labels={names[i]: round(float(combined[i]), 6) for i in order[: self.top_k]},
            details={
                "top_topic": names[top] if top_score > 0.0 else None,
                "top_score": round(top_score, 6),
                "out_of_scope": out_of_scope,
                "small_talk": names[top] == SMALL_TALK,
                "view": view,
                "message_top_topic": names[int(np.argmax(message))],
                "backend": self.scorer.backend,
            },
        )

    def warm_up(self) -> None:
        self.scorer.warm_up()


def build_topic_detector(
    topics: Iterable[TopicDeclaration | Mapping[str, Any]],
    *,
    backend: str = "embedding",
    model: str | ModelSpec | None = None,
    include_small_talk: bool = True,
    top_k: int = 3,
    history_turns: int = conversation.HISTORY_TURNS,
    encoder: SharedEncoder | None = None,
) -> TopicDetector:
    """What the pipeline calls on policy load / hot reload.

    ``topics``: the policy's declarations (mappings with name, description, examples; allowed and blocked alike).
    ``backend``: "embedding" (few-shot on the shared encoder) or "nli" (zero-shot NLI model ``model``, a catalog
    name or a ModelSpec; raises ModelUnavailableError when it is not present locally).
    """
    declarations = as_declarations(topics)
    if include_small_talk:
        declarations = with_small_talk(declarations)
    scorer: TopicScorer
    if backend == "embedding":
        from detectors.topic.scorers import EmbeddingTopicScorer

        scorer = EmbeddingTopicScorer(declarations, encoder=encoder)
    elif backend == "nli":
        from detectors.topic.nli import NliTopicScorer

        scorer = NliTopicScorer(declarations, model)
    else:
        raise ValueError(f"unknown topic backend {backend!r}; use 'embedding' or 'nli'")
    return TopicDetector(scorer, top_k=top_k, history_turns=history_turns, encoder=encoder)
