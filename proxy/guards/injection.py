"""Layer 1: prompt injection in user turns, and (the context safety check) indirect injection in documents.

Every user turn is scanned, not only the last (an attack planted early in a conversation works later), and so are
the documents the request carries: `railguard.context` documents, tool results and, when the policy asks, system
messages. User turns use the guard's thresholds, documents the `context` thresholds; a finding in a document is
recorded as `indirect_injection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from detectors.base import Detection, DetectorContext, TextRole
from detectors.models.runtime import runtime
from policies.schema import Injection, Policy, Thresholds
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, Verdict

_ROLES = {"user": TextRole.USER, "system": TextRole.SYSTEM, "context": TextRole.CONTEXT, "tool": TextRole.TOOL}


if TYPE_CHECKING:
    from detectors.injection import InjectionDetector


@cache
def detector_for(backend: str, model: str | None, rules_file: str | None) -> InjectionDetector:
    """One detector per (backend, model, rules file) per process; the rules file is re-read when it changes."""
    # Imported here: the detector pulls in torch, which a proxy without this guard never needs.
    from detectors.injection import InjectionDetector

    return InjectionDetector(
        backend="hub" if backend == "hub" else "tuned" if backend == "tuned" else "embedding",
        model=model,
        rules_file=Path(rules_file) if rules_file else None,
    )


@dataclass(frozen=True, slots=True)
class Target:
    role: TextRole
    turn: int  # message index; `railguard.context` documents: their position in that list
    text: str


class InjectionGuard(Guard):
    name = "input.injection"
    layer = Layer.INPUT
    settings: Injection

    def __init__(self, settings: Injection, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = detector_for(settings.backend, settings.model, settings.rules_file)
        self.roles = {_ROLES[r] for r in settings.roles}
        self.user_thresholds = settings.user_thresholds(self.detector.thresholds)
        self.context_thresholds = settings.context_thresholds(self.detector.thresholds)

    def warm_up(self) -> None:
        self.detector.warm_up()

    def targets(self, exchange: Exchange) -> list[Target]:
        view = exchange.view
        found = [Target(s.role, s.turn, s.get()) for s in view.slots if s.role in self.roles and s.role in _SLOTTED]
        if TextRole.CONTEXT in self.roles:
            found += [Target(TextRole.CONTEXT, i, d) for i, d in enumerate(view.context_documents)]
        return [t for t in found if t.text.strip()]

    def thresholds(self, role: TextRole) -> Thresholds:
        return self.user_thresholds if role is TextRole.USER else self.context_thresholds

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        targets = self.targets(exchange)
        verdicts: list[Verdict] = []
        for role in dict.fromkeys(t.role for t in targets):
            group = [t for t in targets if t.role is role]
            context = DetectorContext(role=role, embeddings=exchange.embeddings)
            detections: list[Detection] = await runtime.run(self.detector.detect_many, [t.text for t in group], context)
            for target, detection in zip(group, detections, strict=True):
                if detection.skipped:
                    continue
                action = self.thresholds(role).decide(detection.score)
                trigger = "prompt_injection" if role is TextRole.USER else "indirect_injection"
                verdicts.append(
                    Verdict(
                        trigger,
                        action,
                        detection,
                        sample=target.text,
                        details={"role": role.value, "turn": target.turn, "rules": detection.details["rules"]},
                        message=self.settings.message,
                    )
                )
        return verdicts


# Roles whose texts live in the request's messages (context documents come from `railguard.context`).
_SLOTTED = frozenset({TextRole.USER, TextRole.SYSTEM, TextRole.TOOL})
