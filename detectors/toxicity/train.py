"""Fit the offline toxicity head (head.py) on the 80% training part of the Davidson et al. corpus.

    python -m detectors.toxicity.train --cache /tmp/toxicity-cache/embeddings.npz

Split (dataset.py): the issue's ``train_test_split(test_size=0.2, stratify=class, random_state=0)``; the 20% test
part is only scored. From the 80%, a development part (20% of it, stratified, seed 0) chooses, per label, the
lexical model's C and class weighting, the embedding model's C and the logit mix, by development ROC AUC, and the
recommended thresholds. The chosen settings are then refitted on the whole 80% (idf included).

Writes weights/offline_head.npz and weights/validation_metrics.json (development and test figures, the chosen
settings and thresholds). ``--cache`` keeps the shared encoder's embeddings between runs (the corpus takes minutes
to embed on two cores).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve, roc_auc_score

from detectors.faithfulness.train import PersistentEmbedder
from detectors.models.encoder import use_reference_precision
from detectors.toxicity.dataset import HATE, NEITHER, OFFENSIVE, Corpus, load_corpus, split
from detectors.toxicity.head import DEFAULT_HEAD, LABELS, WEIGHTS_DIR, ToxicityHead
from detectors.toxicity.lexical import counts, fit_idf, weigh
from detectors.toxicity.text import clean

MIN_DF = 2
LEXICAL_C = (0.5, 1.0, 2.0, 4.0)
EMBEDDING_C = (0.5, 2.0, 8.0)
MIXES = tuple(round(m, 2) for m in np.linspace(0.0, 1.0, 21))
# The recommended block threshold wrongly flags at most this share of the development texts without the label: a
# wrongly cut answer is costly. (Precision is no guide here: 83% of the corpus is toxic.)
BLOCK_FPR = 0.02

Ints = npt.NDArray[np.int64]


def targets(classes: Ints) -> dict[str, Ints]:
    return {
        "toxicity": (classes != NEITHER).astype(np.int64),
        "identity_attack": (classes == HATE).astype(np.int64),
        "insult": (classes == OFFENSIVE).astype(np.int64),
    }


@dataclass
class Choice:
    lexical_c: float
    class_weight: str | None
    embedding_c: float
    mix: float
    dev_auc: float


def _logit(model: LogisticRegression, x: Any) -> npt.NDArray[np.float64]:
    return np.asarray(model.decision_function(x), dtype=np.float64)


def _fit(x: Any, y: Ints, c: float, class_weight: str | None) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight=class_weight, max_iter=3000).fit(x, y)


def choose(
    x_train: sp.csr_matrix,
    e_train: npt.NDArray[np.float32],
    y_train: Ints,
    x_dev: sp.csr_matrix,
    e_dev: npt.NDArray[np.float32],
    y_dev: Ints,
) -> tuple[Choice, npt.NDArray[np.float64]]:
    """Best settings for one label by development ROC AUC, and the development logits they give."""
    lexical = {
        (c, w): _logit(_fit(x_train, y_train, c, w), x_dev) for c, w in itertools.product(LEXICAL_C, (None, "balanced"))
    }
    semantic = {c: _logit(_fit(e_train, y_train, c, "balanced"), e_dev) for c in EMBEDDING_C}
    best: tuple[Choice, npt.NDArray[np.float64]] | None = None
    for (c, w), lex in lexical.items():
        for ec, sem in semantic.items():
            for mix in MIXES:
                mixed = mix * lex + (1.0 - mix) * sem
                auc = float(roc_auc_score(y_dev, mixed))
                if best is None or auc > best[0].dev_auc + 1e-6:
                    best = (Choice(c, w, ec, mix, round(auc, 4)), mixed)
    assert best is not None
    return best


def thresholds(y: Ints, scores: npt.NDArray[np.float64]) -> dict[str, float]:
    """Max-F1 threshold, and the lowest threshold whose false-positive rate is at most BLOCK_FPR, on development
    scores (a score strictly above a threshold triggers it, as in policies)."""
    precision, recall, cuts = precision_recall_curve(y, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-9)
    best_f1 = float(cuts[int(np.argmax(f1))])
    negatives = np.sort(scores[y == 0])
    block = float(negatives[int(np.ceil(len(negatives) * (1.0 - BLOCK_FPR))) - 1])
    return {"f1_threshold": round(best_f1, 4), "block_threshold": round(block, 4)}


def metrics(y: Ints, scores: npt.NDArray[np.float64], threshold: float) -> dict[str, float]:
    predicted = scores > threshold
    tp = int(np.sum(predicted & (y == 1)))
    fp = int(np.sum(predicted & (y == 0)))
    fn = int(np.sum(~predicted & (y == 1)))
    return {
        "roc_auc": round(float(roc_auc_score(y, scores)), 4),
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "fpr": round(fp / max(int(np.sum(y == 0)), 1), 4),
    }


def fit_head(
    corpus: Corpus, index: Ints, embeddings: npt.NDArray[np.float32], raw: sp.csr_matrix, chosen: dict[str, Choice]
) -> ToxicityHead:
    """Refit every label's two models with the chosen settings on ``index`` and pack them."""
    idf = fit_idf(raw[index], MIN_DF)
    feature_index = np.nonzero(idf)[0]
    x = weigh(raw[index], idf)[:, feature_index]
    ys = targets(corpus.classes[index])
    lex_coef, lex_b, emb_coef, emb_b, mix = [], [], [], [], []
    for label in LABELS:
        choice = chosen[label]
        lexical = _fit(x, ys[label], choice.lexical_c, choice.class_weight)
        semantic = _fit(embeddings[index], ys[label], choice.embedding_c, "balanced")
        lex_coef.append(lexical.coef_[0])
        lex_b.append(lexical.intercept_[0])
        emb_coef.append(semantic.coef_[0])
        emb_b.append(semantic.intercept_[0])
        mix.append(choice.mix)
    f32 = np.float32
    return ToxicityHead(
        labels=LABELS,
        feature_index=feature_index.astype(np.int64),
        idf=idf[feature_index],
        lexical_coef=np.array(lex_coef, dtype=f32),
        lexical_intercept=np.array(lex_b, dtype=f32),
        embedding_coef=np.array(emb_coef, dtype=f32),
        embedding_intercept=np.array(emb_b, dtype=f32),
        mix=np.array(mix, dtype=f32),
    )


