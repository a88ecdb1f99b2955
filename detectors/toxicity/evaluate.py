"""`railguard eval toxicity --data labeled_data.csv`: ROC AUC on the test part (the issue's 20%) of the Davidson et al.
corpus, through the detector as the guard runs it (sentence by sentence, a fresh embedding cache per text).

``roc_auc``: toxicity score, hate or offensive vs neither; ``hate_roc_auc``: identity_attack score, hate vs the rest;
``labels``: per label ROC AUC and, at the recommended block threshold, precision / recall / false-positive rate.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import DetectorContext
from detectors.evaluation import binary_metrics, bootstrap_auc, p50, timed
from detectors.models.embeddings import EmbeddingCache
from detectors.toxicity.dataset import HATE, NEITHER, OFFENSIVE, load_corpus, split
from detectors.toxicity.detector import BACKENDS, RECOMMENDED_THRESHOLDS, VARIANTS, ToxicityDetector


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help="labeled_data.csv (default: ../shared/data/toxicity)")
    parser.add_argument("--backend", choices=BACKENDS, default="offline")
    parser.add_argument("--model", choices=VARIANTS, default="original", help="detoxify checkpoint")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test texts (quick checks)")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads for the run")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    corpus = load_corpus(args.data)
    test = corpus.subset(split(corpus).test[: args.limit])
    detector = ToxicityDetector(backend=args.backend, model=args.model)
    detector.warm_up()

    def score(text: str) -> dict[str, float]:
        return detector.detect(text, DetectorContext(embeddings=EmbeddingCache())).labels

    labels, latencies = timed(score, test.texts)
    targets = {
        "toxicity": test.classes != NEITHER,
        "identity_attack": test.classes == HATE,
        "insult": test.classes == OFFENSIVE,
    }
    per_label: dict[str, Any] = {}
    for label in labels[0]:
        y = targets.get(label, test.classes != NEITHER).astype(int)
        scores = [row[label] for row in labels]
        block = RECOMMENDED_THRESHOLDS.get(label, {}).get("block_above") if args.backend == "offline" else None
        if block is not None:
            per_label[label] = binary_metrics(list(y), scores, block)
        else:
            per_label[label] = {"roc_auc": round(float(roc_auc_score(y, scores)), 4)}
    toxic = [row["toxicity"] for row in labels]
    hate = [row.get("identity_attack", row["toxicity"]) for row in labels]
    return {
        "family": "toxicity",
        "backend": args.backend,
        "split": "test: train_test_split(test_size=0.2, stratify=class, random_state=0)",
        "n": len(test.texts),
        "hate": int(np.sum(test.classes == HATE)),
        "offensive": int(np.sum(test.classes == OFFENSIVE)),
        "neither": int(np.sum(test.classes == NEITHER)),
        "roc_auc": per_label["toxicity"]["roc_auc"],
        "roc_auc_ci95": bootstrap_auc(list(targets["toxicity"].astype(int)), toxic, rounds=200),
        "hate_roc_auc": round(float(roc_auc_score(targets["identity_attack"].astype(int), hate)), 4),
        "hate_roc_auc_ci95": bootstrap_auc(list(targets["identity_attack"].astype(int)), hate, rounds=200),
        "labels": per_label,
        "p50_ms": p50(latencies),
        "p90_ms": round(float(np.percentile(latencies, 90)), 3),
    }
