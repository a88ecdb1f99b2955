"""`railguard eval faithfulness --data FILE`: ROC AUC (label 1 = consistent), a bootstrap interval, balanced accuracy
at the recommended threshold and p50 latency.

FILE is a SummaC-style JSON object (``{id: {document, claim, label}}``, e.g. ``faithfulness/summac/factcc.json``) or
SICK's ``SICK.txt`` (sentence A is the context, sentence B the answer; label 1 = ENTAILMENT; measurement only).
Each item is one request: a fresh embedding cache, the document as the only context document.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import DetectorContext
from detectors.evaluation import bootstrap_auc, p50, timed
from detectors.faithfulness.detector import BACKENDS, RECOMMENDED_THRESHOLDS, FaithfulnessDetector
from detectors.faithfulness.nli import DEFAULT_NLI_MODEL
from detectors.models.embeddings import EmbeddingCache


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="SummaC JSON file or SICK.txt")
    parser.add_argument("--backend", choices=BACKENDS, default="offline")
    parser.add_argument("--nli-model", default=DEFAULT_NLI_MODEL, help="model spec name for --backend nli")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="unfaithfulness threshold for balanced accuracy (default: RECOMMENDED_THRESHOLDS['escalate_above'])",
    )
    parser.add_argument("--sick-set", default="TEST", help="SICK SemEval_set to use (TRAIN, TRIAL, TEST)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items (quick checks)")
    parser.add_argument("--head", type=Path, default=None, help="offline head .npz (default: the committed one)")
    parser.add_argument("--scores-out", type=Path, default=None, help="write {item id: unfaithfulness} as JSON here")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads for the run")


def load_items(path: Path, sick_set: str = "TEST") -> list[tuple[str, str, str, int]]:
    """(id, context, answer, label) with label 1 = consistent/entailed."""
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data.items() if isinstance(data, dict) else enumerate(data)
        return [(str(key), row["document"], row["claim"], int(row["label"])) for key, row in rows]
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            (row["pair_ID"], row["sentence_A"], row["sentence_B"], int(row["entailment_label"] == "ENTAILMENT"))
            for row in reader
            if row["SemEval_set"] == sick_set
        ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    items = load_items(args.data, args.sick_set)[: args.limit]
    detector = FaithfulnessDetector(backend=args.backend, nli_model=args.nli_model, head_path=args.head)
    detector.warm_up()

    def score(item: tuple[str, str, str, int]) -> float:
        _, context, answer, _ = item
        detection = detector.detect(answer, DetectorContext(context_documents=[context], embeddings=EmbeddingCache()))
        return detection.score

    unfaithful, latencies = timed(score, items)
    labels = np.array([label for _, _, _, label in items])
    if args.scores_out is not None:
        scores = {item_id: round(value, 6) for (item_id, _, _, _), value in zip(items, unfaithful, strict=True)}
        args.scores_out.write_text(json.dumps(scores, indent=0, sort_keys=True) + "\n")
    support = 1.0 - np.array(unfaithful)
    threshold = args.threshold if args.threshold is not None else RECOMMENDED_THRESHOLDS["escalate_above"]
    result: dict[str, Any] = {
        "family": "faithfulness",
        "data": str(args.data),
        "backend": args.backend,
        "n": len(items),
        "consistent": int(labels.sum()),
        "inconsistent": int((labels == 0).sum()),
        "roc_auc": round(float(roc_auc_score(labels, support)), 4),
        "roc_auc_ci95": bootstrap_auc(list(labels), list(support)),
        "threshold": threshold,
        "balanced_accuracy": _balanced_accuracy(labels, np.array(unfaithful), threshold),
        "balanced_accuracy_at_block": _balanced_accuracy(
            labels, np.array(unfaithful), RECOMMENDED_THRESHOLDS["block_above"]
        ),
        "p50_ms": p50(latencies),
        "p90_ms": round(float(np.percentile(latencies, 90)), 3),
    }
    if args.backend == "nli":
        result["nli_model"] = args.nli_model
    return result


def _balanced_accuracy(labels: np.ndarray[Any, Any], unfaithful: np.ndarray[Any, Any], threshold: float) -> float:
    flagged = unfaithful >= threshold
    inconsistent = labels == 0
    recall = float(flagged[inconsistent].mean()) if inconsistent.any() else 0.0
    specificity = float((~flagged[~inconsistent]).mean()) if (~inconsistent).any() else 0.0
    return round((recall + specificity) / 2, 4)
