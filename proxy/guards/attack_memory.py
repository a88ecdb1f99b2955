"""Layer 1: prompts that are paraphrases of attacks reviewers confirmed (learning from verdicts).

The memory lives with the review queue and every replica refreshes it within seconds of a change; while it is empty
the guard costs nothing (no embedding is computed).
"""

from __future__ import annotations

from detectors.base import TextRole
from detectors.memory import MemoryDetector
from escalation.service import service_of
from policies.schema import AttackMemory
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, Verdict


class AttackMemoryGuard(Guard):
    name = "input.attack_memory"
    layer = Layer.INPUT
    settings: AttackMemory

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        service = service_of(exchange)
        if service is None or not len(service.attacks):
            return []
        detector = MemoryDetector(service.attacks, service.allowed)
        verdicts = []
        for slot in exchange.view.of(TextRole.USER):
            text = slot.get()
            if not text.strip():
                continue
            detection = await self.detect(detector, text, self.context(exchange, TextRole.USER))
            action = self.settings.decide(detection.score)
            examples = {k: v for k, v in detection.details.items() if v is not None}  # which entry matched
            verdicts.append(Verdict("confirmed_attack", action, detection, sample=text, details=examples))
        return verdicts
