"""Layer 5's process-wide half: the review store, notifiers, the per-request decision log and the verdict memory.

One `EscalationService` per proxy (in `Services`); the app attaches it to each exchange so the layer-5 guards can
reach it (`service_of`). The store starts in the background and retries until the database answers: layer 5 never
blocks traffic, and a guard that cannot reach the store records a guard error instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from detectors.memory import ExampleMemory
from detectors.models import runtime, shared_encoder
from escalation.masking import Masker
from escalation.notifiers import NotifierHub
from escalation.store import ReviewStore
from policies.schema import Learning
from proxy.events import EventBus, GuardrailEvent
from proxy.exchange import Exchange
from proxy.settings import Settings

log = logging.getLogger("railguard.escalation")

SERVICE_KEY = "railguard.escalation.service"
_EVENT_FIELDS = ("timestamp", "layer", "trigger", "action", "guard", "detector", "confidence", "enforced", "sample")


class DecisionLog:
    """The events of requests still in flight, kept (bounded) until their decision record is written."""

    def __init__(self, max_requests: int = 10_000, max_events: int = 100) -> None:
        self.max_requests = max_requests
        self.max_events = max_events
        self._pending: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._masker = Masker()

    def observe(self, event: GuardrailEvent) -> None:
        if not event.request_id or event.request_id == "-":
            return
        events = self._pending.setdefault(event.request_id, [])
        if len(events) < self.max_events:
            compact = {name: getattr(event, name) for name in _EVENT_FIELDS}
            compact["details"] = self._masker.value(event.details)
            events.append(compact)
        self._pending.move_to_end(event.request_id)
        while len(self._pending) > self.max_requests:
            self._pending.popitem(last=False)

    def take(self, request_id: str) -> list[dict[str, Any]]:
        return self._pending.pop(request_id, [])


class EscalationService:
    def __init__(self, settings: Settings, events: EventBus) -> None:
        self.settings = settings
        self.events = events
        self.store = ReviewStore(settings.review_db, settings.review_db_schema)
        self.notifiers = NotifierHub(events, settings.review_notify_backoff)
        self.decisions = DecisionLog()
        events.subscribe(self.decisions.observe)
        self.attacks = ExampleMemory()
        self.allowed = ExampleMemory()
        self.ready = asyncio.Event()
        self.not_ready_reason = "starting"
        self._memory_revision = -1
        self._writes: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped_decisions = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="railguard-escalation"))

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.store.start()
                break
            except Exception as exc:  # a database that is down must not keep the proxy from serving
                self.not_ready_reason = f"review store unavailable: {type(exc).__name__}: {exc}"[:300]
                log.error("%s; retrying in %.1fs", self.not_ready_reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.not_ready_reason = ""
        await self.refresh_memory()
        self.ready.set()
        await asyncio.gather(self._write_decisions(), self._refresh_loop(), self._prune_loop())

    async def wait_ready(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), within)
        return self.ready.is_set()

    async def stop(self) -> None:
        await self.flush()
        await self.notifiers.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.store.close()

    def attach(self, exchange: Exchange) -> None:
        exchange.state[SERVICE_KEY] = self

    # -- decisions ------------------------------------------------------------------------------------------------

    def record_decision(self, row: dict[str, Any]) -> None:
        try:
            self._writes.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped_decisions += 1

    async def _write_decisions(self) -> None:
        while True:
            batch = [await self._writes.get()]
            while len(batch) < 500 and not self._writes.empty():
                batch.append(self._writes.get_nowait())
            try:
                await self.store.record_decisions(batch)
            except Exception:
                log.exception("writing %d decision records failed", len(batch))
            finally:
                for _ in batch:
                    self._writes.task_done()

    async def flush(self, within: float = 10.0) -> None:
        """Wait until queued decision records are written (shutdown, tests)."""
        if self.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._writes.join(), within)

    async def _prune_loop(self) -> None:
        while True:
            try:
                await self.store.prune_decisions(
                    self.settings.review_decisions_max, self.settings.review_decisions_days * 86_400
                )
            except Exception:
                log.exception("pruning decision records failed")
            await asyncio.sleep(60.0)

    # -- verdict memory -------------------------------------------------------------------------------------------

    async def refresh_memory(self) -> bool:
        """Reload the memory when any replica changed it (one cheap counter read otherwise)."""
        revision = await self.store.revision("memory")
        if revision == self._memory_revision:
            return False
        entries = await self.store.active_memory()
        self.attacks.replace([(e.id, e.embedding) for e in entries if e.kind == "attack"])
        self.allowed.replace([(e.id, e.embedding) for e in entries if e.kind == "allow"])
        self._memory_revision = revision
        log.info(
            "verdict memory at revision %d: %d attacks, %d allowed", revision, len(self.attacks), len(self.allowed)
        )
        return True

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.review_memory_refresh)
            try:
                await self.refresh_memory()
            except Exception:
                log.exception("refreshing the verdict memory failed")

    async def learn(self, review: Mapping[str, Any], learning: Learning, actor: str) -> list[dict[str, Any]]:
        """Apply the policy's learning rules to a resolved review: maybe add its (masked) last user message to the
        attack or allow memory. Returns the entries added."""
        verdict = review.get("verdict")
        if not learning.enabled or verdict is None:
            return []
        kind = (
            "attack" if verdict in learning.attack_verdicts else "allow" if verdict in learning.allow_verdicts else ""
        )
        if not kind or (learning.only_injection and not about_injection(review)):
            return []
        text = next((t["text"] for t in reversed(review.get("conversation") or []) if t.get("role") == "user"), "")
        if not text.strip():
            return []
        vectors = await runtime.run(shared_encoder().encode, [text])
        entry_id = await self.store.add_memory(kind, text, vectors[0], actor, str(review["id"]))
        await self.store.record_learned(str(review["id"]), [entry_id])
        self.audit("memory_added", review, actor, entry_id=entry_id, kind=kind, verdict=verdict)
        await self.refresh_memory()
        return [{"id": entry_id, "kind": kind, "text": text}]

    async def forget(self, entry_id: str, actor: str) -> dict[str, Any]:
        entry = await self.store.remove_memory(entry_id, actor)
        self.audit("memory_removed", {"request_id": "-", "tenant": "-", "policy": "*"}, actor, entry_id=entry_id)
        await self.refresh_memory()
        return entry

    # -- audit ----------------------------------------------------------------------------------------------------

    def audit(self, trigger: str, review: Mapping[str, Any], actor: str, **details: Any) -> None:
        """Reviewers' actions are events like any guard decision."""
        self.events.emit(
            GuardrailEvent(
                layer="post_response",
                trigger=trigger,
                action="log",
                guard="reviewer",
                request_id=str(review.get("request_id", "-")),
                tenant=str(review.get("tenant", "-")),
                policy=str(review.get("policy", "*")),
                policy_version=str(review.get("policy_version", "-")),
                details={"actor": actor, "review_id": review.get("id"), **details, "at": time.time()},
            )
        )


def about_injection(review: Mapping[str, Any]) -> bool:
    """Whether a review concerns prompt injection: the reviewer says so, or an injection or attack-memory
    guard measured something."""
    if review.get("category") == "injection":
        return True
    names = [str(f.get("detector", "")) + " " + str(f.get("guard", "")) for f in review.get("findings") or []]
    names += [str(r.get("guard", "")) + " " + str(r.get("reason", "")) for r in review.get("reasons") or []]
    return any("injection" in name or "attack_memory" in name for name in names)


def service_of(exchange: Exchange) -> EscalationService | None:
    found = exchange.state.get(SERVICE_KEY)
    return found if isinstance(found, EscalationService) else None
