"""Event sinks: rotating JSON lines, structured stdout, a webhook with retries, and an in-memory ring."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import sys
from collections import deque
from pathlib import Path
from typing import Any

import httpx2
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger("railguard.events")


class JsonLinesSink:
    """JSON lines to a file, rotated by size (the standard library's rotating handler does the rotation)."""

    name = "jsonl"

    def __init__(self, path: Path, max_bytes: int = 50 * 1024 * 1024, backups: int = 5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def _write_sync(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            record = logging.LogRecord("railguard.events", logging.INFO, "", 0, "%s", None, None)
            record.msg = orjson.dumps(event).decode()
            self._handler.handle(record)
        self._handler.flush()

    async def write(self, events: list[dict[str, Any]]) -> None:
        await asyncio.to_thread(self._write_sync, events)

    async def close(self) -> None:
        self._handler.close()


class StdoutSink:
    """One JSON object per line on stdout, for log collectors."""

    name = "stdout"

    async def write(self, events: list[dict[str, Any]]) -> None:
        out = sys.stdout
        out.write("".join(orjson.dumps({"kind": "guardrail_event", **e}).decode() + "\n" for e in events))
        out.flush()

    async def close(self) -> None:
        return None


class WebhookDeliveryError(Exception):
    pass


class WebhookSink:
    """POST each batch as a JSON array; retried with exponential backoff and jitter."""

    name = "webhook"

    def __init__(self, url: str, attempts: int = 4, timeout: float = 5.0, backoff: float = 0.2) -> None:
        self.url = url
        self._attempts = attempts
        self._backoff = backoff
        self._client = httpx2.AsyncClient(timeout=timeout)

    async def _post(self, events: list[dict[str, Any]]) -> None:
        response = await self._client.post(
            self.url, content=orjson.dumps(events), headers={"content-type": "application/json"}
        )
        if response.status_code >= 300:
            raise WebhookDeliveryError(f"webhook answered {response.status_code}")

    async def write(self, events: list[dict[str, Any]]) -> None:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(multiplier=self._backoff, max=5.0, jitter=self._backoff),
            retry=retry_if_exception_type((WebhookDeliveryError, httpx2.TransportError)),
            reraise=True,
        ):
            with attempt:
                await self._post(events)

    async def close(self) -> None:
        await self._client.aclose()


class MemorySink:
    """The most recent events, for `/admin/events` and tests."""

    name = "memory"

    def __init__(self, size: int = 1000) -> None:
        self.events: deque[dict[str, Any]] = deque(maxlen=size)

    async def write(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)

    async def close(self) -> None:
        return None
