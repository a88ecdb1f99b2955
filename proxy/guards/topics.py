"""Layer 2, pre-generation: keep the conversation on the policy's topics, and recognise what the user wants."""

from __future__ import annotations

from detectors.base import TextRole
from detectors.intent import IntentDetector
from detectors.topic import SMALL_TALK, build_topic_detector
from policies.schema import Action, Intents, Policy, Topics
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, Verdict

_ACTIONS = {"refuse": Action.BLOCK, "escalate": Action.ESCALATE, "log": Action.LOG}


def latest_user_turn(exchange: Exchange) -> str | None:
    turns = exchange.view.user_turns()
    return turns[-1] if turns else None


class TopicGuard(Guard):
    """The latest user turn, read in the light of the previous one, against the declared topics. Topic examples are
    embedded when the policy loads (and again on hot reload), not per request."""

    name = "pre_generation.topics"
    layer = Layer.PRE_GENERATION
    settings: Topics

    def __init__(self, settings: Topics, policy: Policy) -> None:
        super().__init__(settings, policy)
        declarations = [t.model_dump() for t in settings.topics]
        self.detector = build_topic_detector(declarations, backend=settings.backend, model=settings.model)

    def warm_up(self) -> None:
        self.detector.warm_up()

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        text = latest_user_turn(exchange)
        if text is None:
            return []
        detection = await self.detect(self.detector, text, self.context(exchange, TextRole.USER))
        topic = str(detection.details.get("top_topic", ""))
        off_topic = detection.score > self.settings.off_topic_above
        details = {"top_topic": topic, "out_of_scope": round(detection.score, 4)}
        if not off_topic and topic == SMALL_TALK:
            return [Verdict("small_talk", Action.ALLOW, detection, details=details)]
        if not off_topic and topic in self.settings.blocked:
            action = _ACTIONS[self.settings.blocked_action]
            return [Verdict("blocked_topic", action, detection, sample=text, details={**details, "reason": topic})]
        if exchange.state.get("intents_fired"):
            # Asking for a person or complaining is about the conversation itself, never off-topic.
            details["reason"] = "intent:" + ",".join(sorted(exchange.state["intents_fired"]))
            return [Verdict("meta_intent", Action.ALLOW, detection, details=details)]
        if self.settings.allowed and (off_topic or topic not in self.settings.allowed):
            action = _ACTIONS[self.settings.off_topic_action]
            return [Verdict("off_topic", action, detection, sample=text, details={**details, "reason": "off_topic"})]
        return [Verdict("on_topic", Action.ALLOW, detection, details=details)]


class IntentGuard(Guard):
    """Recognises request_human, complaint, account_action, information, chitchat (and policy intents); the policy's
    rules turn a detected intent into an escalation or an event. The detection is kept for post-response scoring."""

    name = "pre_generation.intent"
    layer = Layer.PRE_GENERATION
    settings: Intents

    def __init__(self, settings: Intents, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = IntentDetector([i.model_dump() for i in settings.intents])

    def warm_up(self) -> None:
        self.detector.warm_up()

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        text = latest_user_turn(exchange)
        if text is None:
            return []
        detection = await self.detect(self.detector, text, self.context(exchange, TextRole.USER))
        verdicts = []
        for intent, rule in self.settings.rules.items():
            score = detection.labels.get(intent, 0.0)
            if score > rule.above:
                action = Action.ESCALATE if rule.action == "escalate" else Action.LOG
                details = {"intent": intent, "score": round(score, 4), "reason": intent}
                verdicts.append(Verdict(intent, action, detection, sample=text, details=details))
                exchange.state.setdefault("intents_fired", set()).add(intent)

        return verdicts or [Verdict("intent", Action.ALLOW, detection)]
