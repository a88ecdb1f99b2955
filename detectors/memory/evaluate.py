"""`railguard eval attack_memory`: how well similarity to confirmed attacks separates attacks from benign prompts.

A memory of ``--memory-size`` confirmed attacks is taken from the S-Labs train split (every k-th attack: a stand-in
for what reviewers confirm). Each prompt of the evaluated split scores its cosine similarity to the closest one.
Validation chooses the threshold; test reports it (test rows that also occur in train or validation are dropped).
The memory in production holds far fewer entries at first, so its false-positive rate starts lower than this.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from detectors.data import shared_data
from detectors.evaluation import binary_metrics, p50, timed
from detectors.memory import RECOMMENDED_THRESHOLDS, ExampleMemory
from detectors.models.encoder import Vectors

SPLITS = ("train", "validation", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="injection/s-labs", help="folder with train/validation/test.csv")
    parser.add_argument("--split", choices=SPLITS[1:], default="test")
    parser.add_argument("--memory-size", type=int, default=200, help="confirmed attacks in memory")
    parser.add_argument("--threshold", type=float, default=RECOMMENDED_THRESHOLDS["block_above"])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/railguard-attack-memory"), help="embedding cache")


def rows(folder: str, split: str) -> list[tuple[str, int]]:
    with shared_data(f"{folder}/{split}.csv").open(newline="", encoding="utf-8") as handle:
        return [(r["text"], int(r["label"])) for r in csv.DictReader(handle)]


def embed(texts: list[str], cache: Path) -> Vectors:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / (hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24] + ".npy")
    if path.exists():
        loaded: Vectors = np.load(path)
        return loaded
    from detectors.models import shared_encoder

    vectors = shared_encoder().encode(texts, batch_size=64)
    np.save(path, vectors)
    return vectors


def run(args: argparse.Namespace) -> dict[str, Any]:
    train = rows(args.data, "train")
    attacks = [text for text, label in train if label == 1]
    step = max(1, len(attacks) // args.memory_size)
    remembered = attacks[::step][: args.memory_size]
    evaluated = rows(args.data, args.split)
    if args.split == "test":  # the data README: 116 test texts also occur in validation; drop every overlap
        seen = {t.casefold() for t, _ in train} | {t.casefold() for t, _ in rows(args.data, "validation")}
        evaluated = [(t, y) for t, y in evaluated if t.casefold() not in seen]
    memory = ExampleMemory(list(zip(map(str, range(len(remembered))), embed(remembered, args.cache), strict=True)))
    vectors = embed([t for t, _ in evaluated], args.cache)
    scores, latencies = timed(lambda v: memory.match("", v)[0], list(vectors))
    labels = [y for _, y in evaluated]
    result: dict[str, Any] = {
        "family": "attack_memory",
        "split": args.split,
        "memory_size": len(remembered),
        "n": len(labels),
        **binary_metrics(labels, scores, args.threshold),
        "p50_ms": p50(latencies),
        "by_threshold": {
            f"{t:.2f}": {k: v for k, v in binary_metrics(labels, scores, t).items() if k in ("recall", "fpr")}
            for t in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
        },
    }
    return result
