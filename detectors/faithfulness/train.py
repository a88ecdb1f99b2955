"""Fit the offline checker's head on generated development data, and choose its aggregation and thresholds.

    python -m detectors.faithfulness.train --wiki /tmp/faithfulness/wiki

Data: passages from scikit-learn's installed dataset descriptions (always present) plus, when ``--wiki`` points at
them, WikiText articles (see MODEL_CARD.md for where they come from). Passages are split by article, 70% train / 30%
validation; devset.py derives supported and perturbed claims and answers from them (seeded).

* the logistic head is fitted on the train claims (standardised features, L2, balanced classes);
* the aggregation exponent p is chosen on the validation answers (highest ROC AUC; ties → the larger p);
* the recommended thresholds are read off the validation answers (see ``choose_thresholds``).

Writes weights/offline_head.npz, weights/validation_metrics.json and weights/dev_features.npz (the feature matrices,
so that a test can refit the head and check it reproduces, without the corpus or the encoder).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.faithfulness.checker import check_answer, check_claims
from detectors.faithfulness.claims import Claim
from detectors.faithfulness.devset import AnswerExample, ClaimExample, Generator, load_corpus, split_by_source
from detectors.faithfulness.features import FEATURES, SUPPORTING_FEATURES
from detectors.faithfulness.head import WEIGHTS_DIR, OfflineHead, aggregate
from detectors.models.encoder import shared_encoder, use_reference_precision

SEED = 20251124
VALIDATION_SHARE = 0.3
POWERS = (-float("inf"), -16.0, -8.0, -4.0, -2.0, -1.0, 1.0)
REGULARISATION_C = 0.5


class PersistentEmbedder:
    """Shared-encoder embeddings kept in an .npz file between runs (the corpus is embedded once)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.vectors: dict[str, npt.NDArray[np.float32]] = {}
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                self.vectors = dict(zip((str(t) for t in data["texts"]), data["vectors"], strict=True))
        self._dirty = False

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            for text, vector in zip(missing, shared_encoder().encode(missing, batch_size=64), strict=True):
                self.vectors[text] = vector
            self._dirty = True
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)

    def save(self) -> None:
        if self.path is not None and self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            texts = list(self.vectors)
            np.savez(self.path, texts=np.array(texts), vectors=np.stack([self.vectors[t] for t in texts]))


@dataclass
class FeatureSet:
    claim_features: npt.NDArray[np.float64]
    claim_labels: npt.NDArray[np.int64]
    claim_kinds: list[str]
    answer_features: list[npt.NDArray[np.float64]]  # one matrix (claims x features) per answer
    answer_weights: list[npt.NDArray[np.float64]]
    answer_labels: npt.NDArray[np.int64]


def claim_features(examples: Sequence[ClaimExample], embedder: PersistentEmbedder) -> npt.NDArray[np.float64]:
    rows = []
    for example in examples:
        result = check_claims([Claim(example.claim, 0, len(example.claim))], [example.context], embedder)
        rows.append(result.checks[0].features if result.checks else _nothing_to_check())
    return np.array(rows)


def _nothing_to_check() -> npt.NDArray[np.float64]:
    # A claim with no content word and no number: as supported as anything can be.
    return np.array([1.0 if name in SUPPORTING_FEATURES else 0.0 for name in FEATURES])


def answer_features(
    examples: Sequence[AnswerExample], embedder: PersistentEmbedder
) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.float64]]]:
    features, weights = [], []
    for example in examples:
        result = check_answer(example.answer, [example.context], embedder)
        checks = result.checks
        features.append(np.array([c.features for c in checks]) if checks else _nothing_to_check()[None, :])
        weights.append(np.array([c.weight for c in checks]) if checks else np.ones(1))
    return features, weights


def build(passages: Sequence[Any], seed: int, embedder: PersistentEmbedder, rounds: int) -> FeatureSet:
    claims: list[ClaimExample] = []
    answers: list[AnswerExample] = []
    for round_ in range(rounds):
        generator = Generator(passages, seed=seed + round_)
        claims += generator.claims(per_passage=20)
        answers += generator.answers(per_passage=4)
    matrix = claim_features(claims, embedder)
    answer_matrices, answer_weights = answer_features(answers, embedder)
    return FeatureSet(
        matrix,
        np.array([c.label for c in claims]),
        [c.kind for c in claims],
        answer_matrices,
        answer_weights,
        np.array([a.label for a in answers]),
    )


