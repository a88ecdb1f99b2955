"""What layer 5 writes about a request: the review of an escalated one, the decision record of every one, and the
notification about a review — all masked (`escalation.masking`)."""

from __future__ import annotations

import time
from typing import Any

from escalation.masking import Masker
from escalation.notifiers import Notification
from escalation.triggers import PRIORITIES, RequestEscalation
from proxy.events import sample_of
from proxy.exchange import Exchange


def request_columns(exchange: Exchange, masker: Masker, notes: RequestEscalation) -> dict[str, Any]:
    """The columns reviews and decision records share."""
    identity = exchange.identity
    return {
        "request_id": exchange.request_id,
        "tenant": identity.tenant,
        "policy": exchange.active.resolved.name,
        "policy_version": exchange.active.resolved.version,
        "route": exchange.route,
        "model": exchange.model or None,
        "user_id": masker.text(identity.user, 200) if identity.user else None,
        "session_id": masker.text(identity.session, 200) if identity.session else None,
        "confidence": round(notes.confidence.score, 4) if notes.confidence is not None else None,
    }


def review_values(exchange: Exchange, notes: RequestEscalation, blocked: bool) -> dict[str, Any]:
    masker = Masker.of(exchange)
    fired = notes.fired
    answer = "" if blocked else notes.answer.text if notes.answer is not None else (notes.message or "")
    return {
        **request_columns(exchange, masker, notes),
        "priority": max(f.priority for f in fired),
        "triggers": list(dict.fromkeys(f.trigger for f in fired)),
        "reasons": [
            {
                "trigger": f.trigger,
                "reason": masker.text(f.reason, 500),
                "priority": f.priority,
                **masker.value(f.details),
            }
            for f in fired
        ],
        "shown": "blocked" if blocked else notes.shown.name.lower(),  # blocked: the user saw the refusal
        "blocked": blocked,
        "conversation": masker.conversation(exchange),
        "answer": masker.text(answer),
        "findings": [
            {
                "guard": f.guard,
                "layer": f.layer,
                "detector": f.detection.detector,
                "score": round(f.detection.score, 4),
                "action": str(f.action),
                "labels": {k: round(v, 4) for k, v in f.detection.labels.items()},
                "skipped": f.detection.skipped,
                "details": masker.value(f.detection.details),
            }
            for f in exchange.findings
        ],
    }


def decision_values(
    exchange: Exchange, notes: RequestEscalation, events: list[dict[str, Any]], blocked: bool, review_id: str | None
) -> dict[str, Any]:
    return {
        **request_columns(exchange, Masker.of(exchange), notes),
        "created_at": time.time(),
        "blocked": blocked,
        "escalated": review_id is not None,
        "review_id": review_id,
        "events": events,
    }


def notification(exchange: Exchange, review_id: str, review: dict[str, Any], public_url: str | None) -> Notification:
    return Notification(
        review_id=review_id,
        request_id=exchange.request_id,
        tenant=review["tenant"],
        policy=review["policy"],
        policy_version=review["policy_version"],
        priority=next(name for name, value in PRIORITIES.items() if value == review["priority"]),
        triggers=review["triggers"],
        reasons=[{"trigger": r["trigger"], "reason": r["reason"]} for r in review["reasons"]],
        excerpt=sample_of(Masker.of(exchange).last_user_text(exchange)),
        link=f"{public_url.rstrip('/')}/admin/ui/reviews/{review_id}" if public_url else None,
    )
