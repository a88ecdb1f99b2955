"""Production backend: detoxify's published checkpoints (Jigsaw-trained BERT / RoBERTa / XLM-R), loaded only from
the local folder `railguard models pull` fills.

A detoxify checkpoint is a torch pickle ``{"config": {...}, "state_dict": ...}`` whose ``config.arch.args`` names the
transformers class, the tokenizer class and a hub ``model_type`` (e.g. ``bert-base-uncased``) that detoxify passes to
``from_pretrained`` — a network call. So each checkpoint spec is paired with a spec for its base model's config and
tokenizer files, and at load time ``model_type`` is replaced by that local folder before detoxify's own
``get_model_and_tokenizer`` builds the model. Nothing is fetched at run time; an absent model raises
ModelUnavailableError and there is no fall back to the offline head.

The checkpoints' sha256 is pinned by the prefix torch.hub puts in their file names (detoxify's own check); the
config/tokenizer folders are pinned to a hub revision.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.base import ModelUnavailableError
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

# From detoxify 0.5.4's MODEL_URLS (detoxify/detoxify.py); the hex after the dash is the file's sha256 prefix.
_RELEASES = "https://github.com/unitaryai/detoxify/releases/download/"
CHECKPOINTS = {
    "original": (_RELEASES + "v0.1-alpha/toxic_original-c1212f89.ckpt", "c1212f89", "bert-base-uncased"),
    "unbiased": (_RELEASES + "v0.3-alpha/toxic_debiased-c7548aa0.ckpt", "c7548aa0", "roberta-base"),
    "multilingual": (
        _RELEASES + "v0.4-alpha/multilingual_debiased-0b549669.ckpt",
        "0b549669",
        "xlm-roberta-base",
    ),
}
# What detoxify's from_pretrained(model_type) needs besides the weights in the checkpoint.
_BASE_FILES = {
    "bert-base-uncased": ("config.json", "tokenizer_config.json", "vocab.txt", "tokenizer.json"),
    "roberta-base": ("config.json", "vocab.json", "merges.txt", "tokenizer.json"),
    "xlm-roberta-base": ("config.json", "sentencepiece.bpe.model", "tokenizer.json"),
}
_BASE_REPOS = {
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "roberta-base": "FacebookAI/roberta-base",
    "xlm-roberta-base": "FacebookAI/xlm-roberta-base",
}

CHECKPOINT_SPECS = {
    variant: ModelSpec(
        name=f"detoxify-{variant}",
        kind="toxicity-classifier",
        source=ModelSource.URL,
        location=url,
        revision=url.rsplit("/", 2)[-2],
        sha256={url.rsplit("/", 1)[-1]: prefix},
        description=f"detoxify {variant} checkpoint (Apache-2.0), base model {base}",
    )
    for variant, (url, prefix, base) in CHECKPOINTS.items()
}
BASE_SPECS = {
    base: ModelSpec(
        name=f"detoxify-base-{base}",
        kind="tokenizer-config",
        source=ModelSource.HUB,
        location=repo,
        files=_BASE_FILES[base],
        description=f"config and tokenizer of {repo} (Apache-2.0/MIT) for detoxify checkpoints; no weights",
    )
    for base, repo in _BASE_REPOS.items()
}
MODEL_SPECS = [*CHECKPOINT_SPECS.values(), *BASE_SPECS.values()]
VARIANTS = tuple(CHECKPOINTS)


@dataclass(frozen=True)
class DetoxifyLocation:
    """Where one detoxify model lives on disk: its checkpoint file and its base model's config/tokenizer folder."""

    checkpoint: Path
    config_dir: Path

    @classmethod
    def of(cls, variant: str) -> DetoxifyLocation:
        if variant not in CHECKPOINT_SPECS:
            raise ModelUnavailableError(f"unknown detoxify model {variant!r}; expected one of {', '.join(VARIANTS)}")
        spec = CHECKPOINT_SPECS[variant]
        directory = spec.verify()
        [filename] = spec.sha256
        base = CHECKPOINTS[variant][2]
        return cls(directory / filename, BASE_SPECS[base].verify())


class DetoxifyModel:
    """A loaded detoxify classifier: ``predict(texts)`` gives per-text ``{label: probability}`` with detoxify's label
    names (toxicity, severe_toxicity, obscene, threat, insult, identity_attack, sexual_explicit where trained)."""

    def __init__(self, location: DetoxifyLocation) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from detoxify.detoxify import get_model_and_tokenizer

        # detoxify's own format; torch.load needs the full unpickler for its config dict (detoxify does the same).
        # The file's sha256 was checked against the pinned prefix before we got here.
        loaded = torch.load(location.checkpoint, map_location="cpu", weights_only=False)
        if "config" not in loaded or "state_dict" not in loaded:
            raise ModelUnavailableError(f"{location.checkpoint} is not a detoxify checkpoint (no config/state_dict)")
        args = dict(loaded["config"]["arch"]["args"])
        args["model_type"] = str(location.config_dir)  # the known detail: never let it name a hub id
        self.model, self.tokenizer = get_model_and_tokenizer(
            **args, state_dict=loaded["state_dict"], huggingface_config_path=str(location.config_dir)
        )
        self.model.eval()
        # detoxify standardises these names between its checkpoints; we do the same.
        renames = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}
        self.labels = [renames.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        import torch

        with torch.inference_mode():
            inputs = self.tokenizer(list(texts), return_tensors="pt", truncation=True, padding=True)
            scores = torch.sigmoid(self.model(**inputs)[0]).cpu().numpy()
        return [{label: float(row[i]) for i, label in enumerate(self.labels)} for row in scores]


def load_detoxify(variant: str, location: DetoxifyLocation | None = None, models: ModelRuntime = runtime) -> Any:
    """The process-wide loaded model for ``variant`` (or for an explicit location, e.g. a test's tiny model)."""
    where = location or DetoxifyLocation.of(variant)
    return models.get(f"detoxify:{where.checkpoint}", lambda: DetoxifyModel(where))
