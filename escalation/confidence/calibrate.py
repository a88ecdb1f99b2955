"""Fit the confidence model's coefficients on labelled data and print a reliability table.

    python -m escalation.confidence.calibrate            # fit and report; changes nothing
    python -m escalation.confidence.calibrate --write    # also write model.json, metrics.json and signals.json
    python -m escalation.confidence.calibrate --from-signals   # refit from the committed signals.json (seconds)

Labelled answers (label 1 = an acceptable answer), from ../shared/data:

    fit     faithfulness/summac/factcc.json (311 claims; consistent = 1)
            toxicity/labeled_data.csv, even positions of the toxicity head's held-out 20% test part (a sample;
            class 2 "neither" = 1)
    report  faithfulness/summac/summeval.json (100 summaries)
            toxicity/labeled_data.csv, odd positions of that 20% part (a sample)

The toxicity rows come from the part the toxicity head never trained on (`detectors.toxicity.dataset.split`): on
its training rows the head is more certain than it is on new text, and the fitted weight would be too strong.

Only `unsupported` (faithfulness) and `toxicity` can be fitted on these sets; the other weights are the priors in
`PRIORS` (no shared data labels answers by injection, topic, PII, format, finish_reason or log-probabilities).

Signals come from the installed detectors (`detectors.faithfulness`, `detectors.toxicity`) when they import. Until
they do, each uses a stand-in computed here on the shared encoder, and says so in the output: faithfulness = 1 -
mean over the claim's sentences of the best cosine similarity to a document sentence; toxicity = a logistic probe
on the embeddings, trained on rows of the head's training part (never the fit or report rows). Re-run this
command once the detectors are merged: the coefficients belong to the signals they were fitted on.

Computing the signals takes a quarter of an hour on two cores, so `--write` also commits them (`signals.json`: one
score per row, no text) and the test suite refits from them and re-scores a sample of rows with the installed
detectors to show the committed signals are still what those detectors say.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import Detector, DetectorContext, TextRole
from detectors.data import shared_data
from escalation.confidence.features import FEATURES
from escalation.confidence.model import MODEL_PATH, ConfidenceModel

METRICS_PATH = MODEL_PATH.with_name("metrics.json")
SIGNALS_PATH = MODEL_PATH.with_name("signals.json")
SEED = 20261124
BINS = 10

# Logit weights for features no shared data labels, stated rather than fitted (see MODEL_CARD.md for the reasons).
PRIORS: dict[str, float] = {
    "injection": -2.0,
    "off_topic": -1.0,
    "pii_leak": -2.0,
    "format_invalid": -2.5,
    "truncated": -1.5,
    "filtered": -3.0,
    "low_logprob": -3.0,
}
FITTED = ("unsupported", "toxicity")
# Detector families whose installed detector, when present, replaces the stand-in.
FAMILIES = {"unsupported": "faithfulness", "toxicity": "toxicity"}

Matrix = npt.NDArray[np.float32]


@dataclass
class Row:
    source: str
    answer: str
    label: int  # 1 = acceptable
    context: str = ""
    features: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- data


def summac_rows(name: str) -> list[Row]:
    data = json.loads(shared_data(f"faithfulness/summac/{name}.json").read_text())
    return [Row(name, str(v["claim"]), int(v["label"]), context=str(v["document"])) for v in data.values()]


def toxicity_rows(part: str, limit: int) -> list[Row]:
    """Rows of the toxicity split: ``fit`` / ``report`` = even / odd positions of the held-out test part, ``probe`` =
    the training part; every k-th one so that about ``limit`` remain (deterministic)."""
    from detectors.toxicity.dataset import NEITHER, load_corpus, split

    corpus = load_corpus()
    parts = split(corpus)
    held_out = np.sort(parts.test)
    chosen = {"fit": held_out[0::2], "report": held_out[1::2], "probe": np.sort(parts.train)}[part]
    step = max(1, len(chosen) // limit)
    return [Row("toxicity", corpus.texts[i], 1 if corpus.classes[i] == NEITHER else 0) for i in chosen[::step][:limit]]


# ---------------------------------------------------------------------------------------------- signals


class Embeddings:
    """The shared encoder with an on-disk cache, so repeated runs embed each text once."""

    def __init__(self, cache: Path) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self.cache = cache

    def __call__(self, texts: Sequence[str]) -> Matrix:
        key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24]
        path = self.cache / f"{key}.npy"
        if path.exists():
            loaded: Matrix = np.load(path)
            return loaded
        from detectors.models import shared_encoder

        vectors = shared_encoder().encode(list(texts), batch_size=64)
        np.save(path, vectors)
        return vectors


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    found = [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 3]
    return found or [text.strip() or "."]


def standin_unsupported(rows: list[Row], embed: Embeddings) -> list[float]:
    """1 - mean over the answer's sentences of the best cosine similarity to any context sentence."""
    unique = sorted({s for row in rows for text in (row.answer, row.context) for s in sentences(text)})
    vectors = dict(zip(unique, embed(unique), strict=True))
    scores = []
    for row in rows:
        claim = np.stack([vectors[s] for s in sentences(row.answer)])
        document = np.stack([vectors[s] for s in sentences(row.context)])
        support = (claim @ document.T).max(axis=1)
        scores.append(float(np.clip(1.0 - support.mean(), 0.0, 1.0)))
    return scores


