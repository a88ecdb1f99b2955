"""The pipeline's guards: each reads one policy section, runs its detector and returns verdicts.

`build_guards` turns a policy into guard instances in pipeline order (layer by layer, and within a layer in the
order the design gives: rate limit → size → terms → injection → PII; topics → intent; generation controls;
output terms → toxicity → faithfulness → PII leakage → format; confidence → escalation).
"""

from __future__ import annotations

from collections.abc import Callable

from policies.schema import Guard as GuardSettings
from policies.schema import Policy
from proxy.guards.attack_memory import AttackMemoryGuard
from proxy.guards.controls import (
    MaxTokensGuard,
    ModelGuard,
    SystemPromptGuard,
    TemperatureGuard,
    ToolGuard,
    TopPGuard,
)
from proxy.guards.faithfulness import FaithfulnessGuard
from proxy.guards.format import FormatGuard
from proxy.guards.injection import InjectionGuard
from proxy.guards.pii import PiiLeakageGuard, PiiMaskingGuard
from proxy.guards.post_response import ConfidenceGuard, EscalationGuard
from proxy.guards.ratelimit import RateLimitGuard
from proxy.guards.size import PromptSizeGuard
from proxy.guards.terms import InputTermGuard, OutputTermGuard
from proxy.guards.topics import IntentGuard, TopicGuard
from proxy.guards.toxicity import ToxicityGuard
from proxy.pipeline import Guard

# (where the settings live in the policy, the guard class), in pipeline order.
GUARDS: list[tuple[Callable[[Policy], GuardSettings | None], type[Guard]]] = [
    (lambda p: p.input.rate_limits, RateLimitGuard),
    (lambda p: p.input.max_prompt, PromptSizeGuard),
    (lambda p: p.input.terms, InputTermGuard),
    (lambda p: p.input.injection, InjectionGuard),
    (lambda p: p.input.attack_memory, AttackMemoryGuard),
    (lambda p: p.input.pii, PiiMaskingGuard),
    (lambda p: p.pre_generation.intent, IntentGuard),
    (lambda p: p.pre_generation.topics, TopicGuard),
    (lambda p: p.generation.models, ModelGuard),
    (lambda p: p.generation.system_prompt, SystemPromptGuard),
    (lambda p: p.generation.temperature, TemperatureGuard),
    (lambda p: p.generation.top_p, TopPGuard),
    (lambda p: p.generation.max_tokens, MaxTokensGuard),
    (lambda p: p.generation.tools, ToolGuard),
    (lambda p: p.output.terms, OutputTermGuard),
    (lambda p: p.output.toxicity, ToxicityGuard),
    (lambda p: p.output.pii_leakage, PiiLeakageGuard),
    (lambda p: p.output.faithfulness, FaithfulnessGuard),
    (lambda p: p.output.format, FormatGuard),
    (lambda p: p.post_response.confidence, ConfidenceGuard),
    (lambda p: p.post_response.escalation, EscalationGuard),
]


def build_guards(policy: Policy) -> list[Guard]:
    guards = []
    for locate, guard_class in GUARDS:
        settings = locate(policy)
        if settings is not None and settings.enabled:
            guards.append(guard_class(settings, policy))
    return guards
