"""`python -m detectors.injection.ceiling`: how far the shared encoder itself goes on S-Labs when it is fine-tuned.

A measurement for the model card, not a shipped model. The shipped heads read the encoder frozen (one pass per text,
shared by every detector); this script asks what is lost by that: it copies the encoder, fine-tunes its top
``--layers`` transformer layers (0: none, a perceptron on the frozen mean-pooled output, the issue's baseline shape;
6: all of them) with a perceptron on the mean-pooled output, on S-Labs train only, keeps the epoch with the best
validation ROC AUC, chooses thresholds on validation, and reports the de-duplicated test split at them:

- ``best_f1``: the threshold with the best validation F1;
- ``validation_fpr_1.5%``: the threshold with the best validation F1 among those whose validation false-positive
  rate is at most 1.5% (``train.select_threshold``, the rule the shipped heads' thresholds follow);
- ``test_best_f1_at_2%_fpr``: for information only, the best test F1 among thresholds with test FPR <= 2% (read off
  the test split, so not an operating point anyone could ship);
- ``ordinary_fpr``: at the same two thresholds, the false-positive rate on the issue's ordinary queries (self-instruct
  user-oriented prompts, CLINC150 test and out-of-scope test), which training on S-Labs alone never saw.

The layers below the fine-tuned ones stay frozen, so their output is computed once per text. Runs on the CPU:
``--layers 1`` about 2 minutes, ``--layers 6`` about 10 (three epochs) on two cores. The shared encoder the other
detectors use is never modified (the layers are copies). Last line: JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from detectors.data import shared_data
from detectors.evaluation import binary_metrics
from detectors.injection.evaluate import load_samples
from detectors.injection.train import SLABS, Sample, read_csv, select_threshold, validation_samples
from detectors.models.encoder import SharedEncoder

# The ordinary queries (false-positive target 0.5%), read with the same loaders as `railguard eval injection`.
ORDINARY = {
    "self_instruct": "benign/self-instruct/user_oriented_instructions.jsonl",
    "clinc": "topic/clinc150/data_full.json",
}
BATCH = 32
LAYER_LR = 3e-5
HEAD_LR = 1e-3
VALIDATION_FPR = 0.015
TEST_FPR = 0.02


class TopLayers(torch.nn.Module):
    """Copies of the encoder's top layers, mean pooling as sentence-transformers does it, and a perceptron."""

    def __init__(self, layers: Sequence[torch.nn.Module], dimension: int, hidden: int = 256) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(copy.deepcopy(list(layers)))
        self.head = torch.nn.Sequential(
            torch.nn.Dropout(0.1), torch.nn.Linear(dimension, hidden), torch.nn.GELU(), torch.nn.Dropout(0.1),
            torch.nn.Linear(hidden, 1),
        )  # fmt: skip

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        additive = (1.0 - mask[:, None, None, :]) * torch.finfo(states.dtype).min
        for layer in self.layers:
            output = layer(states, attention_mask=additive)
            states = output[0] if isinstance(output, tuple) else output
        pooled = (states * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
        logits: torch.Tensor = self.head(torch.nn.functional.normalize(pooled, dim=-1)).squeeze(-1)
        return logits


class FrozenStates:
    """Each text's hidden states entering the first fine-tuned layer (computed once), and their labels."""

    def __init__(self, encoder: SharedEncoder, samples: Sequence[Sample], below: int, batch: int = 64) -> None:
        model = encoder.model
        tokenizer, transformer = model.tokenizer, model[0].auto_model  # type: ignore[attr-defined,index]
        texts = [s.text for s in samples]
        self.labels = np.array([s.label for s in samples], dtype=np.int64)
        self.states: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
        for start in range(0, len(texts), batch):
            chosen = order[start : start + batch]
            features = tokenizer(
                [texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=int(model.max_seq_length),  # type: ignore[attr-defined]
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = transformer(**features, output_hidden_states=True).hidden_states[below]
            for row, index in enumerate(chosen):
                length = int(features["attention_mask"][row].sum())
                self.states[index] = hidden[row, :length].to(torch.bfloat16).clone()

    def batch(self, rows: npt.NDArray[np.int64]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        chosen = [self.states[i].float() for i in rows]
        width = max(len(s) for s in chosen)
        states = torch.zeros(len(chosen), width, chosen[0].shape[-1])
        mask = torch.zeros(len(chosen), width)
        for row, s in enumerate(chosen):
            states[row, : len(s)] = s
            mask[row, : len(s)] = 1.0
        return states, mask, torch.tensor(self.labels[rows], dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.labels)


def predict(model: TopLayers, data: FrozenStates, batch: int = 128) -> npt.NDArray[np.float64]:
    model.eval()
    scores = []
    with torch.inference_mode():
        for start in range(0, len(data), batch):
            states, mask, _ = data.batch(np.arange(start, min(start + batch, len(data))))
            scores.append(torch.sigmoid(model(states, mask)).double().numpy())
    model.train()
    return np.concatenate(scores)


def thresholds(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> dict[str, float]:
    """Validation-chosen thresholds, by the training script's rule: the best F1, and the best F1 whose
    false-positive rate is at most VALIDATION_FPR."""
    return {
        "best_f1": select_threshold(labels.tolist(), scores.tolist(), max_fpr=1.0),
        f"validation_fpr_{VALIDATION_FPR:.1%}": select_threshold(labels.tolist(), scores.tolist(), VALIDATION_FPR),
    }


def best_f1_at_fpr(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], fpr: float) -> dict[str, float]:
    candidates = [binary_metrics(labels.tolist(), scores.tolist(), float(t)) for t in np.unique(scores)]
    return max((m for m in candidates if m["fpr"] <= fpr), key=lambda m: m["f1"])


def run(layers: int, epochs: int, seed: int, limit: int | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    torch.manual_seed(seed)
    encoder = SharedEncoder(precision="float32")
    transformer = encoder.model[0].auto_model  # type: ignore[index]
    depth = len(transformer.encoder.layer)
    if not 0 <= layers <= depth:
        raise ValueError(f"--layers must be between 0 and {depth}")
    splits = {
        "train": read_csv(shared_data(f"{SLABS}/train.csv")),
        "validation": validation_samples(),
        "test": load_samples(str(shared_data(f"{SLABS}/test.csv")), dedupe=True)[0],
    }
    splits |= {name: load_samples(str(shared_data(path)), dedupe=False)[0] for name, path in ORDINARY.items()}
    data = {name: FrozenStates(encoder, samples[:limit], depth - layers) for name, samples in splits.items()}
    model = TopLayers(transformer.encoder.layer[depth - layers :], encoder.dimension)
    optimiser = torch.optim.AdamW(
        [
            {"params": model.layers.parameters(), "lr": LAYER_LR},
            {"params": model.head.parameters(), "lr": HEAD_LR},
        ],
        weight_decay=0.01,
    )
    rng = np.random.default_rng(seed)
    best_auc, best_state, history = -1.0, copy.deepcopy(model.state_dict()), []
    for _ in range(epochs):
        order = rng.permutation(len(data["train"]))  # each epoch reads every training row once
        for start in range(0, len(order), BATCH):
            states, mask, labels = data["train"].batch(order[start : start + BATCH])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(states, mask), labels)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        validation = binary_metrics(
            data["validation"].labels.tolist(), predict(model, data["validation"]).tolist(), 0.5
        )
        history.append(validation["roc_auc"])
        if validation["roc_auc"] > best_auc:
            best_auc, best_state = validation["roc_auc"], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    validation_scores, test_scores = predict(model, data["validation"]), predict(model, data["test"])
    test_labels = data["test"].labels
    chosen = thresholds(data["validation"].labels, validation_scores)
    return {
        "layers_fine_tuned": layers,
        "epochs": epochs,
        "seed": seed,
        "validation_roc_auc_per_epoch": history,
        "test_n": len(test_labels),
        "test_roc_auc": binary_metrics(test_labels.tolist(), test_scores.tolist(), 0.5)["roc_auc"],
        "test": {name: binary_metrics(test_labels.tolist(), test_scores.tolist(), t) for name, t in chosen.items()},
        f"test_best_f1_at_{TEST_FPR:.0%}_fpr": best_f1_at_fpr(test_labels, test_scores, TEST_FPR),
        "ordinary_fpr": {
            name: {label: round(float((scores >= t).mean()), 4) for label, t in chosen.items()}
            for name, scores in ((name, predict(model, data[name])) for name in ORDINARY)
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--layers", type=int, default=1, help="top transformer layers to fine-tune (0-6)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows of each split (quick checks)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.layers, args.epochs, args.seed, args.limit), sort_keys=True))


if __name__ == "__main__":
    main()
