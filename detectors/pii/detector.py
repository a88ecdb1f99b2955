"""The PII detector: which personal data a text holds, where, of which type and how sure we are."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detectors.base import Detection, DetectorContext, DetectorError, Span
from detectors.base import Detector as BaseDetector
from detectors.models.runtime import ModelRuntime, runtime
from detectors.pii.custom import load_recognizers
from detectors.pii.engine import LANGUAGE, Analysis
from detectors.pii.models import SPECS_BY_NAME
from detectors.pii.resolve import Found

# The pipeline we ship with: en_core_web_md reaches the quality target (see detectors/pii/README.md);
# en_core_web_sm ("spacy-en-core-web-sm") is the lighter choice a policy can name explicitly.
DEFAULT_MODEL = "spacy-en-core-web-md"

# Presidio's (and presidio-research's evaluation) default confidence cut; checked on the dev templates of
# synth_dataset_v2.json (see README.md), not tuned on the held-out ones.
RECOMMENDED_THRESHOLDS = {"score_threshold": 0.4}

OPTION_KEYS = ("entities", "threshold", "language", "thresholds")


class PiiDetector(BaseDetector):
    """Presidio with spaCy NER, Presidio's predefined recognizers, our general recognizers and optional
    staff-declared YAML recognizers.

    Options read from ``DetectorContext.options``:

    - ``entities``: entity types to report (default: every supported type),
    - ``threshold``: minimum score of a span (default ``RECOMMENDED_THRESHOLDS["score_threshold"]``),
    - ``thresholds``: per-entity minimum scores overriding ``threshold`` (e.g. ``{"DATE_TIME": 0.6}``),
    - ``language``: only ``"en"`` is supported; anything else raises :class:`DetectorError`.

    The detection's ``score`` is the highest span score, ``labels`` maps each entity type found to its highest
    score, ``spans`` are non-overlapping and carry the entity type as label, ``details["counts"]`` counts
    spans per type. Values never leave the spans' offsets.
    """

    name = "pii"
    uses_models = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        custom_recognizers: str | Path | None = None,
        models: ModelRuntime = runtime,
    ) -> None:
        if model not in SPECS_BY_NAME:
            known = ", ".join(sorted(SPECS_BY_NAME))
            raise DetectorError(f"pii: unknown model {model!r}; known: {known}")
        extra = load_recognizers(custom_recognizers) if custom_recognizers is not None else []
        # One analyzer per process for each distinct set of staff recognizers.
        key = hashlib.sha256(repr([r.config.model_dump() for r in extra]).encode()).hexdigest()[:16] if extra else ""
        self.model = model
        self.analysis = Analysis(SPECS_BY_NAME[model], extra, key=key, models=models)

    def warm_up(self) -> None:
        self.analysis.detect_spans("Warm-up: John Smith lives at 12 Main Street.")

    def supported_entities(self) -> list[str]:
        return self.analysis.analyzers.supported_entities()

    def find(self, text: str, options: Mapping[str, Any] | None = None) -> list[Found]:
        """The resolved entity spans of ``text`` under ``options`` (the same keys as ``detect``)."""
        options = options or {}
        language = str(options.get("language", LANGUAGE))
        if language != LANGUAGE:
            raise DetectorError(f"pii: language {language!r} is not supported (only {LANGUAGE!r})")
        entities = _entity_list(options.get("entities"))
        threshold = float(options.get("threshold", RECOMMENDED_THRESHOLDS["score_threshold"]))
        per_entity = {str(k): float(v) for k, v in dict(options.get("thresholds") or {}).items()}
        lowest = min([threshold, *per_entity.values()])
        found = self.analysis.detect_spans(text, entities=entities, threshold=lowest)
        return [f for f in found if f.score >= per_entity.get(f.entity_type, threshold)]

    def detect(self, text: str, context: DetectorContext) -> Detection:
        found = self.find(text, context.options)
        labels: dict[str, float] = {}
        for item in found:
            labels[item.entity_type] = max(labels.get(item.entity_type, 0.0), round(item.score, 4))
        return Detection(
            detector=self.name,
            score=max(labels.values(), default=0.0),
            labels=labels,
            spans=[Span(f.start, f.end, f.entity_type, round(f.score, 4)) for f in found],
            details={
                "counts": dict(Counter(f.entity_type for f in found)),
                "recognizers": sorted({f.recognizer for f in found}),
                "model": self.model,
            },
        )


def _entity_list(value: Any) -> Sequence[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
