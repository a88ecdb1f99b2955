"""Zero-shot topic scoring with a hub NLI model, for policies that select it instead of the few-shot classifier.

Each topic becomes a hypothesis ("This request is about <description>.") and the model's entailment probability
for (text, hypothesis) is the topic's score, each topic judged on its own (multi-label), so "none of these" is
``1 - best entailment``. The model is loaded through the model runtime from a local directory only (pulled ahead
of time with `railguard models pull`); a model that is not present raises ModelUnavailableError when the detector
is built, never a download.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.base import DetectorContext
from detectors.models.catalog import get_spec
from detectors.models.classifier import load_sequence_classifier
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec
from detectors.topic.declarations import TopicDeclaration
from detectors.topic.scorers import Scores

# MoritzLaurer's DeBERTa-v3 zero-shot classifier, "-c" variant: trained only on commercially usable data (MIT).
# Revision and model.safetensors digest as pinned by public projects that use it; `railguard models pull` checks
# the digest and refuses a file that does not match.
DEBERTA_V3_ZEROSHOT_C = ModelSpec(
    name="deberta-v3-base-zeroshot-v2.0-c",
    kind="zero-shot-nli",
    source=ModelSource.HUB,
    location="MoritzLaurer/deberta-v3-base-zeroshot-v2.0-c",
    revision="bddf8c5411c34ac3565e16e04384fd68b2618dda",
    sha256={"model.safetensors": "605e40d2020f4c66666db3e98a4bc277b6214565eac95f35c1a5027a93ee0ef0"},
    description="zero-shot topic classification by NLI (MIT; commercially usable training data)",
)

MODEL_SPECS = [DEBERTA_V3_ZEROSHOT_C]

DEFAULT_NLI_MODEL = DEBERTA_V3_ZEROSHOT_C.name
HYPOTHESIS_TEMPLATE = "This request is about {}"


def topic_hypotheses(declarations: Sequence[TopicDeclaration]) -> list[str]:
    """The text each topic is tested as: its description, or its name when it has none."""
    hypotheses = [(d.description.strip() or d.name.replace("_", " ")).rstrip(".") for d in declarations]
    if len(set(hypotheses)) != len(hypotheses):
        raise ValueError("two topics have the same description; the NLI backend cannot tell them apart")
    return hypotheses


class NliTopicScorer:
    """Scores texts against topics with a zero-shot NLI model (entailment probability per topic)."""

    backend = "nli"
    uses_models = True

    def __init__(
        self,
        declarations: Sequence[TopicDeclaration],
        model: str | ModelSpec | None = None,
        *,
        hypothesis_template: str = HYPOTHESIS_TEMPLATE + ".",
        models: ModelRuntime = runtime,
    ) -> None:
        self.spec = model if isinstance(model, ModelSpec) else get_spec(model or DEFAULT_NLI_MODEL)
        self.spec.local_dir()  # fail at policy load, not at the first request, when the model is absent
        self._names = tuple(d.name for d in declarations)
        self._hypotheses = topic_hypotheses(declarations)
        self._template = hypothesis_template
        self._runtime = models

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def _load(self) -> Any:
        classifier = load_sequence_classifier(self.spec)
        classifier.label_index(lambda name: name.startswith("entail"), "is entailment (not an NLI model)")
        from transformers import pipeline

        return pipeline("zero-shot-classification", model=classifier.model, tokenizer=classifier.tokenizer, device=-1)

    @property
    def classifier(self) -> Any:
        return self._runtime.get(f"{self.spec.name}@{self.spec.revision or self.spec.location}", self._load)

    def score(self, texts: Sequence[str], context: DetectorContext) -> Scores:
        results = self.classifier(
            list(texts), candidate_labels=self._hypotheses, hypothesis_template=self._template, multi_label=True
        )
        if isinstance(results, dict):
            results = [results]
        position = {h: i for i, h in enumerate(self._hypotheses)}
        scores = np.zeros((len(texts), len(self._names)), dtype=np.float32)
        for row, result in enumerate(results):
            for label, value in zip(result["labels"], result["scores"], strict=True):
                scores[row, position[label]] = value
        return scores

    def warm_up(self) -> None:
        self.score(["warm up"], DetectorContext())
