"""Layer 4: toxic language in the answer (whole answers, and each window of a streamed one before it is released)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from detectors.base import DetectorContext, TextRole
from policies.schema import Action, Policy, Toxicity
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, OutputPiece, Verdict

_ORDER = list(Action)  # mildest to strongest


if TYPE_CHECKING:
    from detectors.toxicity import ToxicityDetector


@cache
def detector_for(backend: str, model: str) -> ToxicityDetector:
    # Imported here: the detector pulls in torch and scikit-learn, which a proxy without this guard never needs.
    from detectors.toxicity import ToxicityDetector

    return ToxicityDetector(backend=backend, model=model)


class ToxicityGuard(Guard):
    name = "output.toxicity"
    layer = Layer.OUTPUT
    settings: Toxicity

    def __init__(self, settings: Toxicity, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = detector_for(settings.backend, settings.model)

    def warm_up(self) -> None:
        self.detector.warm_up()

    def decide(self, labels: dict[str, float], score: float) -> tuple[Action, list[str]]:
        """The strongest action any threshold reaches, and the labels (or "toxicity") that reached it."""
        decisions = [("toxicity", self.settings.decide(score))]
        decisions += [
            (label, rule.decide(labels[label])) for label, rule in self.settings.labels.items() if label in labels
        ]
        action = max((a for _, a in decisions), key=_ORDER.index)
        return action, sorted({label for label, a in decisions if a is action and a is not Action.ALLOW})

    async def check_output(self, exchange: Exchange, piece: OutputPiece) -> list[Verdict]:
        # Sentences are scored on their own, so the window needs no preceding text: a toxic sentence is toxic
        # whatever came before it, and earlier windows were checked when they were released.
        context = DetectorContext(role=TextRole.OUTPUT, embeddings=exchange.embeddings)
        detection = await self.detect(self.detector, piece.text, context)
        if detection.skipped:
            return []
        action, reached = self.decide(detection.labels, detection.score)
        details = {"labels_reached": reached, "positions": [[s.start, s.end] for s in detection.spans]}
        return [
            Verdict(
                "toxic_answer", action, detection, sample=piece.text, details=details, message=self.settings.message
            )
        ]
