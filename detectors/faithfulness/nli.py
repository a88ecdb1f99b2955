"""Production backend: an NLI cross-encoder from the hub judges each claim against its evidence.

The claims and their evidence sentences are the offline checker's (same splitting, same shared-encoder retrieval).
Each claim is paired with each of its ``k`` evidence sentences and with those sentences joined in document order
(facts spread over neighbouring sentences); its support is the best of those premises, scored as in SummaC-ZS:
(P(entailment) - P(contradiction) + 1) / 2, so a contradicted claim scores lower than a merely unrelated one.

Weights are never downloaded at run time: `railguard models pull` fetches the pinned revision ahead of time and the
runtime loads it from that local folder, verifying its sha256 first. A model that is absent or does not verify
raises ModelUnavailableError; there is no fall back to the offline checker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from detectors.models.classifier import load_sequence_classifier
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

if TYPE_CHECKING:
    from detectors.faithfulness.checker import AnswerCheck

DEBERTA_MNLI_FEVER_ANLI = ModelSpec(
    name="deberta-v3-base-mnli-fever-anli",
    kind="nli-cross-encoder",
    source=ModelSource.HUB,
    location="MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli",
    revision="6f5cf0a2b59cabb106aca4c287eed12e357e90eb",
    sha256={"model.safetensors": "06d6fd89edd4f97816831626daafbdb0b029cf63bae8edc0bccab1d64e2e7707"},
    description="DeBERTa-v3-base fine-tuned on MNLI, FEVER-NLI and ANLI (MIT); labels entailment/neutral/contradiction",
)
NLI_DEBERTA_V3_BASE = ModelSpec(
    name="nli-deberta-v3-base",
    kind="nli-cross-encoder",
    source=ModelSource.HUB,
    location="cross-encoder/nli-deberta-v3-base",
    revision="e0200822d5711f7573129db62ce36173db39c18c",
    sha256={"model.safetensors": "d8148c6d49e0a7925134294c56326c71fe0ab1dc390e37355e00c7efbb488afa"},
    description="sentence-transformers cross-encoder, SNLI+MNLI (Apache-2.0); contradiction/entailment/neutral",
)
MODEL_SPECS = [DEBERTA_MNLI_FEVER_ANLI, NLI_DEBERTA_V3_BASE]
# FEVER and ANLI make it the better judge of "is this claim backed by that text" than an MNLI-only model.
DEFAULT_NLI_MODEL = DEBERTA_MNLI_FEVER_ANLI.name


def _spec(model: str | ModelSpec) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    for spec in MODEL_SPECS:
        if spec.name == model:
            return spec
    from detectors.models.catalog import get_spec

    return get_spec(model)


class NliModel:
    """A loaded cross-encoder with the indices of its entailment and contradiction labels."""

    def __init__(self, tokenizer: Any, model: Any, entailment: int, contradiction: int) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.entailment = entailment
        self.contradiction = contradiction


class NliChecker:
    """Judges (premise, hypothesis) pairs with the cross-encoder named by ``model`` (a spec name or a spec)."""

    def __init__(
        self,
        model: str | ModelSpec = DEFAULT_NLI_MODEL,
        models: ModelRuntime = runtime,
        max_length: int = 512,
        batch_size: int = 16,
    ) -> None:
        self.spec = _spec(model)
        self._runtime = models
        self.max_length = max_length
        self.batch_size = batch_size

    def _load(self) -> NliModel:
        classifier = load_sequence_classifier(self.spec)
        entailment = classifier.label_index(lambda name: name.startswith("entail"), "is entailment")
        contradiction = classifier.label_index(lambda name: name.startswith("contradict"), "is contradiction")
        return NliModel(classifier.tokenizer, classifier.model, entailment, contradiction)

    @property
    def loaded(self) -> NliModel:
        return self._runtime.get(f"nli:{self.spec.name}", self._load)

    def warm_up(self) -> None:
        self.probabilities([("A warm-up premise.", "A warm-up hypothesis.")])

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> npt.NDArray[np.float64]:
        """Rows of (P(entailment), P(contradiction)) for (premise, hypothesis) pairs."""
        import torch

        nli = self.loaded
        rows: list[npt.NDArray[np.float64]] = []
        with torch.inference_mode():
            for start in range(0, len(pairs), self.batch_size):
                batch = pairs[start : start + self.batch_size]
                encoded = nli.tokenizer(
                    [premise for premise, _ in batch],
                    [hypothesis for _, hypothesis in batch],
                    truncation="only_first",
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                probabilities = torch.softmax(nli.model(**encoded).logits.float(), dim=-1).numpy()
                rows.append(probabilities[:, [nli.entailment, nli.contradiction]].astype(np.float64))
        return np.concatenate(rows) if rows else np.zeros((0, 2))

    def supports(self, result: AnswerCheck) -> list[float]:
        """Each claim's support: the best premise's (P(entailment) - P(contradiction) + 1) / 2."""
        pairs: list[tuple[str, str]] = []
        owners: list[int] = []
        for number, check in enumerate(result.checks):
            sentences = [result.index.sentences[i] for i in check.evidence]
            premises = [s.facts.text for s in sentences]
            if len(sentences) > 1:
                in_order = sorted(sentences, key=lambda s: (s.document, s.position))
                premises.append(" ".join(s.facts.text for s in in_order))
            for premise in premises:
                pairs.append((premise, check.claim.text))
                owners.append(number)
        scores = self.probabilities(pairs)
        best = [0.0] * len(result.checks)
        for owner, (entailment, contradiction) in zip(owners, scores, strict=True):
            best[owner] = max(best[owner], (float(entailment) - float(contradiction) + 1.0) / 2.0)
        return best
