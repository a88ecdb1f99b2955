"""GuardrailEvent — the record of every guard decision — and the bus that carries events to sinks.

Writing events never blocks or fails the request path: `emit` puts the event on a bounded queue and returns;
a background task writes batches to the sinks. A full queue is counted (`dropped`) and logged, never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from proxy.request_context import current_trace_id

log = logging.getLogger("railguard.events")

SAMPLE_CHARS = 160

# Cheap masks for event samples. The PII guard masks properly when it runs; these make sure that even a sample taken
# before or without it carries no e-mail address, card or phone number.
_SAMPLE_MASKS = [
    # Bounded like real addresses (64-character local part, 63-character labels): an unbounded `[\w.+-]+@` is
    # quadratic on a long run of word characters without an `@` (seconds of a blocked event loop at 20k characters).
    (re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+"), "<EMAIL>"),
    (re.compile(r"\b(?:\d[ -]?){12,19}\b"), "<NUMBER>"),
    (re.compile(r"\+?\(?\d{1,4}\)?[ .-]?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4}\b"), "<PHONE>"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "<SSN>"),
]


def masked(text: str) -> str:
    """``text`` with e-mail addresses, card, phone and social-security numbers replaced by placeholders."""
    for pattern, replacement in _SAMPLE_MASKS:
        text = pattern.sub(replacement, text)
    return text


def sample_of(text: str, limit: int = SAMPLE_CHARS) -> str:
    """A truncated, masked excerpt of ``text`` that is safe to store in an event."""
    text = " ".join(masked(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(slots=True)
class GuardrailEvent:
    """One guard decision. ``action`` is what the policy decided; ``enforced`` is False in monitor mode
    (the event then records what the guard *would* have done)."""

    layer: str
    trigger: str
    action: str
    guard: str
    request_id: str
    tenant: str
    policy: str
    policy_version: str
    user: str | None = None
    session: str | None = None
    detector: str | None = None
    confidence: float | None = None
    sample: str = ""
    enforced: bool = True
    latency_ms: float | None = None
    route: str | None = None
    model: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = field(default_factory=current_trace_id)  # the request's trace, when there is one
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sink(Protocol):
    name: str

    async def write(self, events: list[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...


@dataclass
class BusStats:
    emitted: int = 0
    written: int = 0
    dropped: int = 0
    sink_errors: dict[str, int] = field(default_factory=dict)


class EventBus:
    """Bounded queue + one writer task. Listeners (metrics, escalation) are called synchronously on emit."""

    def __init__(self, sinks: list[Sink], queue_size: int = 10_000, batch_size: int = 256) -> None:
        self.sinks = sinks
        self.stats = BusStats()
        self._queue: asyncio.Queue[GuardrailEvent] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[GuardrailEvent], None]] = []
        # Told of each dropped event and each failed sink write (metrics count them across workers).
        self.drop_listeners: list[Callable[[], None]] = []
        self.sink_error_listeners: list[Callable[[str], None]] = []
        self._last_drop_log = 0.0

    def subscribe(self, listener: Callable[[GuardrailEvent], None]) -> None:
        self._listeners.append(listener)

    def emit(self, event: GuardrailEvent) -> None:
        self.stats.emitted += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            for on_drop in self.drop_listeners:
                on_drop()
            now = time.monotonic()
            if now - self._last_drop_log > 5:
                self._last_drop_log = now
                log.warning("event queue full: %d events dropped so far", self.stats.dropped)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="railguard-events")

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)
            for _ in batch:
                self._queue.task_done()

    async def _write(self, batch: list[GuardrailEvent]) -> None:
        records = [event.to_dict() for event in batch]
        for sink in self.sinks:
            try:
                await sink.write(records)
            except Exception:
                self.stats.sink_errors[sink.name] = self.stats.sink_errors.get(sink.name, 0) + 1
                for on_error in self.sink_error_listeners:
                    on_error(sink.name)
                log.exception("event sink %s failed", sink.name)
        self.stats.written += len(batch)

    async def flush(self, within: float = 10.0) -> None:
        """Wait until every queued event has been written (graceful shutdown, tests)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), within)

    async def stop(self, within: float = 10.0) -> None:
        if self._task is not None:
            await self.flush(within)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception:
                log.exception("closing event sink %s failed", sink.name)
