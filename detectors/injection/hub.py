"""Hub injection classifiers a policy can select instead of the built-in head (`backend: hub`).

They are sequence classifiers with an injection/jailbreak label, loaded through the model runtime from the folder
`railguard models pull` filled ahead of time (never downloaded at run time), read window by window like the
built-in head. Their probability replaces the head's classifier score in the same fusion with the rules and
obfuscations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.models.catalog import get_spec
from detectors.models.classifier import load_sequence_classifier
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

# Revisions as pinned by public deployments (llm-guard pins this ProtectAI revision). The weight digests are not
# published with them; `railguard models verify` refuses nothing until the digest is filled in from a verified pull.
PROTECTAI_DEBERTA_V2 = ModelSpec(
    name="protectai-deberta-v3-prompt-injection-v2",
    kind="injection-classifier",
    source=ModelSource.HUB,
    location="protectai/deberta-v3-base-prompt-injection-v2",
    revision="89b085cd330414d3e7d9dd787870f315957e1e9f",
    description="DeBERTa-v3-base fine-tuned for prompt injection (Apache-2.0); labels SAFE/INJECTION; English",
)
LLAMA_PROMPT_GUARD_2_86M = ModelSpec(
    name="llama-prompt-guard-2-86m",
    kind="injection-classifier",
    source=ModelSource.HUB,
    location="meta-llama/Llama-Prompt-Guard-2-86M",
    revision="a8ded8e697ce7c355e395a0df51f94adb4a2fd27",
    description="mDeBERTa-base jailbreak/injection classifier (Llama 4 Community Licence, gated); multilingual",
)
MODEL_SPECS = [PROTECTAI_DEBERTA_V2, LLAMA_PROMPT_GUARD_2_86M]
DEFAULT_HUB_MODEL = PROTECTAI_DEBERTA_V2.name

# Label names that mean "this is an attack", lower-cased (ProtectAI: INJECTION; Prompt Guard 2: LABEL_1/MALICIOUS).
_ATTACK_LABELS = ("injection", "malicious", "jailbreak", "label_1", "unsafe")


class HubInjectionClassifier:
    """P(attack) per text from a hub sequence classifier."""

    def __init__(
        self, model: str | ModelSpec = DEFAULT_HUB_MODEL, models: ModelRuntime = runtime, max_length: int = 512
    ) -> None:
        self.spec = model if isinstance(model, ModelSpec) else get_spec(model)
        self.spec.local_dir()  # fail when the policy loads, not at the first request, when it was never pulled
        self._runtime = models
        self.max_length = max_length

    def _load(self) -> tuple[Any, Any, int]:
        classifier = load_sequence_classifier(self.spec)
        attack = classifier.label_index(lambda name: name in _ATTACK_LABELS, "marks an attack")
        return classifier.tokenizer, classifier.model, attack

    @property
    def loaded(self) -> tuple[Any, Any, int]:
        return self._runtime.get(f"injection:{self.spec.name}@{self.spec.revision or self.spec.location}", self._load)

    def warm_up(self) -> None:
        self.probabilities(["warm up"])

    def probabilities(self, texts: Sequence[str], batch_size: int = 8) -> npt.NDArray[np.float64]:
        import torch

        tokenizer, model, attack = self.loaded
        rows: list[npt.NDArray[np.float64]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                encoded = tokenizer(
                    list(texts[start : start + batch_size]),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                encoded.pop("token_type_ids", None)
                probabilities = torch.softmax(model(**encoded).logits.float(), dim=-1)[:, attack]
                rows.append(probabilities.numpy().astype(np.float64))
        return np.concatenate(rows) if rows else np.zeros(0)