def standin_toxicity(probe_rows: list[Row], embed: Embeddings) -> Callable[[list[Row]], list[float]]:
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(max_iter=2000, C=1.0, random_state=SEED)
    probe.fit(embed([r.answer for r in probe_rows]), [1 - r.label for r in probe_rows])

    def score(rows: list[Row]) -> list[float]:
        if not rows:
            return []
        return [float(p) for p in probe.predict_proba(embed([r.answer for r in rows]))[:, 1]]

    return score


def installed_detector(family: str, override: str | None) -> Detector | None:
    """The family's detector if it is installed: ``module:Class`` from the command line, else the first Detector
    subclass in ``detectors.<family>`` whose name starts with the family and that builds without arguments."""
    if override:
        module_name, _, class_name = override.partition(":")
        built: Detector = getattr(importlib.import_module(module_name), class_name)()
        return built
    try:
        module = importlib.import_module(f"detectors.{family}")
    except ImportError:
        return None
    for _, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, Detector) and value is not Detector and value.name.startswith(family):
            try:
                return value()
            except TypeError:
                continue
    return None


def detector_scores(detector: Detector, rows: list[Row], cache: Path | None = None) -> list[float]:
    """The detector's score of each row; with ``cache``, scores already computed by this detector are reused."""
    name = f"{type(detector).__module__}.{type(detector).__name__}"
    stored: dict[str, float] = {}
    path = cache / f"scores-{hashlib.sha256(name.encode()).hexdigest()[:16]}.json" if cache else None
    if path is not None and path.exists():
        stored = json.loads(path.read_text())
    scores = []
    for row in rows:
        key = hashlib.sha256(f"{row.answer}\x00{row.context}".encode()).hexdigest()
        if key not in stored:
            context = DetectorContext(role=TextRole.OUTPUT, context_documents=[row.context] if row.context else [])
            stored[key] = float(detector.detect(row.answer, context).score)
        scores.append(stored[key])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored))
    return scores


# ---------------------------------------------------------------------------------------------- fitting and reporting


