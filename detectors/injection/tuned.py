"""The tuned injection classifier: MiniLM with a LoRA adapter fine-tuned for injection, and its ensemble with the head.

The shipped head reads the shared encoder frozen; the ceiling measurement (MODEL_CARD.md) found that only a
fine-tuned encoder gets close to the S-Labs target. ``python -m detectors.injection.tune`` fine-tunes a LoRA adapter
(rank 8 on every attention and feed-forward projection, ~0.33 M parameters) and a perceptron on the user head's
full training data; ``weights/tuned/`` holds them (1.8 MB). At load the adapter is merged into a private copy of the
packaged MiniLM (the shared encoder other detectors use is never touched), which then costs one more encoder pass per
window of a user turn.

Alone it is better than the head on S-Labs but worse on ordinary task prompts (self-instruct); the mean of the two
classifiers' logits is better than either at the block threshold (MODEL_CARD.md "Tuned encoder"), so
``backend: tuned`` scores user turns with that ensemble, fused with the rules by its own fusion (``fusion.json``).
Documents get the same shape of their own: the documents head with a second adapter (``weights/tuned_documents``,
the user adapter trained on for one more epoch on the document rows, ``tune.py --documents``) and its own fusion,
threshold and gate (``tuned_documents/fusion.json``).

The tuned pass is a cascade's second stage: a text whose score with the head alone (the head's probabilities read
as the ensemble's, through the ensemble's fusion) is below ``fusion.json``'s gate is scored by the head alone; only
the others pay for the tuned encoder. tune.py chooses the gate on validation as the highest at which no validation
text's decision changes; nearly all ordinary queries fall below it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.injection.head import InjectionHead, logit, sigmoid
from detectors.models.encoder import MINILM, SharedEncoder, configured_precision, resolve_precision
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

TUNED_DIR = Path(__file__).parent / "weights" / "tuned"
FUSION_FILE = TUNED_DIR / "fusion.json"
TUNED_DOCUMENTS_DIR = Path(__file__).parent / "weights" / "tuned_documents"
DOCUMENTS_FUSION_FILE = TUNED_DOCUMENTS_DIR / "fusion.json"
MAX_TOKENS = 256

TUNED_ADAPTER = ModelSpec(
    name="injection-minilm-lora",
    kind="injection-adapter",
    source=ModelSource.PACKAGED,
    location="detectors.injection",
    subdir="weights/tuned",
    sha256={
        "adapter_model.safetensors": "8a71ddbb7afeb817cc2bb3f674de917e0ad0de20bbbb9b3d03f7bc1c887842e2",
        "head.safetensors": "f9d1ab7ad7c060495ee81172474fbd371f5c454e5306728d7aee28e4941869c4",
    },
    description="LoRA adapter (rank 8) on all-MiniLM-L6-v2 and a perceptron, fine-tuned for injection (ours)",
)
TUNED_DOCUMENTS_ADAPTER = ModelSpec(
    name="injection-documents-minilm-lora",
    kind="injection-adapter",
    source=ModelSource.PACKAGED,
    location="detectors.injection",
    subdir="weights/tuned_documents",
    sha256={
        "adapter_model.safetensors": "6884d97174c2ba181c2cff127a9e20f7d081940b7e15d77d331e5a38de3a3dff",
        "head.safetensors": "85e48713fedf8180092af61ff99c4356aa6d3e943cf9576f1204433b5177a9bc",
    },
    description="the injection adapter trained on for documents and tool results (ours)",
)
MODEL_SPECS = [TUNED_ADAPTER, TUNED_DOCUMENTS_ADAPTER]


def tuned_module(transformer: Any, dimension: int, hidden: int = 256) -> Any:
    """The network: an encoder (with or without its adapter), mean pooling as sentence-transformers does it, L2
    normalisation and a perceptron. Training (tune.py) and serving build it here."""
    import torch

    class TunedClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer
            self.head = torch.nn.Sequential(
                torch.nn.Dropout(0.1), torch.nn.Linear(dimension, hidden), torch.nn.GELU(), torch.nn.Dropout(0.1),
                torch.nn.Linear(hidden, 1),
            )  # fmt: skip

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask[..., None].to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            logits: torch.Tensor = self.head(torch.nn.functional.normalize(pooled, dim=-1)).squeeze(-1)
            return logits

    return TunedClassifier()


def ensemble(head: npt.NDArray[np.float64], tuned: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The mean of the two classifiers' logits, as a probability."""
    return sigmoid((logit(head) + logit(tuned)) / 2.0)


def tuned_head(head: InjectionHead, path: Path = FUSION_FILE) -> InjectionHead:
    """``head`` (the user or the documents head) with its ensemble's fusion and thresholds (``path``: ``fusion.json``
    or ``tuned_documents/fusion.json``, written by tune.py)."""
    data = json.loads(path.read_text())
    return InjectionHead(
        meaning=head.meaning,
        wording=head.wording,
        fusion_coefficients=np.asarray(data["fusion"]["coefficients"], dtype=np.float64),
        fusion_intercept=float(data["fusion"]["intercept"]),
        thresholds={k: float(v) for k, v in data["thresholds"].items()},
    )


def tuned_gate(path: Path = FUSION_FILE) -> float:
    """The cascade's gate (``fusion.json``): texts scored below it by the head alone skip the tuned encoder."""
    return float(json.loads(path.read_text())["gate"]["skip_tuned_below"])


class TunedInjectionClassifier:
    """P(attack) per text from the tuned encoder. Thread-safe for inference; loaded once per process."""

    def __init__(
        self, spec: ModelSpec = TUNED_ADAPTER, models: ModelRuntime = runtime, precision: str | None = None
    ) -> None:
        self.spec = spec
        self._runtime = models
        self.precision = resolve_precision(precision) if precision else configured_precision()

    def _load(self) -> tuple[Any, Any]:
        import torch
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        directory = self.spec.verify()
        # The packaged MiniLM's transformer read from disk: a model of its own to merge into, not the shared one.
        base = MINILM.verify()
        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        transformer = AutoModel.from_pretrained(str(base), local_files_only=True)
        merged = PeftModel.from_pretrained(transformer, str(directory)).merge_and_unload()
        model = tuned_module(merged, SharedEncoder.dimension)
        model.head.load_state_dict(load_file(str(directory / "head.safetensors")))
        model.eval()
        if self.precision == "bfloat16":
            model.to(torch.bfloat16)
        return tokenizer, model

    @property
    def loaded(self) -> tuple[Any, Any]:
        return self._runtime.get(f"injection:{self.spec.name}:{self.precision}", self._load)

    def warm_up(self) -> None:
        self.probabilities(["warm up"])

    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float64]:
        import torch

        tokenizer, model = self.loaded
        result = np.zeros(len(texts))
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chosen = order[start : start + batch_size]
                encoded = tokenizer(
                    [texts[i] for i in chosen], truncation=True, max_length=MAX_TOKENS, padding=True,
                    return_tensors="pt",
                )  # fmt: skip
                logits = model(encoded["input_ids"], encoded["attention_mask"]).float()
                result[chosen] = torch.sigmoid(logits).double().numpy()
        return result
