"""Layer 5: a confidence for every answer, and escalation to human review.

`ConfidenceGuard` scores each complete answer from the findings of layers 1-4 and how the answer ended, returns it
in `x-railguard-confidence` and records it. `EscalationGuard` runs the policy's triggers — a user asking for a
human, repeated probing (on the request); low confidence and guards' escalations (on the answer); blocks (after
the refusal) — chooses what the user sees, queues one review per escalated request (masked), tells the named
notifiers and writes the request's decision record that feedback links to.
"""

from __future__ import annotations

from typing import Any

from escalation.answers import Shown
from escalation.probing import Probing
from escalation.records import decision_values, notification, review_values
from escalation.service import EscalationService, service_of
from escalation.store import StoreError
from escalation.triggers import (
    PRIORITIES,
    Fired,
    HumanRequest,
    RequestEscalation,
    bookkeeping,
    confidence_of,
    present,
)
from policies.schema import Action, Confidence, Escalation, Policy, Trigger
from proxy.exchange import Exchange
from proxy.pipeline import FinishedAnswer, Guard, Layer, Verdict
from proxy.state import StateError
from proxy.texts import RouteKind

CONFIDENCE_HEADER = "x-railguard-confidence"
ESCALATED_HEADER = "x-railguard-escalated"


class ConfidenceGuard(Guard):
    name = "post_response.confidence"
    layer = Layer.POST_RESPONSE
    settings: Confidence

    async def finish_answer(self, exchange: Exchange, answer: FinishedAnswer) -> list[Verdict]:
        if exchange.kind is RouteKind.EMBEDDINGS:
            return []
        confidence = confidence_of(exchange, answer)
        exchange.response_headers[CONFIDENCE_HEADER] = f"{confidence.score:.3f}"
        details = {"model": confidence.model, "contributions": confidence.contributions}
        return [Verdict("confidence", Action.ALLOW, detection=confidence.detection(), details=details, record=True)]