def fit(rows: list[Row]) -> tuple[float, dict[str, float]]:
    """Logistic regression on the fitted features, each source weighted equally (their base rates are arbitrary)."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[r.features[f] for f in FITTED] for r in rows])
    y = np.array([r.label for r in rows])
    sizes = {s: sum(1 for r in rows if r.source == s) for s in {r.source for r in rows}}
    weights = np.array([len(rows) / (len(sizes) * sizes[r.source]) for r in rows])
    model = LogisticRegression(C=10.0, max_iter=1000, random_state=SEED)
    model.fit(x, y, sample_weight=weights)
    coefficients = {name: min(0.0, float(w)) for name, w in zip(FITTED, model.coef_[0], strict=True)}
    return float(model.intercept_[0]), coefficients


def reliability(predicted: Sequence[float], labels: Sequence[int], bins: int = BINS) -> list[dict[str, Any]]:
    table = []
    p = np.asarray(predicted)
    y = np.asarray(labels)
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        inside = (p >= low) & ((p < high) if index < bins - 1 else (p <= high))
        count = int(inside.sum())
        table.append(
            {
                "bin": f"{low:.1f}-{high:.1f}",
                "n": count,
                "mean_predicted": round(float(p[inside].mean()), 4) if count else None,
                "observed": round(float(y[inside].mean()), 4) if count else None,
            }
        )
    return table


def summary(predicted: Sequence[float], labels: Sequence[int]) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    table = reliability(predicted, labels)
    n = len(labels)
    ece = sum(
        row["n"] / n * abs(row["mean_predicted"] - row["observed"]) for row in table if row["n"] and n
    )  # expected calibration error
    result: dict[str, Any] = {
        "n": n,
        "acceptable_rate": round(float(np.mean(labels)), 4),
        "mean_confidence": round(float(np.mean(predicted)), 4),
        "ece": round(ece, 4),
        "brier": round(float(brier_score_loss(labels, predicted)), 4),
    }
    if 0 < sum(labels) < n:
        result["roc_auc"] = round(float(roc_auc_score(labels, predicted)), 4)
    result["reliability"] = table
    return result


def print_table(title: str, table: list[dict[str, Any]]) -> None:
    print(f"\n{title}\n  bin        n     mean predicted   observed")
    for row in table:
        if row["n"]:
            print(f"  {row['bin']}  {row['n']:5d}   {row['mean_predicted']:.3f}            {row['observed']:.3f}")
        else:
            print(f"  {row['bin']}  {0:5d}   -                -")


# ---------------------------------------------------------------------------------------------- main


def calibration_rows(toxicity_limit: int) -> tuple[list[Row], list[Row]]:
    """(fit rows, report rows), always in the same order."""
    fit_rows = summac_rows("factcc") + toxicity_rows("fit", toxicity_limit)
    report_rows = summac_rows("summeval") + toxicity_rows("report", toxicity_limit // 2)
    return fit_rows, report_rows


def rows_digest(rows: Sequence[Row]) -> str:
    return hashlib.sha256("\x00".join(f"{r.source}\x01{r.answer}" for r in rows).encode()).hexdigest()


def load_signals(rows: list[Row]) -> dict[str, str]:
    """Set each row's fitted features from the committed signals.json; returns where each signal came from."""
    committed = json.loads(SIGNALS_PATH.read_text())
    if committed["rows_sha256"] != rows_digest(rows):
        raise SystemExit("signals.json was computed on other rows; re-run with --write")
    for feature in FITTED:
        for row, value in zip(rows, committed["values"][feature], strict=True):
            if value is not None:
                row.features[feature] = value
    sources: dict[str, str] = committed["sources"]
    return sources


