"""Layer 4: is the answer supported by the documents the request supplied (retrieved passages, tool results)?"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING

from detectors.base import Detection, DetectorContext, TextRole
from detectors.models.runtime import runtime
from policies.schema import Action, Faithfulness, Policy
from proxy.exchange import Exchange
from proxy.guards.pii import VAULT
from proxy.masking import Vault
from proxy.pipeline import Guard, Layer, OutputPiece, Verdict

if TYPE_CHECKING:
    from detectors.faithfulness import FaithfulnessDetector

_PREPARED = "faithfulness_prepared"


@cache
def detector_for(backend: str, model: str | None) -> FaithfulnessDetector:
    # Imported here: the checker pulls in spaCy (and with it torch), which a proxy without this guard never needs.
    from detectors.faithfulness import FaithfulnessDetector
    from detectors.faithfulness.nli import DEFAULT_NLI_MODEL

    return FaithfulnessDetector(backend=backend, nli_model=model or DEFAULT_NLI_MODEL)


class FaithfulnessGuard(Guard):
    name = "output.faithfulness"
    layer = Layer.OUTPUT
    settings: Faithfulness

    def __init__(self, settings: Faithfulness, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = detector_for(settings.backend, settings.model)

    def warm_up(self) -> None:
        self.detector.warm_up()

    def sources(self, exchange: Exchange) -> list[str]:
        view = exchange.view
        documents = list(view.context_documents) if "documents" in self.settings.context else []
        if "tool" in self.settings.context:
            documents += [slot.get() for slot in view.of(TextRole.TOOL)]
        if "system" in self.settings.context:
            documents += [slot.get() for slot in view.of(TextRole.SYSTEM)]
        return [d for d in documents if d.strip()]

    def _context(self, exchange: Exchange) -> DetectorContext:
        return DetectorContext(
            role=TextRole.OUTPUT, context_documents=self.sources(exchange), embeddings=exchange.embeddings
        )

    def prepare(self, exchange: Exchange) -> None:
        """Analyse and embed the sources while the upstream generates (they are known before the answer)."""
        if self.sources(exchange):
            task = asyncio.ensure_future(runtime.run(self.detector.prepare, self._context(exchange)))
            exchange.state[_PREPARED] = task

    async def check_output(self, exchange: Exchange, piece: OutputPiece) -> list[Verdict]:
        context = self._context(exchange)
        if not context.context_documents:
            if exchange.state.get("faithfulness_skip_recorded"):
                return []
            exchange.state["faithfulness_skip_recorded"] = True
            skipped = Detection.skip(
                self.detector.name, "the request supplied no documents to check the answer against"
            )
            return [Verdict("no_context", Action.ALLOW, skipped, record=True)]
        prepared = exchange.state.get(_PREPARED)
        if prepared is not None:
            await prepared
        text = piece.text
        vault = exchange.state.get(VAULT)
        if isinstance(vault, Vault) and len(vault):
            text = vault.restore(text)  # compare the user's own data with the documents, not placeholders
        detection = await self.detect(self.detector, text, context)
        if detection.skipped:
            return []
        unsupported = detection.spans
        details = {"unsupported_claims": len(unsupported), "positions": [[s.start, s.end] for s in unsupported]}
        action = self.settings.decide(detection.score)
        return [
            Verdict(
                "unsupported_answer",
                action,
                detection,
                sample=piece.text,
                details=details,
                message=self.settings.message,
            )
        ]
