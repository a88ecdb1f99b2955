"""`railguard eval topic --data ../shared/data/topic/clinc150/data_full.json` (domains.json beside it).

CLINC150's 10 domains become 10 topics, each built from a one-line description plus at most N training queries per
intent (seeded choice). The out-of-scope threshold is chosen on validation (val + oos_val) in the 10-example setting
as the lowest cut-off (the most out-of-scope queries flagged) that keeps validation in-scope accuracy at
``--target-in-scope-accuracy``: the in-scope queries of validation and test are alike, the out-of-scope ones are not
(README.md), so that is the side whose validation figure carries over. Test figures
(test + oos_test) are reported at ``RECOMMENDED_THRESHOLDS`` (the constant the policy uses) unless ``--threshold`` is
given, for the 10- and the 3-example settings alike. ``p50_ms`` is the time of ``detect`` on top of the shared
embedding (vectors are computed beforehand and looked up).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import DetectorContext
from detectors.data import shared_data
from detectors.evaluation import binary_metrics, p50, timed
from detectors.models.embeddings import EmbeddingCache
from detectors.topic.clinc import OUT_OF_SCOPE, Clinc
from detectors.topic.declarations import TopicDeclaration
from detectors.topic.detector import RECOMMENDED_THRESHOLDS, TopicDetector
from detectors.topic.index import TopicIndexBuilder
from detectors.topic.precomputed import PrecomputedEncoder
from detectors.topic.scorers import EmbeddingTopicScorer

DEFAULT_DATA = "topic/clinc150/data_full.json"
# The in-scope target (0.93) plus two standard errors of an accuracy near it on 3,000 validation queries.
TARGET_IN_SCOPE_ACCURACY = 0.94


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=None, help=f"CLINC150 data_full.json (default ../shared/data/{DEFAULT_DATA})"
    )
    parser.add_argument("--examples-per-intent", type=int, default=10, help="training queries per intent (max 10)")
    parser.add_argument("--few-examples-per-intent", type=int, default=3, help="the second, sparser setting")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example choice")
    parser.add_argument(
        "--target-in-scope-accuracy",
        type=float,
        default=TARGET_IN_SCOPE_ACCURACY,
        help="validation in-scope accuracy the threshold keeps",
    )
    parser.add_argument("--threshold", type=float, default=None, help="out-of-scope threshold to report test at")
    parser.add_argument("--embedding-cache", type=Path, default=None, help=".npz to keep the dataset's vectors in")


def select_threshold(scores: Sequence[float], correct: Sequence[bool], target_accuracy: float) -> float:
    """The lowest out-of-scope cut-off (3 decimals) at which ``target_accuracy`` of the in-scope queries are still
    accepted and on their right topic. ``scores`` and ``correct`` (top topic is the right one) are the in-scope
    queries'; a query is accepted when its score is below the cut-off."""
    accepted = np.sort(np.asarray(scores, dtype=float)[np.asarray(correct, dtype=bool)])
    needed = math.ceil(round(target_accuracy * len(scores), 9))
    if needed > len(accepted):
        raise ValueError(f"no threshold reaches in-scope accuracy {target_accuracy}: the top topic is wrong too often")
    return (math.floor(float(accepted[needed - 1]) * 1000) + 1) / 1000


class Outcome:
    """Predictions of one detector on one split."""

    def __init__(self, detector: TopicDetector, texts: Sequence[str], gold: Sequence[str], encoder: PrecomputedEncoder):
        def run(text: str) -> tuple[str | None, float]:
            detection = detector.detect(text, DetectorContext(embeddings=EmbeddingCache(encoder)))
            return detection.details["top_topic"], detection.score

        results, self.latencies = timed(run, texts)
        self.top = [t for t, _ in results]
        self.scores = [s for _, s in results]
        self.gold = list(gold)

    @property
    def is_oos(self) -> list[bool]:
        return [g == OUT_OF_SCOPE for g in self.gold]

    def metrics(self, threshold: float) -> dict[str, Any]:
        predicted = [OUT_OF_SCOPE if s >= threshold else t for t, s in zip(self.top, self.scores, strict=True)]
        in_scope = [(p, g) for p, g in zip(predicted, self.gold, strict=True) if g != OUT_OF_SCOPE]
        closed = [t == g for t, g in zip(self.top, self.gold, strict=True) if g != OUT_OF_SCOPE]
        oos = binary_metrics([int(o) for o in self.is_oos], self.scores, threshold)
        per_domain: dict[str, list[bool]] = {}
        for p, g in in_scope:
            per_domain.setdefault(g, []).append(p == g)
        return {
            "in_scope_accuracy": round(float(np.mean([p == g for p, g in in_scope])), 4),
            "oos_recall": oos["recall"],
            "oos_precision": oos["precision"],
            "oos_roc_auc": oos.get("roc_auc"),
            "in_scope_rejected": round(float(np.mean([p == OUT_OF_SCOPE for p, _ in in_scope])), 4),
            "closed_set_accuracy": round(float(np.mean(closed)), 4),
            "per_domain_accuracy": {d: round(float(np.mean(v)), 4) for d, v in sorted(per_domain.items())},
            "n_in_scope": len(in_scope),
            "n_oos": int(sum(self.is_oos)),
        }


