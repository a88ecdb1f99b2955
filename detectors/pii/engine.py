"""Presidio analysis, built once per process and configuration: spaCy NER, Presidio's predefined recognizers,
our general recognizers and the ones trust-and-safety staff declare in YAML.

Two ``AnalyzerEngine`` instances share one spaCy pass per text: one runs the pattern and phrase recognizers,
the other spaCy's NER. Presidio drops a result contained in a same-type result with a higher score, which would
hide that a pattern recognizer agreed with NER; kept apart, every result reaches ``resolve.resolve`` with the
recognizer that found it, and overlaps are settled there by the strength of the evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSpec
from detectors.pii.models import SPACY_EN_SM, load_spacy, offline_environment
from detectors.pii.resolve import Found, resolve

LANGUAGE = "en"

# spaCy label -> Presidio entity. ORG is kept (Presidio's default drops it for false positives; the phrase rules
# and overlap resolution keep those in check, and organisations are personal data in support chats).
SPACY_TO_PRESIDIO = {
    "PER": "PERSON",
    "PERSON": "PERSON",
    "NORP": "NRP",
    "FAC": "LOCATION",
    "LOC": "LOCATION",
    "GPE": "LOCATION",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
SPACY_LABELS_IGNORED = [
    "CARDINAL",
    "EVENT",
    "LANGUAGE",
    "LAW",
    "MONEY",
    "ORDINAL",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "WORK_OF_ART",
]

# Predefined recognizers we replace with a broader version of our own (see recognizers.py).
REPLACED_PREDEFINED = ("PhoneRecognizer",)


def _nlp_engine(spec: ModelSpec, models: ModelRuntime) -> Any:
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class PreloadedSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine over a pipeline we loaded and verified ourselves (it would download by name)."""

        def load(self) -> None:
            self.nlp = {LANGUAGE: load_spacy(spec, models)}  # type: ignore[assignment]

    engine = PreloadedSpacyNlpEngine(
        models=[{"lang_code": LANGUAGE, "model_name": spec.name}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=SPACY_TO_PRESIDIO,
            labels_to_ignore=SPACY_LABELS_IGNORED,
            low_score_entity_names=[],
        ),
    )
    engine.load()
    return engine


@dataclass(frozen=True)
class Analyzers:
    """The NLP engine and the two analyzers that share it."""

    nlp_engine: Any
    rules: Any
    ner: Any

    def analyze(self, text: str, entities: Sequence[str] | None, threshold: float) -> list[Any]:
        """Every result of both analyzers (``entities`` limits the types; unknown names are ignored)."""
        artifacts = self.nlp_engine.process_text(text, LANGUAGE)
        results: list[Any] = []
        for analyzer in (self.rules, self.ner):
            wanted = None
            if entities is not None:
                wanted = [e for e in entities if e in self._supported(analyzer)]
                if not wanted:
                    continue
            results += analyzer.analyze(
                text=text, language=LANGUAGE, entities=wanted, score_threshold=threshold, nlp_artifacts=artifacts
            )
        return results

    def supported_entities(self) -> list[str]:
        return sorted(self._supported(self.rules) | self._supported(self.ner))

    def _supported(self, analyzer: Any) -> frozenset[str]:
        return self._entity_sets[id(analyzer)]

    @cached_property
    def _entity_sets(self) -> dict[int, frozenset[str]]:
        return {id(a): frozenset(a.get_supported_entities(LANGUAGE)) for a in (self.rules, self.ner)}


def build_analyzers(
    spec: ModelSpec = SPACY_EN_SM,
    extra_recognizers: Sequence[Any] = (),
    models: ModelRuntime = runtime,
) -> Analyzers:
    """Fresh analyzers (run time uses :func:`shared_analyzers`, which builds them once per process)."""
    offline_environment()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from detectors.pii.recognizers import general_recognizers

    nlp_engine = _nlp_engine(spec, models)
    rules = RecognizerRegistry(supported_languages=[LANGUAGE])
    presidio_log = logging.getLogger("presidio-analyzer")
    level = presidio_log.level
    presidio_log.setLevel(logging.ERROR)  # one warning per non-English predefined recognizer it skips
    try:
        rules.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp_engine)
    finally:
        presidio_log.setLevel(level)
    ner = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in list(rules.recognizers):
        name = str(cast(Any, recognizer).name)
        if name in REPLACED_PREDEFINED:
            rules.remove_recognizer(name)
        elif name == "SpacyRecognizer":
            rules.remove_recognizer(name)
            ner.add_recognizer(recognizer)
    for recognizer in [*general_recognizers(), *extra_recognizers]:
        rules.add_recognizer(recognizer)
    return Analyzers(
        nlp_engine=nlp_engine,
        rules=AnalyzerEngine(registry=rules, nlp_engine=nlp_engine, supported_languages=[LANGUAGE]),
        ner=AnalyzerEngine(registry=ner, nlp_engine=nlp_engine, supported_languages=[LANGUAGE]),
    )


def shared_analyzers(
    spec: ModelSpec = SPACY_EN_SM,
    extra_recognizers: Sequence[Any] = (),
    key: str = "",
    models: ModelRuntime = runtime,
) -> Analyzers:
    """The process-wide analyzers for a model and a set of extra recognizers (``key`` names that set)."""
    return models.get(f"presidio-analyzers:{spec.name}:{key}", lambda: build_analyzers(spec, extra_recognizers, models))


class Analysis:
    """Presidio analysis plus overlap resolution: what the detector and the evaluation call."""

    def __init__(
        self,
        spec: ModelSpec = SPACY_EN_SM,
        extra_recognizers: Sequence[Any] = (),
        key: str = "",
        models: ModelRuntime = runtime,
    ) -> None:
        self.spec = spec
        self._extra = tuple(extra_recognizers)
        self._key = key
        self._models = models
        self.staff_declared = frozenset(r.name for r in self._extra)

    @property
    def analyzers(self) -> Analyzers:
        return shared_analyzers(self.spec, self._extra, self._key, self._models)

    def detect_spans(self, text: str, entities: Sequence[str] | None = None, threshold: float = 0.4) -> list[Found]:
        found = [
            Found(
                entity_type=r.entity_type,
                start=r.start,
                end=r.end,
                score=float(r.score),
                recognizer=str(r.recognition_metadata.get("recognizer_name", "")),
            )
            for r in self.analyzers.analyze(text, entities, threshold)
        ]
        return resolve(text, found, self.staff_declared, default_threshold=threshold)
