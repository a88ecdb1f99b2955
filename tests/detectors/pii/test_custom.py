"""Recognizers that trust-and-safety staff declare in YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.base import DetectorContext
from detectors.pii.custom import RecognizerConfigError, load_recognizers, mod97_valid, parse_recognizers
from detectors.pii.detector import PiiDetector
from detectors.pii.recognizers import luhn_valid

STAFF_YAML = """\
recognizers:
  - name: employee_number
    entity: EMPLOYEE_ID
    patterns:
      - regex: '\\bEMP-\\d{6}\\b'
    validation: luhn
    context: [employee, staff]
    score: 0.5
  - name: internal_hosts
    entity: INTERNAL_HOST
    deny_list: [zeus-prod-01, hera-db]
"""


def luhn_number(prefix: str) -> str:
    """``prefix`` plus the check digit that makes it pass Luhn."""
    return next(prefix + str(d) for d in range(10) if luhn_valid(prefix + str(d)))


@pytest.fixture(scope="module")
def staff_detector(tmp_path_factory: pytest.TempPathFactory) -> PiiDetector:
    path = tmp_path_factory.mktemp("staff") / "recognizers.yaml"
    path.write_text(STAFF_YAML, encoding="utf-8")
    return PiiDetector(model="spacy-en-core-web-sm", custom_recognizers=path)


def test_staff_pattern_with_checksum_is_found_end_to_end(staff_detector: PiiDetector) -> None:
    valid = "EMP-" + luhn_number("12345")
    invalid = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    text = f"Employee {valid} asked about {invalid}; the build ran on zeus-prod-01."
    detection = staff_detector.detect(text, DetectorContext())
    found = {(s.label, text[s.start : s.end], s.score) for s in detection.spans}
    assert ("EMPLOYEE_ID", valid, 1.0) in found  # checksum passed: full confidence
    assert not any(label == "EMPLOYEE_ID" and value == invalid for label, value, _ in found)  # checksum failed
    assert ("INTERNAL_HOST", "zeus-prod-01", 0.6) in {(label, value, round(score, 2)) for label, value, score in found}
    assert "EMPLOYEE_ID" in staff_detector.supported_entities()


def test_staff_entities_can_be_selected_and_masked(staff_detector: PiiDetector) -> None:
    from proxy.masking import Vault

    value = "EMP-" + luhn_number("55555")
    text = f"Please reset the badge of {value} today."
    spans = staff_detector.detect(text, DetectorContext(options={"entities": ["EMPLOYEE_ID"]})).spans
    assert [s.label for s in spans] == ["EMPLOYEE_ID"]
    vault = Vault()
    masked = vault.mask(text, spans)
    assert value not in masked.text and "<EMPLOYEE_ID_1>" in masked.text
    assert vault.restore(masked.text) == text


def test_mod97_checksum() -> None:
    assert mod97_valid("GB82 WEST 1234 5698 7654 32")
    assert not mod97_valid("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "recognizers:\n  - name: acct\n    entity: ACCOUNT\n    patterns:\n      - regex: '(unclosed'\n",
            r"<yaml>:5: recognizers\.0\.patterns\.0\.regex \(recognizer 'acct'\): regex does not compile",
        ),
        (
            "recognizers:\n  - name: acct\n    entity: ACCOUNT\n    deny_list: [a]\n    score: 1.5\n",
            r"<yaml>:5: recognizers\.0\.score \(recognizer 'acct'\): .*less than or equal to 1",
        ),
        (
            "recognizers:\n  - name: acct\n    entity: ACCOUNT\n    deny_list: [a]\n    validation: crc32\n",
            r"recognizers\.0\.validation \(recognizer 'acct'\): unknown validation 'crc32'",
        ),
        (
            "recognizers:\n  - name: acct\n    entity: ACCOUNT\n",
            r"<yaml>:2: recognizers\.0 \(recognizer 'acct'\): give at least one of patterns or deny_list",
        ),
        (
            "recognizers:\n  - name: acct\n    entity: account\n    deny_list: [a]\n",
            r"<yaml>:3: recognizers\.0\.entity .*should match pattern",
        ),
        (
            "recognizers:\n  - name: acct\n    entity: ACCOUNT\n    deny_list: [a]\n    colour: red\n",
            r"<yaml>:5: recognizers\.0\.colour \(recognizer 'acct'\): Extra inputs are not permitted",
        ),
        (
            "recognizers:\n  - {name: a, entity: A, deny_list: [x]}\n  - {name: a, entity: B, deny_list: [y]}\n",
            r"names must be unique; repeated: a",
        ),
        ("recognizers: [\n", r"not valid YAML"),
        ("- just a list\n", r"expected a mapping"),
    ],
)
def test_invalid_files_say_where_and_why(yaml_text: str, expected: str) -> None:
    with pytest.raises(RecognizerConfigError, match=expected):
        parse_recognizers(yaml_text)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecognizerConfigError, match="cannot read"):
        load_recognizers(tmp_path / "absent.yaml")
