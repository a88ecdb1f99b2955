"""InjectionDetector: prompt injection and jailbreaks in user turns, indirect injection in documents and tool results.

score = fusion(classifier, heuristics, obfuscations), a calibrated probability in 0..1 (see head.py). The classifier
reads every window of the normalised text and every decoded payload through the per-request embedding cache and
keeps the highest; the rules read the whole normalised text. Details name the fired rules, the classifier score,
the obfuscations found and the window that scored highest. Documents (``TextRole.CONTEXT``, ``TOOL`` and ``SYSTEM``)
are scored the same way by the documents head (trained with tool results and repository files too; see head.py) and
marked ``indirect``; the policy gives them their own thresholds. With ``backend: tuned`` each head is joined by a
fine-tuned encoder of its own (tuned.py), read only for the texts the head alone does not clear (the cascade).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectors.base import Detection, Detector, DetectorContext, TextRole
from detectors.injection.analysis import Evidence, analyse, classifier_score, per_evidence, trusted
from detectors.injection.head import InjectionHead, default_documents_head, default_head
from detectors.injection.hub import DEFAULT_HUB_MODEL, HubInjectionClassifier
from detectors.injection.rules import WatchedRules
from detectors.injection.tuned import (
    DOCUMENTS_FUSION_FILE,
    TUNED_DOCUMENTS_ADAPTER,
    TunedInjectionClassifier,
    ensemble,
    tuned_gate,
    tuned_head,
)
from detectors.models.embeddings import EmbeddingCache

DOCUMENT_ROLES = frozenset({TextRole.CONTEXT, TextRole.TOOL, TextRole.SYSTEM})
Backend = Literal["embedding", "tuned", "hub"]


class InjectionDetector(Detector):
    name = "injection"
    uses_models = True

    def __init__(
        self,
        backend: Backend = "embedding",
        model: str | None = None,
        rules_file: Path | None = None,
        head: InjectionHead | None = None,
        hub: HubInjectionClassifier | None = None,
        documents_head: InjectionHead | None = None,
        skip_tuned_below: float | None = None,
    ) -> None:
        self.backend = backend
        self.head = head or default_head()
        self.documents_head = documents_head or default_documents_head()
        self.rules = WatchedRules(rules_file)
        self.hub = hub
        if backend == "hub" and hub is None:
            self.hub = HubInjectionClassifier(model or DEFAULT_HUB_MODEL)
        # `tuned`: user turns are scored by the ensemble of the head and the tuned encoder, documents by the ensemble
        # of the documents head and the documents adapter, each with its own fusion; the texts a head alone scores
        # below its gate skip the tuned encoder (tuned.py: the cascade). ``skip_tuned_below`` overrides both gates.
        tuned = backend == "tuned"
        self.tuned = TunedInjectionClassifier() if tuned else None
        self.tuned_documents = TunedInjectionClassifier(TUNED_DOCUMENTS_ADAPTER) if tuned else None
        if tuned and head is None:
            self.head = tuned_head(self.head)
        if tuned and documents_head is None:
            self.documents_head = tuned_head(self.documents_head, DOCUMENTS_FUSION_FILE)
        gate, documents_gate = (tuned_gate(), tuned_gate(DOCUMENTS_FUSION_FILE)) if tuned else (0.0, 0.0)
        self.skip_tuned_below = gate if skip_tuned_below is None else skip_tuned_below
        self.documents_gate = documents_gate if skip_tuned_below is None else skip_tuned_below

    @property
    def thresholds(self) -> dict[str, float]:
        """The thresholds chosen on validation (``user`` review and ``block`` for user turns, ``context`` for
        documents), the policy defaults."""
        return {**self.head.thresholds, "context": self.documents_head.thresholds["context"]}

    def head_for(self, role: TextRole) -> InjectionHead:
        return self.documents_head if role in DOCUMENT_ROLES else self.head

    def warm_up(self) -> None:
        if self.hub is not None:
            self.hub.warm_up()
        else:
            EmbeddingCache().embed(["warm up"])
        for tuned in (self.tuned, self.tuned_documents):
            if tuned is not None:
                tuned.warm_up()

    def heuristics(self, text: str) -> Evidence:
        """Normalisation and rules only (no model): what `bench.py` times as "heuristics alone"."""
        return analyse(text, self.rules.current())

    def classifier_probabilities(
        self, evidence: Sequence[Evidence], context: DetectorContext
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Probabilities for every classifier text of every piece of evidence, in order, in one batch."""
        return self._classify(evidence, context)[0]

    def _classify(
        self, evidence: Sequence[Evidence], context: DetectorContext
    ) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[bool]]:
        """The probabilities, and per piece of evidence whether the tuned encoder read it."""
        texts = [t for found in evidence for t in found.classifier_texts]
        unread = [False] * len(evidence)
        if self.hub is not None:
            return self.hub.probabilities(texts), unread
        cache = context.embeddings if context.embeddings is not None else EmbeddingCache()
        spans = [span for found in evidence for span in found.classifier_spans]
        own_head = self.head_for(context.role)
        head = own_head.classify(cache.embed_spans(spans), cache.embed_lexical(texts))
        documents = context.role in DOCUMENT_ROLES
        tuned, gate = (self.tuned_documents, self.documents_gate) if documents else (self.tuned, self.skip_tuned_below)
        if tuned is None:
            return head, unread
        # The cascade: a text the head alone scores below the gate keeps the head's probabilities (as if the tuned
        # encoder agreed); the rest are read by the tuned encoder too, in one batch.
        tuned_read = [
            own_head.fuse(classifier_score(found, own), found.heuristic, len(found.normalized.suspicious)) >= gate
            for found, own in zip(evidence, per_evidence(evidence, head), strict=True)
        ]
        read = np.repeat(tuned_read, [len(found.classifier_texts) for found in evidence])
        result = head.copy()
        if read.any():
            chosen = np.flatnonzero(read)
            result[chosen] = ensemble(head[chosen], tuned.probabilities([texts[i] for i in chosen]))
        return result, tuned_read

    def detect(self, text: str, context: DetectorContext) -> Detection:
        return self.detect_many([text], context)[0]

    def detect_many(self, texts: Sequence[str], context: DetectorContext) -> list[Detection]:
        """Score several texts of one role with a single classifier batch (all turns of a conversation)."""
        results: list[Detection | None] = [None] * len(texts)
        evidence: dict[int, Evidence] = {}
        for i, text in enumerate(texts):
            if text.strip():
                evidence[i] = self.heuristics(text)
            else:
                results[i] = Detection.skip(self.name, "empty text")
        batch = list(evidence.values())
        probabilities, tuned_read = self._classify(batch, context) if batch else (np.zeros(0), [])
        for (i, found), own, read in zip(evidence.items(), per_evidence(batch, probabilities), tuned_read, strict=True):
            results[i] = self._detection(found, own, context, read)
        return [r for r in results if r is not None]

    def _detection(
        self,
        evidence: Evidence,
        probabilities: np.ndarray[Any, np.dtype[np.float64]],
        context: DetectorContext,
        tuned_read: bool,
    ) -> Detection:
        best = int(np.argmax(trusted(evidence.classifier_texts, probabilities)))
        classifier = classifier_score(evidence, probabilities)
        suspicious = evidence.normalized.suspicious
        score = self.head_for(context.role).fuse(classifier, evidence.heuristic, len(suspicious))
        windows = [*evidence.windows, *evidence.payload_windows]
        labels: dict[str, float] = {"classifier": round(classifier, 4), "heuristic": round(evidence.heuristic, 4)}
        for hit in evidence.hits:
            labels[hit.category] = max(labels.get(hit.category, 0.0), hit.weight)
        details: dict[str, Any] = {
            "rules": [hit.rule for hit in evidence.hits],
            "classifier_score": round(classifier, 4),
            "classifier_abstained": not evidence.classifier_can_judge,  # too short: the rules decided
            "heuristic_score": round(evidence.heuristic, 4),
            "obfuscations": list(evidence.normalized.obfuscations),
            "window": {
                "index": best,
                "of": len(windows),
                "in": "text" if best < len(evidence.windows) else "decoded_payload",
                "start": windows[best].start,
                "end": windows[best].end,
            },
            "indirect": context.role in DOCUMENT_ROLES,
            "role": context.role.value,
            "backend": self.backend,
        }
        if self.tuned is not None:
            details["tuned_encoder"] = "read" if tuned_read else "skipped: the head alone scored it below the gate"
        if evidence.hits:
            details["matches"] = {hit.rule: hit.match for hit in evidence.hits}
        if self.rules.error:
            details["rules_file_error"] = self.rules.error[:300]
        return Detection(self.name, min(max(score, 0.0), 1.0), labels=labels, details=details)
