"""Local receivers for notifier tests: an HTTP endpoint and an SMTP server, each refusing the first N deliveries."""

from __future__ import annotations

import hmac
from types import TracebackType
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from escalation.notifiers import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from proxy.servers import BackgroundServer, free_port


class WebhookReceiver:
    """Answers 503 to the first ``fail_first`` POSTs, then 200; keeps every attempt."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.server = BackgroundServer(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])]))

    @property
    def url(self) -> str:
        return self.server.url + "/hook"

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        record = {"headers": dict(request.headers), "body": body, "json": orjson.loads(body)}
        self.attempts.append(record)
        if len(self.attempts) <= self.fail_first:
            return JSONResponse({"error": "try later"}, status_code=503)
        self.accepted.append(record)
        return JSONResponse({"ok": True})

    @staticmethod
    def verify(record: dict[str, Any], secret: str) -> bool:
        headers = record["headers"]
        expected = sign(secret, headers[TIMESTAMP_HEADER], record["body"])
        return hmac.compare_digest(expected, headers[SIGNATURE_HEADER])

    def __enter__(self) -> WebhookReceiver:
        self.server.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.server.stop()


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.receiver.attempts += 1
        if self.receiver.attempts <= self.receiver.fail_first:
            return "451 4.3.0 try again later"
        content = envelope.content
        text = content.decode() if isinstance(content, bytes) else str(content)
        self.receiver.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": text})
        return "250 OK"


class SmtpReceiver:
    """A local SMTP server (aiosmtpd) that answers 451 to the first ``fail_first`` messages."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.messages: list[dict[str, Any]] = []
        self.port = free_port()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.controller.stop()
