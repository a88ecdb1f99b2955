"""Tell people about escalations: a signed JSON webhook, a Slack-compatible incoming webhook, or e-mail over SMTP.

Notifiers are named in the policy (`post_response.notifiers`) and triggers refer to them by name. Delivery runs in
the background with retries (exponential backoff with jitter); a notifier that still fails never fails the request,
and every outcome is an event (`notification_sent` / `notification_failed`).

Webhook signature: ``x-railguard-signature: sha256=<hex>`` is HMAC-SHA256, keyed with the secret from the
environment variable named by `secret_env`, over ``<x-railguard-timestamp>.<raw body>``. Receivers recompute it,
compare in constant time, and reject timestamps more than a few minutes old (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import httpx2
import orjson
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential_jitter

from policies.schema import EmailNotifier as EmailSettings
from policies.schema import Notifier as NotifierSettings
from policies.schema import SlackNotifier as SlackSettings
from policies.schema import WebhookNotifier as WebhookSettings
from proxy.events import EventBus, GuardrailEvent

log = logging.getLogger("railguard.escalation")

SIGNATURE_HEADER = "x-railguard-signature"
TIMESTAMP_HEADER = "x-railguard-timestamp"


class DeliveryError(Exception):
    pass


@dataclass(frozen=True)
class Notification:
    """What a notifier says about one escalation. Every text in it is already masked."""

    review_id: str
    request_id: str
    tenant: str
    policy: str
    policy_version: str
    priority: str
    triggers: list[str]
    reasons: list[dict[str, Any]]
    excerpt: str  # masked, short: the user's last message
    created_at: float = field(default_factory=time.time)
    link: str | None = None  # the review on the reviewer page, when `review_public_url` is set

    def payload(self) -> dict[str, Any]:
        return {"type": "railguard.escalation", **asdict(self)}

    def headline(self) -> str:
        return f"[{self.priority}] escalation in policy {self.policy}: {', '.join(self.triggers)}"

    def lines(self) -> list[str]:
        lines = [self.headline(), f"review {self.review_id} (request {self.request_id}, tenant {self.tenant})"]
        lines += [f"- {r.get('trigger')}: {r.get('reason')}" for r in self.reasons]
        if self.excerpt:
            lines.append(f"user: {self.excerpt}")
        if self.link:
            lines.append(self.link)
        return lines


class Notifier(Protocol):
    async def send(self, notification: Notification) -> None: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    def __init__(self, settings: WebhookSettings, client: httpx2.AsyncClient) -> None:
        self.settings = settings
        self.client = client

    async def send(self, notification: Notification) -> None:
        body = orjson.dumps(notification.payload())
        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json", TIMESTAMP_HEADER: timestamp}
        if self.settings.secret_env:
            secret = os.environ.get(self.settings.secret_env)
            if not secret:
                # Never send unsigned what the policy says must be signed.
                raise DeliveryError(f"environment variable {self.settings.secret_env} (the signing secret) is not set")
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        await _post(self.client, self.settings.url, body, headers, self.settings.timeout_ms)


class SlackNotifier:
    def __init__(self, settings: SlackSettings, client: httpx2.AsyncClient) -> None:
        self.settings = settings
        self.client = client

    async def send(self, notification: Notification) -> None:
        lines = notification.lines()
        message = {
            "text": lines[0],
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": lines[0][:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines[1:])[:2900]}},
            ],
        }
        await _post(
            self.client,
            self.settings.url,
            orjson.dumps(message),
            {"content-type": "application/json"},
            self.settings.timeout_ms,
        )


class EmailNotifier:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def send(self, notification: Notification) -> None:
        settings = self.settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = ", ".join(settings.to)
        message["Subject"] = f"{settings.subject_prefix} {notification.headline()}"
        message.set_content("\n".join(notification.lines()) + "\n")
        password = os.environ.get(settings.password_env) if settings.password_env else None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                start_tls=settings.starttls,
                username=settings.username,
                password=password,
                timeout=settings.timeout_ms / 1000.0,
            )
        except aiosmtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP: {exc}") from exc


async def _post(client: httpx2.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout_ms: int) -> None:
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_ms / 1000.0)
    except httpx2.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise DeliveryError(f"answered {response.status_code}")


class NotifierHub:
    """Builds notifiers from policy settings and delivers in the background, recording every outcome."""

    def __init__(self, events: EventBus, backoff: float = 0.5) -> None:
        self.events = events
        self.backoff = backoff
        self._client: httpx2.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(follow_redirects=False)
        return self._client

    def build(self, settings: NotifierSettings) -> Notifier:
        if isinstance(settings, WebhookSettings):
            return WebhookNotifier(settings, self.client)
        if isinstance(settings, SlackSettings):
            return SlackNotifier(settings, self.client)
        return EmailNotifier(settings)

    def notify(self, names: list[str], configured: Mapping[str, NotifierSettings], notification: Notification) -> None:
        """Start delivering to each named notifier; returns at once."""
        for name in names:
            settings = configured.get(name)
            if settings is None:  # the loader rejects unknown names; a policy reload may still race a request
                self._record(name, notification, "notification_failed", {"error": "no such notifier", "attempts": 0})
                continue
            task = asyncio.create_task(self._deliver(name, settings, notification), name=f"railguard-notify-{name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, name: str, settings: NotifierSettings, notification: Notification) -> None:
        notifier = self.build(settings)
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(settings.attempts),
                wait=wait_exponential_jitter(multiplier=self.backoff, max=self.backoff * 32, jitter=self.backoff),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    await notifier.send(notification)
        except Exception as exc:  # a notifier must never take anything else down
            log.warning("notifier %s failed after %d attempts: %s", name, attempts, exc)
            self._record(name, notification, "notification_failed", {"error": str(exc)[:300], "attempts": attempts})
            return
        self._record(name, notification, "notification_sent", {"attempts": attempts})

    def _record(self, name: str, notification: Notification, trigger: str, details: dict[str, Any]) -> None:
        self.events.emit(
            GuardrailEvent(
                layer="post_response",
                trigger=trigger,
                action="log",
                guard=f"notifier:{name}",
                request_id=notification.request_id,
                tenant=notification.tenant,
                policy=notification.policy,
                policy_version=notification.policy_version,
                details={"review_id": notification.review_id, "notifier": name, **details},
            )
        )

    async def drain(self, within: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)

    async def close(self) -> None:
        await self.drain(5.0)
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