def fit_head(features: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], power: float) -> OfflineHead:
    """Class-balanced, L2-regularised logistic regression whose coefficients are constrained to the sign each
    feature must have (similarity can only raise support; a missing number, name or word can only lower it).

    Why constrained: the features overlap (a missing name is also a missing word), and an unconstrained fit on
    generated data happily gives one of two correlated features the "wrong" sign to fine-tune the other. That
    fits the generator, not faithfulness; the signs are what we know to be true of any data."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-6] = 1.0
    x = (features - mean) / scale
    y = labels.astype(np.float64)
    sample_weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    n = len(FEATURES)

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        z = x @ theta[:n] + theta[n]
        p = 1.0 / (1.0 + np.exp(-z))
        log_loss = np.sum(sample_weight * (np.logaddexp(0, z) - y * z))
        gradient_z = sample_weight * (p - y)
        gradient = np.concatenate([x.T @ gradient_z + theta[:n] / REGULARISATION_C, [gradient_z.sum()]])
        return float(log_loss + 0.5 * np.sum(theta[:n] ** 2) / REGULARISATION_C), gradient

    bounds = [(0.0, None) if name in SUPPORTING_FEATURES else (None, 0.0) for name in FEATURES] + [(None, None)]
    result = minimize(loss, np.zeros(n + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    theta = result.x
    return OfflineHead(FEATURES, theta[:n].astype(np.float64), float(theta[n]), mean, scale, power)


def answer_scores(head: OfflineHead, data: FeatureSet, power: float) -> npt.NDArray[np.float64]:
    """Unfaithfulness (1 - support) of each answer."""
    return np.array(
        [
            1.0 - aggregate(list(head.support(m)), list(w), power)
            for m, w in zip(data.answer_features, data.answer_weights, strict=True)
        ]
    )


def choose_thresholds(unfaithful: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> dict[str, float]:
    """Thresholds on the answer score, read off the faithful validation answers (label 1): ``escalate_above`` lets
    10% of them through to review, ``block_above`` 2.5%. Chosen by false-positive budget rather than by best
    balanced accuracy on our own perturbations, because real answers paraphrase more than generated ones do and a
    guard that blocks faithful answers is switched off."""
    faithful = unfaithful[labels == 1]
    return {
        "block_above": round(float(np.quantile(faithful, 0.975)), 3),
        "escalate_above": round(float(np.quantile(faithful, 0.90)), 3),
    }


def balanced_accuracy(unfaithful: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], threshold: float) -> float:
    flagged = unfaithful >= threshold
    return round(float((flagged[labels == 0].mean() + (~flagged[labels == 1]).mean()) / 2), 4)


def evaluate(head: OfflineHead, data: FeatureSet) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    support = head.support(data.claim_features)
    claim_auc = float(roc_auc_score(data.claim_labels, support))
    similarity_auc = float(roc_auc_score(data.claim_labels, data.claim_features[:, FEATURES.index("similarity")]))
    per_kind: dict[str, float] = {}
    positives = data.claim_labels == 1
    for kind in sorted(set(data.claim_kinds)):
        mask = np.array([k == kind for k in data.claim_kinds]) & ~positives
        if mask.sum() >= 5:
            chosen = mask | positives
            per_kind[kind] = round(float(roc_auc_score(data.claim_labels[chosen], support[chosen])), 4)
    answers = {}
    for power in POWERS:
        scores = answer_scores(head, data, power)
        answers[str(power)] = round(float(roc_auc_score(data.answer_labels, -scores)), 4)
    return {
        "claims": len(data.claim_labels),
        "claims_unsupported": int((data.claim_labels == 0).sum()),
        "claim_roc_auc": round(claim_auc, 4),
        "claim_roc_auc_similarity_only": round(similarity_auc, 4),
        "claim_roc_auc_by_perturbation": per_kind,
        "answers": len(data.answer_labels),
        "answer_roc_auc_by_power": answers,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wiki", type=Path, default=None, help="folder of WikiText .txt files (optional)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faithfulness/embeddings.npz"))
    parser.add_argument("--rounds", type=int, default=3, help="generation rounds (different seeds) per split")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    use_reference_precision()

    import torch

    torch.set_num_threads(int(os.environ.get("RAILGUARD_TRAIN_THREADS", "1")))
    passages = load_corpus(args.wiki)
    train_passages, validation_passages = split_by_source(passages, VALIDATION_SHARE, SEED)
    embedder = PersistentEmbedder(args.cache)
    try:
        train = build(train_passages, SEED, embedder, args.rounds)
        validation = build(validation_passages, SEED + 1000, embedder, args.rounds)
    finally:
        embedder.save()
    head = fit_head(train.claim_features, train.claim_labels, power=-4.0)
    metrics = evaluate(head, validation)
    by_power = metrics["answer_roc_auc_by_power"]
    best_power = max(POWERS, key=lambda p: (by_power[str(p)], p))
    head = OfflineHead(head.feature_names, head.coefficients, head.intercept, head.mean, head.scale, best_power)
    validation_scores = answer_scores(head, validation, best_power)
    thresholds = choose_thresholds(validation_scores, validation.answer_labels)
    metrics["answer_balanced_accuracy"] = {
        name: balanced_accuracy(validation_scores, validation.answer_labels, value)
        for name, value in thresholds.items()
    }
    digest = hashlib.sha256("\x1e".join(f"{p.source}\x1f{p.text}" for p in passages).encode()).hexdigest()
    report = {
        "seed": SEED,
        "rounds": args.rounds,
        "corpus_sha256": digest,
        "passages": {"train": len(train_passages), "validation": len(validation_passages)},
        "sources": sorted({p.source.split(":")[0] for p in passages}),
        "power": str(best_power),
        "thresholds": thresholds,
        "coefficients": {n: round(float(c), 4) for n, c in zip(FEATURES, head.coefficients, strict=True)},
        "validation": metrics,
        "train_claim_roc_auc": evaluate(head, train)["claim_roc_auc"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    head.save(args.out / "offline_head.npz")
    np.savez_compressed(
        args.out / "dev_features.npz",
        train_x=train.claim_features.astype(np.float32),
        train_y=train.claim_labels,
        validation_x=validation.claim_features.astype(np.float32),
        validation_y=validation.claim_labels,
    )
    (args.out / "validation_metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(json.dumps(report, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
