"""Fixtures of the PII tests: detectors on the small spaCy pipeline (a regular dependency, always installed)."""

from __future__ import annotations

import pytest

from detectors.pii.detector import PiiDetector

SMALL_MODEL = "spacy-en-core-web-sm"


@pytest.fixture(scope="session")
def detector() -> PiiDetector:
    pii = PiiDetector(model=SMALL_MODEL)
    pii.warm_up()
    return pii


@pytest.fixture(scope="session")
def find(detector: PiiDetector):
    """Text -> [(entity type, value)] as the detector resolves them."""

    def run(text: str, **options: object) -> list[tuple[str, str]]:
        return [(f.entity_type, text[f.start : f.end]) for f in detector.find(text, options)]

    return run
