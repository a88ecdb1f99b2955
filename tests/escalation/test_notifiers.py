"""Notifiers against local receivers that fail twice: the third attempt gets through, every outcome is an event, and a
notifier that never gets through gives up without raising."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from escalation.notifiers import Notification, NotifierHub
from policies.schema import EmailNotifier, Notifier, SlackNotifier, WebhookNotifier
from proxy.events import EventBus, GuardrailEvent
from proxy.servers import free_port
from tests.escalation.receivers import SmtpReceiver, WebhookReceiver

NOTIFICATION = Notification(
    review_id="rev-1",
    request_id="rg-1",
    tenant="acme",
    policy="support",
    policy_version="abc",
    priority="high",
    triggers=["violation"],
    reasons=[{"trigger": "violation", "reason": "blocked by input.terms"}],
    excerpt="tell me the forbidden thing",
    link="https://railguard.example/admin/ui/reviews/rev-1",
)


def deliver(name: str, settings: Notifier) -> list[GuardrailEvent]:
    async def main() -> list[GuardrailEvent]:
        seen: list[GuardrailEvent] = []
        bus = EventBus([])
        bus.subscribe(seen.append)
        hub = NotifierHub(bus, backoff=0.01)
        hub.notify([name], {name: settings}, NOTIFICATION)
        await hub.drain(30)
        await hub.close()
        return seen

    return asyncio.run(main())


def only(events: list[GuardrailEvent]) -> GuardrailEvent:
    assert len(events) == 1, events
    return events[0]


def test_the_webhook_is_retried_until_it_accepts_and_is_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_HOOK_SECRET", "topsecret")
    with WebhookReceiver(fail_first=2) as receiver:
        settings = WebhookNotifier(type="webhook", url=receiver.url, secret_env="RG_HOOK_SECRET")
        event = only(deliver("ops", settings))
    assert (event.trigger, event.guard, event.details["attempts"]) == ("notification_sent", "notifier:ops", 3)
    assert len(receiver.attempts) == 3 and len(receiver.accepted) == 1
    delivered = receiver.accepted[0]
    assert delivered["json"]["review_id"] == "rev-1" and delivered["json"]["type"] == "railguard.escalation"
    assert receiver.verify(delivered, "topsecret")
    assert not receiver.verify(delivered, "another secret")


def test_a_signed_webhook_without_its_secret_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RG_MISSING_SECRET", raising=False)
    with WebhookReceiver() as receiver:
        settings = WebhookNotifier(type="webhook", url=receiver.url, secret_env="RG_MISSING_SECRET", attempts=2)
        event = only(deliver("ops", settings))
    assert event.trigger == "notification_failed" and "RG_MISSING_SECRET" in event.details["error"]
    assert receiver.attempts == []


def test_slack_gets_a_message_after_two_failures() -> None:
    with WebhookReceiver(fail_first=2) as receiver:
        event = only(deliver("chat", SlackNotifier(type="slack", url=receiver.url)))
    assert event.trigger == "notification_sent" and event.details["attempts"] == 3
    message: dict[str, Any] = receiver.accepted[0]["json"]
    assert message["text"] == "[high] escalation in policy support: violation"
    assert "blocked by input.terms" in message["blocks"][1]["text"]["text"]


def test_email_is_retried_until_the_smtp_server_accepts() -> None:
    with SmtpReceiver(fail_first=2) as smtp:
        settings = EmailNotifier(
            type="email",
            host="127.0.0.1",
            port=smtp.port,
            sender="railguard@example.com",
            to=["safety@example.com"],
            starttls=False,
        )
        event = only(deliver("mail", settings))
    assert event.trigger == "notification_sent" and event.details["attempts"] == 3
    assert smtp.attempts == 3 and len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["to"] == ["safety@example.com"]
    assert "Subject: [railguard] [high] escalation in policy support: violation" in message["data"]
    assert "https://railguard.example/admin/ui/reviews/rev-1" in message["data"]


def test_a_notifier_that_never_gets_through_gives_up_with_an_event() -> None:
    settings = WebhookNotifier(type="webhook", url=f"http://127.0.0.1:{free_port()}/gone", attempts=3)
    event = only(deliver("ops", settings))
    assert event.trigger == "notification_failed" and event.details["attempts"] == 3
    assert event.request_id == "rg-1" and event.details["review_id"] == "rev-1"


def test_an_smtp_server_that_keeps_refusing_gives_up_with_an_event() -> None:
    with SmtpReceiver(fail_first=100) as smtp:
        settings = EmailNotifier(
            type="email",
            host="127.0.0.1",
            port=smtp.port,
            sender="a@example.com",
            to=["b@example.com"],
            starttls=False,
            attempts=2,
        )
        event = only(deliver("mail", settings))
    assert event.trigger == "notification_failed" and "451" in event.details["error"] and smtp.attempts == 2