def detector_for(topics: Sequence[TopicDeclaration], encoder: PrecomputedEncoder) -> tuple[TopicDetector, float]:
    """A detector on ``topics`` and the milliseconds its index took to build from vectors (a private builder, so the
    process-wide cache does not serve it)."""
    started = time.perf_counter()
    scorer = EmbeddingTopicScorer(topics, encoder=encoder, builder=TopicIndexBuilder())
    build_ms = round((time.perf_counter() - started) * 1000.0, 2)
    return TopicDetector(scorer, top_k=3, encoder=encoder), build_ms


def validation_report(
    data: Clinc, per_intent: int, seed: int, target_accuracy: float, embedding_cache: Path | None = None
) -> dict[str, Any]:
    """Threshold selection on val + oos_val: the selected threshold and the validation metrics at it."""
    topics = data.topics(per_intent, seed)
    texts, gold = data.labelled("val")
    encoder = PrecomputedEncoder.for_texts([*texts, *(t for d in topics for t in d.texts())], embedding_cache)
    detector, _ = detector_for(topics, encoder)
    outcome = Outcome(detector, texts, gold, encoder)
    in_scope = [not oos for oos in outcome.is_oos]
    selected = select_threshold(
        [s for s, keep in zip(outcome.scores, in_scope, strict=True) if keep],
        [t == g for t, g, keep in zip(outcome.top, outcome.gold, in_scope, strict=True) if keep],
        target_accuracy,
    )
    return {"threshold": selected, **outcome.metrics(selected)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.examples_per_intent > 10:
        raise SystemExit("at most 10 examples per intent: topics are written by people, not trained on data sets")
    data = Clinc.load(args.data or shared_data(DEFAULT_DATA))
    settings = {"many": args.examples_per_intent, "few": args.few_examples_per_intent}
    topic_sets = {name: data.topics(k, args.seed) for name, k in settings.items()}
    test_texts, test_gold = data.labelled("test")
    every_text = [
        *data.labelled("val")[0],
        *test_texts,
        *(t for ts in topic_sets.values() for d in ts for t in d.texts()),
    ]
    # Embed every text once up front (and keep the vectors in --embedding-cache), so latency excludes the encoder.
    encoder = PrecomputedEncoder.for_texts(every_text, args.embedding_cache)

    validation = validation_report(
        data, settings["many"], args.seed, args.target_in_scope_accuracy, args.embedding_cache
    )
    threshold = args.threshold if args.threshold is not None else RECOMMENDED_THRESHOLDS["out_of_scope_above"]
    report: dict[str, Any] = {}
    outcomes: dict[str, Outcome] = {}
    for name, topics in topic_sets.items():
        detector, report[f"build_ms_{name}"] = detector_for(topics, encoder)
        outcomes[name] = Outcome(detector, test_texts, test_gold, encoder)
    many, few = outcomes["many"].metrics(threshold), outcomes["few"].metrics(threshold)
    report.update(
        {
            "in_scope_accuracy": many["in_scope_accuracy"],
            "oos_recall": many["oos_recall"],
            "p50_ms": p50(outcomes["many"].latencies),
            "in_scope_accuracy_few": few["in_scope_accuracy"],
            "oos_recall_few": few["oos_recall"],
            "threshold": threshold,
            "threshold_selected_on_val": validation["threshold"],
            "target_in_scope_accuracy_on_val": args.target_in_scope_accuracy,
            "validation": validation,
            "test": many,
            "test_few": few,
            "examples_per_intent": settings["many"],
            "few_examples_per_intent": settings["few"],
            "seed": args.seed,
            "encoder_misses": encoder.misses,
            "n": len(test_texts),
        }
    )
    return report