def embed_corpus(corpus: Corpus, cache: Path | None) -> npt.NDArray[np.float32]:
    embedder = PersistentEmbedder(cache)
    vectors = embedder.embed([clean(t) for t in corpus.texts])
    embedder.save()
    return vectors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz), kept between runs")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    use_reference_precision()

    corpus = load_corpus()
    parts = split(corpus)
    embeddings = embed_corpus(corpus, args.cache)
    raw = counts(corpus.texts)

    # 1. choose settings on development, models fitted on train only
    idf = fit_idf(raw[parts.train], MIN_DF)
    keep = np.nonzero(idf)[0]
    x_train, x_dev = weigh(raw[parts.train], idf)[:, keep], weigh(raw[parts.dev], idf)[:, keep]
    y_train, y_dev = targets(corpus.classes[parts.train]), targets(corpus.classes[parts.dev])
    chosen: dict[str, Choice] = {}
    recommended: dict[str, dict[str, float]] = {}
    for label in LABELS:
        choice, dev_logits = choose(
            x_train, embeddings[parts.train], y_train[label], x_dev, embeddings[parts.dev], y_dev[label]
        )
        chosen[label] = choice
        recommended[label] = thresholds(y_dev[label], 1.0 / (1.0 + np.exp(-dev_logits)))
        print(label, choice, recommended[label], flush=True)

    # 2. refit on the whole 80% and score the dev (in-sample now, for reference only) and test parts
    rest = np.concatenate([parts.train, parts.dev])
    head = fit_head(corpus, rest, embeddings, raw, chosen)
    args.out.mkdir(parents=True, exist_ok=True)
    head.save(args.out / DEFAULT_HEAD.name)
    test_scores = head.scores(raw[parts.test], embeddings[parts.test]).astype(np.float64)
    y_test = targets(corpus.classes[parts.test])
    report: dict[str, Any] = {
        "data": "toxicity/labeled_data.csv",
        "data_sha256": hashlib.sha256(corpus_path_bytes()).hexdigest(),
        "split": "train_test_split(test_size=0.2, stratify=class, random_state=0); dev = 20% of the 80%, same call",
        "sizes": {"train": len(parts.train), "dev": len(parts.dev), "test": len(parts.test)},
        "trained": datetime.date.today().isoformat(),
        "settings": {label: vars(choice) for label, choice in chosen.items()},
        "thresholds": recommended,
        "test": {
            label: metrics(y_test[label], test_scores[:, i], recommended[label]["block_threshold"])
            for i, label in enumerate(LABELS)
        },
    }
    (args.out / "validation_metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["test"]))


def corpus_path_bytes() -> bytes:
    from detectors.data import shared_data
    from detectors.toxicity.dataset import DATA_FILE

    return shared_data(DATA_FILE).read_bytes()


if __name__ == "__main__":
    main()
