"""`railguard eval intent [--data FILE]`: request_human on a paraphrase set (default: the held-out test set).

Reports precision / recall / F1 / FPR of ``labels["request_human"]`` at ``RECOMMENDED_THRESHOLDS`` (or
``--threshold``), the threshold the development set selects, and two ablations on the same data: the phrase layer
alone and the embedding alone (at its own development-selected threshold). ``p50_ms`` is the time of ``detect`` on
top of the shared embedding.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from detectors.base import DetectorContext
from detectors.evaluation import binary_metrics, p50, timed
from detectors.intent.detector import RECOMMENDED_THRESHOLDS, REQUEST_HUMAN, IntentDetector
from detectors.intent.phrases import read_request_human
from detectors.models.embeddings import EmbeddingCache
from detectors.topic.precomputed import PrecomputedEncoder

DATA_DIR = Path(__file__).with_name("data")
TEST_FILE = DATA_DIR / "request_human_test.yaml"
DEV_FILE = DATA_DIR / "request_human_dev.yaml"
GRID = [round(0.05 * i, 2) for i in range(1, 20)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=TEST_FILE, help="paraphrase set (YAML items: text, label)")
    parser.add_argument("--dev", type=Path, default=DEV_FILE, help="development set the threshold is chosen on")
    parser.add_argument("--threshold", type=float, default=None, help="request_human threshold to report at")


def load_items(path: Path) -> tuple[list[str], list[int]]:
    with path.open(encoding="utf-8") as handle:
        items = yaml.safe_load(handle)["items"]
    return [str(i["text"]) for i in items], [int(i["label"]) for i in items]


def select_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The middle of the widest run of grid thresholds that maximise F1 (robust to where the run's edges fall)."""
    f1 = [binary_metrics(labels, scores, t)["f1"] for t in GRID]
    best = max(f1)
    runs: list[list[float]] = []
    for threshold, value in zip(GRID, f1, strict=True):
        if value == best and runs and runs[-1][-1] == round(threshold - 0.05, 2):
            runs[-1].append(threshold)
        elif value == best:
            runs.append([threshold])
    widest = max(runs, key=len)
    return widest[len(widest) // 2]


def embedding_only(detector: IntentDetector, texts: Sequence[str], encoder: PrecomputedEncoder) -> list[float]:
    """request_human by the embedding alone (same margin rule, no phrase layer)."""
    scores = []
    for text in texts:
        similarity = detector.scorer.score([text], DetectorContext(embeddings=EmbeddingCache(encoder)))[0]
        position = detector.intents.index(REQUEST_HUMAN)
        others = float(np.delete(similarity, position).max())
        value = float(similarity[position])
        scores.append(value if value >= others else value / 2)
    return scores


def run(args: argparse.Namespace) -> dict[str, Any]:
    test_texts, test_labels = load_items(args.data)
    dev_texts, dev_labels = load_items(args.dev)
    encoder = PrecomputedEncoder.for_texts([*test_texts, *dev_texts])
    detector = IntentDetector(encoder=encoder)

    def score(texts: Sequence[str]) -> tuple[list[float], list[float]]:
        detections, latencies = timed(
            lambda t: detector.detect(t, DetectorContext(embeddings=EmbeddingCache(encoder))), texts
        )
        return [d.labels[REQUEST_HUMAN] for d in detections], latencies

    dev_scores, _ = score(dev_texts)
    test_scores, latencies = score(test_texts)
    threshold = args.threshold if args.threshold is not None else RECOMMENDED_THRESHOLDS["request_human_above"]
    result: dict[str, Any] = dict(binary_metrics(test_labels, test_scores, threshold))

    phrase_only = [1.0 if (v := read_request_human(t)).request and not v.not_request else 0.0 for t in test_texts]
    embedded_dev = embedding_only(detector, dev_texts, encoder)
    embedded_threshold = select_threshold(dev_labels, embedded_dev)
    embedded_test = embedding_only(detector, test_texts, encoder)
    missed = [t for t, y, s in zip(test_texts, test_labels, test_scores, strict=True) if y == 1 and s < threshold]
    false_alarms = [
        t for t, y, s in zip(test_texts, test_labels, test_scores, strict=True) if y == 0 and s >= threshold
    ]
    result.update(
        {
            "threshold_selected_on_dev": select_threshold(dev_labels, dev_scores),
            "dev": binary_metrics(dev_labels, dev_scores, threshold),
            "phrase_layer_only": binary_metrics(test_labels, phrase_only, 0.5),
            "embedding_only": binary_metrics(test_labels, embedded_test, embedded_threshold),
            "missed": missed,
            "false_positives": false_alarms,
            "p50_ms": p50(latencies),
            "n": len(test_texts),
            "n_positive": int(sum(test_labels)),
            "data": str(args.data),
        }
    )
    return result
