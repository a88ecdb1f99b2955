"""FaithfulnessDetector: how far an answer goes beyond, or against, the context documents the request supplied.

``Detection.score`` is the answer's *unfaithfulness*, 1 - support, so that higher means more of what the detector
looks for; ``labels["support"]`` is the support itself. Each claim's support, best evidence sentence and the reasons
it looks unsupported are in ``details["claims"]``; the unsupported ones are also ``spans`` of the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detectors.base import Detection, Detector, DetectorContext
from detectors.faithfulness.checker import AnswerCheck, check_answer
from detectors.faithfulness.claims import split_claims
from detectors.faithfulness.context import build_index, is_oversized
from detectors.faithfulness.features import EVIDENCE_K
from detectors.faithfulness.head import DEFAULT_HEAD, OfflineHead, aggregate
from detectors.faithfulness.nli import DEFAULT_NLI_MODEL, NliChecker
from detectors.models.embeddings import EmbeddingCache
from detectors.models.spec import ModelSpec

# On Detection.score (unfaithfulness), chosen on the development answers by train.py; tests check they match
# weights/validation_metrics.json. See MODEL_CARD.md for how they behave on real data.
RECOMMENDED_THRESHOLDS = {"block_above": 0.981, "escalate_above": 0.56}
# A claim whose own support is below this is listed as unsupported (a reporting cut, not a policy threshold).
UNSUPPORTED_BELOW = 0.5
BACKENDS = ("offline", "nli")

__all__ = ["BACKENDS", "RECOMMENDED_THRESHOLDS", "UNSUPPORTED_BELOW", "FaithfulnessDetector"]


class FaithfulnessDetector(Detector):
    """Checks an answer's claims against ``DetectorContext.context_documents``.

    ``backend="offline"`` (default): shared-encoder evidence retrieval plus consistency checks of numbers, names,
    negation, antonyms and pronouns, scored by a small fitted head. ``backend="nli"``: the same claims and evidence
    judged by an NLI cross-encoder from the hub (``nli_model`` names its spec; it must have been pulled ahead of
    time, otherwise ``ModelUnavailableError`` — never a silent fall back to the offline checker).
    """

    name = "faithfulness"
    uses_models = True

    def __init__(
        self,
        backend: str = "offline",
        nli_model: str | ModelSpec = DEFAULT_NLI_MODEL,
        evidence_k: int = EVIDENCE_K,
        max_claims: int = 64,
        head_path: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown faithfulness backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.evidence_k = evidence_k
        self.max_claims = max_claims
        self.head = OfflineHead.load(head_path or DEFAULT_HEAD)
        self.nli = NliChecker(nli_model) if backend == "nli" else None
        if self.nli is not None:
            self.nli.spec.local_dir()  # fail when the policy is loaded, not on the first answer, if it was not pulled

    def warm_up(self) -> None:
        self.detect("The warm-up claim is here.", DetectorContext(context_documents=["The warm-up claim is here."]))
        if self.nli is not None:
            self.nli.warm_up()

    def prepare(self, context: DetectorContext) -> None:
        """Analyse and embed the context documents before the answer exists.

        Optional: the pipeline can run this while the upstream model is still generating (the context is known when
        the request arrives), so that checking the answer afterwards costs only its own claims. Uses the request's
        ``context.embeddings``; does nothing without documents or for contexts so long that the sentences worth
        analysing depend on the answer."""
        documents = [doc for doc in context.context_documents if doc and doc.strip()]
        if not documents or context.embeddings is None or is_oversized(documents):
            return
        index = build_index(documents)
        context.embeddings.embed(
            [s.facts.text for s in index.sentences] + [clause for s in index.sentences for clause in s.clauses]
        )

    def detect(self, text: str, context: DetectorContext) -> Detection:
        documents = [doc for doc in context.context_documents if doc and doc.strip()]
        if not documents:
            return Detection.skip(self.name, "no context documents in the request: nothing to check the answer against")
        embeddings = context.embeddings if context.embeddings is not None else EmbeddingCache()
        result = check_answer(text, documents, embeddings, self.evidence_k, self.max_claims)
        if not result.index.sentences:
            return Detection.skip(self.name, "the context documents contain no sentences to check against")
        if not result.checks:
            claims, _ = split_claims(text)
            return Detection(
                detector=self.name,
                score=0.0,
                labels={"support": 1.0, "supported_fraction": 1.0},
                details={"backend": self.backend, "claims": [], "note": "the answer makes no checkable claim"}
                | ({"set_aside": [s.text for s in result.set_aside]} if claims or result.set_aside else {}),
            )
        supports = self._supports(result)
        return self._detection(result, supports)

    def _supports(self, result: AnswerCheck) -> list[float]:
        if self.nli is not None:
            return self.nli.supports(result)
        features = [check.features for check in result.checks]
        import numpy as np

        return [float(s) for s in self.head.support(np.array(features))]

    def _detection(self, result: AnswerCheck, supports: list[float]) -> Detection:
        from detectors.base import Span

        weights = [check.weight for check in result.checks]
        support = aggregate(supports, weights, self.head.power)
        total = sum(weights)
        supported_fraction = sum(w for w, s in zip(weights, supports, strict=True) if s >= UNSUPPORTED_BELOW) / total
        claims: list[dict[str, Any]] = []
        spans = []
        for check, claim_support in zip(result.checks, supports, strict=True):
            best = result.index.sentences[check.evidence[0]]
            entry: dict[str, Any] = {
                "text": check.claim.text,
                "start": check.claim.start,
                "end": check.claim.end,
                "support": round(claim_support, 4),
                "evidence": best.facts.text,
                "evidence_document": best.document,
            }
            if claim_support < UNSUPPORTED_BELOW:
                entry["reasons"] = check.reasons or ["little in the context resembles this claim"]
                spans.append(Span(check.claim.start, check.claim.end, "unsupported_claim", round(1 - claim_support, 4)))
            claims.append(entry)
        # Not rounded: well-supported answers differ only in the 4th or 5th decimal, and rankings (ROC AUC,
        # thresholds near 0) need those digits.
        unfaithful = min(1.0, max(0.0, 1.0 - support))
        return Detection(
            detector=self.name,
            score=unfaithful,
            labels={
                "unfaithful": round(unfaithful, 4),
                "support": round(support, 4),
                "supported_fraction": round(supported_fraction, 4),
            },
            spans=spans,
            details={
                "backend": self.backend,
                "claims": claims,
                "unsupported": [c for c in claims if c["support"] < UNSUPPORTED_BELOW],
                "set_aside": [s.text for s in result.set_aside],
                "context_sentences": len(result.index.sentences),
            },
        )