class EscalationGuard(Guard):
    name = "post_response.escalation"
    layer = Layer.POST_RESPONSE
    settings: Escalation

    def __init__(self, settings: Escalation, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.triggers = settings.triggers
        self.human = HumanRequest(settings.triggers.request_human)
        self.probing = Probing(settings.triggers.repeated_probing)

    # -- firing ---------------------------------------------------------------------------------------------------

    def _message(self, shown: Shown) -> str:
        return self.settings.handoff_message if shown is Shown.HANDOFF else self.settings.notice

    def fire(
        self,
        exchange: Exchange,
        name: str,
        trigger: Trigger,
        reason: str,
        answer: FinishedAnswer | None = None,
        queue: bool = True,
        **details: Any,
    ) -> Verdict:
        """An escalation verdict. Its `apply` (run only when enforcing) records the trigger for the review and asks
        for the trigger's presentation. ``queue=False``: already queued (probing, once per window): only recorded
        (`log`) and presented."""
        notes = bookkeeping(exchange)
        shown = Shown.named(trigger.show)
        fired = Fired(name, reason, PRIORITIES[trigger.priority], shown, list(trigger.notify), details)

        def apply() -> None:
            if queue:
                notes.fired.append(fired)
                escalated = ", ".join(dict.fromkeys(f.trigger for f in notes.fired))
                exchange.response_headers[ESCALATED_HEADER] = escalated
            notes.want(shown, self._message(shown))
            if answer is not None:
                present(answer, notes.shown, notes.message or "")

        verdict_details = {"reason": reason, "priority": trigger.priority, "show": trigger.show, **details}
        return Verdict(name, Action.ESCALATE if queue else Action.LOG, details=verdict_details, apply=apply)

    # -- the request ----------------------------------------------------------------------------------------------

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        if exchange.kind is RouteKind.EMBEDDINGS:
            return []
        verdicts = []
        human = self.triggers.request_human
        if human.enabled:
            found = await self.human.detect(exchange, self.detect)
            if found is not None:
                detection, source = found
                verdict = self.fire(exchange, "request_human", human, f"the user asks for a human ({source})")
                verdict.detection = detection
                verdict.sample = exchange.view.user_turns()[-1]
                verdicts.append(verdict)
        verdicts += await self._probing(exchange, guard_hits=0)
        return verdicts

    async def _probing(self, exchange: Exchange, guard_hits: int) -> list[Verdict]:
        """Count the request in the caller's window (once: on the request side, or after a block that kept it from
        layer 5) and fire when the caller is over a limit. One review per caller per window; later requests in
        the window still get the trigger's presentation."""
        probing = self.triggers.repeated_probing
        notes = bookkeeping(exchange)
        if not probing.enabled or exchange.kind is RouteKind.EMBEDDINGS:
            return []
        try:
            if notes.probed:
                await self.probing.add_hits(exchange.store, exchange, guard_hits)
                return []
            notes.probed = True
            probe = await self.probing.observe(exchange.store, exchange, guard_hits)
        except StateError as exc:  # the counts are lost for this request; the other triggers still run
            details = {"error": str(exc)[:300], "state": exchange.store.name}
            return [Verdict("probing_unavailable", Action.ALLOW, details=details, record=True)]
        reason = probe.reason(probing) if probe is not None else None
        if probe is None or reason is None:
            return []
        return [
            self.fire(
                exchange,
                "repeated_probing",
                probing,
                reason,
                queue=probe.first_in_window,
                guard_hits=probe.guard_hits,
                similar=probe.similar,
            )
        ]

    # -- the answer -----------------------------------------------------------------------------------------------

    async def finish_answer(self, exchange: Exchange, answer: FinishedAnswer) -> list[Verdict]:
        notes = bookkeeping(exchange)
        notes.answer = answer
        if notes.shown is not Shown.ANSWER and notes.message:
            # Decided (and enforced) on the request side; the answer exists only now.
            present(answer, notes.shown, notes.message)
        if exchange.kind is RouteKind.EMBEDDINGS:
            return []
        verdicts = []
        low = self.triggers.low_confidence
        if low.enabled:
            confidence = confidence_of(exchange, answer)
            if confidence.score < low.below:
                reason = f"confidence {confidence.score:.3f} is below {low.below}"
                verdicts.append(
                    self.fire(exchange, "low_confidence", low, reason, answer, features=confidence.features)
                )
        violation = self.triggers.violation
        others = [e for e in exchange.escalations if e.guard != self.name]
        if violation.enabled and violation.escalations and others:
            reason = "; ".join(f"{e.guard} escalated ({e.layer}/{e.trigger})" for e in others)
            escalations = [{"guard": e.guard, "layer": e.layer, "trigger": e.trigger, "score": e.score} for e in others]
            verdicts.append(self.fire(exchange, "violation", violation, reason, answer, escalations=escalations))
        return verdicts

    # -- after the answer went out --------------------------------------------------------------------------------

    async def after_response(self, exchange: Exchange) -> list[Verdict]:
        service = service_of(exchange)
        notes = bookkeeping(exchange)
        events = service.decisions.take(exchange.request_id) if service is not None else []
        blocks = [e for e in events if e["action"] == "block" and e["enforced"]]
        guard_hits = sum(
            1
            for e in events
            if e["action"] in ("block", "escalate") and e["enforced"] and e["layer"] != Layer.POST_RESPONSE.value
        )
        verdicts: list[Verdict] = []
        # A request blocked before layer 5 still counts towards probing (blocks are what probing looks like).
        verdicts += await self._probing(exchange, guard_hits)
        violation = self.triggers.violation
        if blocks and violation.enabled and violation.blocks:
            first = blocks[0]
            reason = f"blocked by {first['guard']} ({first['layer']}/{first['trigger']})"
            verdicts.append(self.fire(exchange, "violation", violation, reason, blocked=[b["guard"] for b in blocks]))
        for verdict in verdicts:
            if self.enforcing and verdict.apply is not None:
                # The answer is out: nothing left to change, but the review written below must include these.
                verdict.apply()
                verdict.apply = None
        review_id = None
        if service is not None and not await service.wait_ready(self.timeout / 2):
            raise StoreError(f"the review store is not available: {service.not_ready_reason}")
        if service is not None and self.enforcing and notes.fired:
            review_id = await self._queue(exchange, service, notes, bool(blocks))
            verdicts.append(Verdict("review_queued", Action.LOG, details={"review_id": review_id}, record=True))
        if service is not None:
            service.record_decision(decision_values(exchange, notes, events, bool(blocks), review_id))
        return verdicts

    async def _queue(
        self, exchange: Exchange, service: EscalationService, notes: RequestEscalation, blocked: bool
    ) -> str:
        review = review_values(exchange, notes, blocked)
        review_id = await service.store.add_review(review)
        names = list(dict.fromkeys(name for f in notes.fired for name in f.notify))
        if names:
            message = notification(exchange, review_id, review, service.settings.review_public_url)
            service.notifiers.notify(names, self.policy.post_response.notifiers, message)
        return review_id
