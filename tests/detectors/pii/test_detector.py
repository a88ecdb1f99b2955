"""PiiDetector: options, output shape, models."""

from __future__ import annotations

import itertools

import pytest

from detectors.base import DetectorContext, DetectorError
from detectors.models.catalog import all_specs, status
from detectors.pii.detector import DEFAULT_MODEL, RECOMMENDED_THRESHOLDS, PiiDetector
from detectors.pii.models import SPACY_EN_MD, SPACY_EN_SM

TEXT = "Hi, I'm Julia Roberts, call me on +1 415-555-0132 or write to julia.roberts@example.org."


def test_detection_reports_types_positions_and_the_highest_score(detector: PiiDetector) -> None:
    detection = detector.detect(TEXT, DetectorContext())
    values = {(s.label, TEXT[s.start : s.end]) for s in detection.spans}
    assert {("PERSON", "Julia Roberts"), ("EMAIL_ADDRESS", "julia.roberts@example.org")} <= values
    assert ("PHONE_NUMBER", "+1 415-555-0132") in values
    assert detection.score == max(s.score for s in detection.spans) == detection.labels["EMAIL_ADDRESS"]
    assert detection.details["counts"]["PERSON"] == 1
    spans = sorted(detection.spans, key=lambda s: s.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))  # never overlapping


def test_entities_option_limits_the_types(detector: PiiDetector) -> None:
    detection = detector.detect(TEXT, DetectorContext(options={"entities": ["EMAIL_ADDRESS"]}))
    assert [s.label for s in detection.spans] == ["EMAIL_ADDRESS"]


def test_thresholds_drop_weaker_spans(detector: PiiDetector) -> None:
    default = detector.detect(TEXT, DetectorContext())
    strict = detector.detect(TEXT, DetectorContext(options={"threshold": 0.99}))
    assert {s.label for s in strict.spans} == {"EMAIL_ADDRESS"}  # only the validated, full-score span remains
    per_entity = detector.detect(TEXT, DetectorContext(options={"thresholds": {"PERSON": 0.99}}))
    assert "PERSON" not in per_entity.labels and "PERSON" in default.labels


def test_text_without_personal_data_scores_zero(detector: PiiDetector) -> None:
    detection = detector.detect("What is the capital of the moon?", DetectorContext())
    assert detection.score == 0.0 and detection.spans == []


def test_unsupported_language_and_unknown_model_fail_clearly(detector: PiiDetector) -> None:
    with pytest.raises(DetectorError, match="language 'de' is not supported"):
        detector.detect(TEXT, DetectorContext(options={"language": "de"}))
    with pytest.raises(DetectorError, match="unknown model"):
        PiiDetector(model="en_core_web_sm")


def test_detector_contract(detector: PiiDetector) -> None:
    assert detector.name == "pii" and detector.uses_models
    assert SPACY_EN_MD.name == DEFAULT_MODEL
    assert RECOMMENDED_THRESHOLDS["score_threshold"] == 0.4
    assert {"PERSON", "LOCATION", "AGE", "TITLE", "ZIP_CODE", "CREDIT_CARD"} <= set(detector.supported_entities())


def test_model_specs_are_registered_and_the_small_one_verifies() -> None:
    specs = all_specs()
    assert specs[SPACY_EN_SM.name] is SPACY_EN_SM and specs[SPACY_EN_MD.name] is SPACY_EN_MD
    assert status(SPACY_EN_SM) == "present"  # sha256 of the NER and tok2vec weights checked
    assert status(SPACY_EN_MD) in ("present", "missing")  # optional package (see README)