def compute_signals(args: argparse.Namespace, everything: list[Row]) -> dict[str, str]:
    embed = Embeddings(args.cache)
    sources: dict[str, str] = {}
    for feature, family in FAMILIES.items():
        detector = installed_detector(family, getattr(args, f"{family}_detector"))
        # Faithfulness needs context documents (it skips without them); toxicity reads every answer.
        relevant = [r for r in everything if r.context or feature != "unsupported"]
        if detector is not None:
            values = detector_scores(detector, relevant, args.cache)
            sources[feature] = f"detector {type(detector).__module__}.{type(detector).__name__}"
        elif feature == "unsupported":
            values = standin_unsupported(relevant, embed)
            sources[feature] = "stand-in: sentence-embedding support (shared encoder)"
        else:
            probe_rows = toxicity_rows("probe", args.probe_rows)
            values = standin_toxicity(probe_rows, embed)(relevant)
            sources[feature] = f"stand-in: logistic probe on the shared encoder ({len(probe_rows)} training rows)"
        for row, value in zip(relevant, values, strict=True):
            row.features[feature] = value
    return sources


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    fit_rows, report_rows = calibration_rows(args.toxicity_rows)
    everything = fit_rows + report_rows
    refit = getattr(args, "from_signals", False)
    sources = load_signals(everything) if refit else compute_signals(args, everything)
    for row in everything:
        for feature in FEATURES:
            row.features.setdefault(feature, 0.0)

    intercept, fitted = fit(fit_rows)
    model = ConfidenceModel(
        intercept=intercept,
        weights={**PRIORS, **fitted},
        version=datetime.now(UTC).strftime("%Y%m%d")
        + "-"
        + hashlib.sha256(json.dumps(fitted).encode()).hexdigest()[:6],
        fitted=FITTED,
        notes={"signals": sources, "priors": sorted(PRIORS)},
    )
    predicted = [model.score(r.features) for r in report_rows]
    labels = [r.label for r in report_rows]
    report = summary(predicted, labels)
    per_source = {
        source: summary(
            [p for p, r in zip(predicted, report_rows, strict=True) if r.source == source],
            [r.label for r in report_rows if r.source == source],
        )
        for source in sorted({r.source for r in report_rows})
    }
    fit_predicted = [model.score(r.features) for r in fit_rows]
    result: dict[str, Any] = {
        "model": model.to_json(),
        "signals": sources,
        "fit": {
            "n": len(fit_rows),
            "sources": _counts(fit_rows),
            **_short(summary(fit_predicted, [r.label for r in fit_rows])),
        },
        "report": {"sources": _counts(report_rows), **report},
        "report_by_source": {k: _short(v) for k, v in per_source.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print("signals:")
    for feature, source in sources.items():
        print(f"  {feature}: {source}")
    print(
        f"\nconfidence = sigmoid({intercept:.3f} " + " ".join(f"{w:+.3f}*{f}" for f, w in model.weights.items()) + ")"
    )
    print(f"fitted: {', '.join(FITTED)}; priors: {', '.join(sorted(PRIORS))}")
    print_table(
        f"reliability on the report split (n={report['n']}, ECE {report['ece']}, Brier {report['brier']}, "
        f"AUROC {report.get('roc_auc')})",
        report["reliability"],
    )
    for source, figures in per_source.items():
        print_table(
            f"  {source} (n={figures['n']}, ECE {figures['ece']}, AUROC {figures.get('roc_auc')})",
            figures["reliability"],
        )
    if args.write:
        MODEL_PATH.write_text(json.dumps(model.to_json(), indent=2) + "\n")
        METRICS_PATH.write_text(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=2) + "\n")
        signals = {
            "rows_sha256": rows_digest(everything),
            "sources": sources,
            "values": {f: [r.features.get(f) if f in r.features else None for r in everything] for f in FITTED},
        }
        SIGNALS_PATH.write_text(json.dumps(signals, separators=(",", ":")) + "\n")
        print(f"\nwrote {MODEL_PATH}, {METRICS_PATH} and {SIGNALS_PATH}")
    return result


def _counts(rows: list[Row]) -> dict[str, int]:
    return {s: sum(1 for r in rows if r.source == s) for s in sorted({r.source for r in rows})}


def _short(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "reliability"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m escalation.confidence.calibrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--write", action="store_true", help="write model.json, metrics.json and signals.json")
    parser.add_argument(
        "--from-signals", action="store_true", help="refit from the committed signals.json instead of computing them"
    )
    parser.add_argument(
        "--toxicity-rows", type=int, default=1200, help="toxicity rows to fit on (half as many reported)"
    )
    parser.add_argument("--probe-rows", type=int, default=4000, help="rows for the stand-in toxicity probe")
    parser.add_argument("--faithfulness-detector", help="module:Class of the faithfulness detector (default: found)")
    parser.add_argument("--toxicity-detector", help="module:Class of the toxicity detector (default: found)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/railguard-calibration"), help="embedding cache")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
