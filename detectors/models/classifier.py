"""Loading a hub sequence classifier (NLI cross-encoders, zero-shot NLI, injection classifiers) from the folder
`railguard models pull` filled: offline only, weights checked against the spec first, and load failures reported as
:class:`ModelUnavailableError` so the guard's ``on_error`` applies."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detectors.base import ModelUnavailableError
from detectors.models.spec import ModelSpec


@dataclass(frozen=True)
class SequenceClassifier:
    spec: ModelSpec
    tokenizer: Any
    model: Any
    labels: dict[int, str]  # class index -> label name, lower-cased

    def label_index(self, matches: Callable[[str], bool], wanted: str) -> int:
        """The index of the first label that ``matches``; if none, ``ModelUnavailableError`` naming ``wanted``."""
        found = next((i for i, name in self.labels.items() if matches(name)), None)
        if found is None:
            raise ModelUnavailableError(
                f"model {self.spec.name!r} has labels {sorted(self.labels.values())}, none of which {wanted}"
            )
        return found


def load_sequence_classifier(spec: ModelSpec) -> SequenceClassifier:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    directory = spec.verify()  # raises ModelUnavailableError when absent or not the pinned weights
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailableError(f"model {spec.name!r} at {directory} could not be loaded: {exc}") from exc
    model.eval()
    labels = {int(i): str(name).lower() for i, name in model.config.id2label.items()}
    return SequenceClassifier(spec, tokenizer, model, labels)
