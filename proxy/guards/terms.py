"""Deny-listed terms in the request (layer 1) and in the answer (layer 4)."""

from __future__ import annotations

from detectors.base import DetectorContext, TextRole
from detectors.terms import TermDetector
from policies.schema import Action, Policy, TermList
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, OutputPiece, Verdict


class _TermGuard(Guard):
    settings: TermList

    def __init__(self, settings: TermList, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = TermDetector(settings.terms)
        self.action = Action(settings.action)


class InputTermGuard(_TermGuard):
    name = "input.terms"
    layer = Layer.INPUT

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        roles = [TextRole(r) for r in self.settings.roles]
        verdicts = []
        for slot in exchange.view.of(*roles):
            text = slot.get()
            detection = await self.detect(self.detector, text, DetectorContext(role=slot.role))
            if detection.score > 0:
                verdicts.append(Verdict("denied_term", self.action, detection, sample=text))
        return verdicts


class OutputTermGuard(_TermGuard):
    name = "output.terms"
    layer = Layer.OUTPUT

    async def check_output(self, exchange: Exchange, piece: OutputPiece) -> list[Verdict]:
        # A phrase may straddle a window boundary: scan the tail of what was released too, but only count
        # matches that reach into the new text.
        tail = piece.preceding[-200:]
        context = DetectorContext(role=TextRole.OUTPUT, options={"ignore_before": len(tail)})
        detection = await self.detect(self.detector, tail + piece.text, context)
        if detection.score == 0:
            return []
        return [Verdict("denied_term", self.action, detection, sample=piece.text)]
