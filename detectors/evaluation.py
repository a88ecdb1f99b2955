"""Shared pieces of `railguard eval`: metric computation, latency figures and the registry of evaluators.

Each detector family ships ``detectors/<family>/evaluate.py`` with two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> dict[str, Any]: ...

``railguard eval FAMILY ...`` parses the family's arguments, calls ``run`` and prints the returned object as one
JSON line, always the last line of output.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TypeVar

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

T = TypeVar("T")
R = TypeVar("R")

# family -> module implementing add_arguments/run. Families join this table as they land.
EVALUATORS: dict[str, str] = {
    "pii": "detectors.pii.evaluate",
    "topic": "detectors.topic.evaluate",
    "intent": "detectors.intent.evaluate",
    "attack_memory": "detectors.memory.evaluate",
    "faithfulness": "detectors.faithfulness.evaluate",
    "toxicity": "detectors.toxicity.evaluate",
    "injection": "detectors.injection.evaluate",
}


def evaluator(family: str) -> ModuleType:
    try:
        return importlib.import_module(EVALUATORS[family])
    except KeyError:
        known = ", ".join(sorted(EVALUATORS)) or "none yet"
        raise SystemExit(f"unknown detector family {family!r}; known: {known}") from None


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, float]:
    """Precision, recall, F1, false-positive rate at ``threshold`` and ROC AUC (threshold-free)."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    predicted = (s >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, average="binary", zero_division=0.0)
    negatives = int((y == 0).sum())
    false_positives = int(((predicted == 1) & (y == 0)).sum())
    result: dict[str, float] = {
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "fpr": round(false_positives / negatives, 4) if negatives else 0.0,
        "threshold": threshold,
    }
    if 0 < int(y.sum()) < len(y):
        result["roc_auc"] = round(float(roc_auc_score(y, s)), 4)
    return result


def bootstrap_auc(labels: Sequence[int], scores: Sequence[float], rounds: int = 1000, seed: int = 0) -> list[float]:
    """A 95% bootstrap interval for ROC AUC (small test sets need one)."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        index = rng.integers(0, len(y), len(y))
        if 0 < y[index].sum() < len(index):
            values.append(roc_auc_score(y[index], s[index]))
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def timed(fn: Callable[[T], R], items: Iterable[T]) -> tuple[list[R], list[float]]:
    """Apply ``fn`` to each item, returning results and per-item latencies in milliseconds."""
    results: list[R] = []
    latencies: list[float] = []
    for item in items:
        started = time.perf_counter()
        results.append(fn(item))
        latencies.append((time.perf_counter() - started) * 1000.0)
    return results, latencies


def p50(latencies_ms: Sequence[float]) -> float:
    return round(statistics.median(latencies_ms), 3) if latencies_ms else 0.0
