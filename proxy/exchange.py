"""One request and its answer as they travel through the pipeline."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detectors.base import Detection
from detectors.models.embeddings import EmbeddingCache
from proxy.identity import Identity
from proxy.state import MemoryStore, StateStore
from proxy.texts import RequestView, RouteKind

if TYPE_CHECKING:
    from proxy.pipeline import ActivePolicy

log = logging.getLogger("railguard.exchange")


@dataclass(slots=True)
class Finding:
    """A guard's measurement, kept for post-response scoring whatever the action was."""

    guard: str
    layer: str
    detection: Detection
    action: str


@dataclass(slots=True)
class Escalation:
    guard: str
    layer: str
    trigger: str
    reason: str
    score: float | None = None


@dataclass
class Exchange:
    request_id: str
    route: str
    kind: RouteKind
    identity: Identity
    active: ActivePolicy
    view: RequestView
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    findings: list[Finding] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    monitor_notes: list[str] = field(default_factory=list)  # "would_block:layer/trigger" for monitor-mode headers
    response_headers: dict[str, str] = field(default_factory=dict)
    # Per-request state guards share across hooks (e.g. the PII vault); never logged.
    state: dict[str, Any] = field(default_factory=dict)
    # The process's shared state across requests and replicas (set by the app; policy tests get a private one).
    store: StateStore = field(default_factory=MemoryStore)
    usage: dict[str, Any] | None = None  # the upstream's token usage, once the answer is complete
    needs_usage: bool = False  # a guard reconciles tokens: parse streams even when nothing else would
    answer_text: str = ""  # streamed answers: the text delivered, for counting when the upstream sent no usage
    _finishers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _embeddings: EmbeddingCache | None = None

    @property
    def body(self) -> dict[str, Any]:
        return self.view.body

    @property
    def model(self) -> str:
        return self.view.model

    @property
    def embeddings(self) -> EmbeddingCache:
        """One embedding per text per request, whichever guards ask."""
        if self._embeddings is None:
            self._embeddings = EmbeddingCache()
        return self._embeddings

    def on_finish(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once when the exchange is over, however it ended (answer, block, error, departed
        client): e.g. give back a concurrency slot, reconcile tokens with ``usage``."""
        self._finishers.append(callback)

    async def finish(self) -> None:
        """Called by the app when the response is complete. Callbacks run once each; their failures are logged."""
        callbacks, self._finishers = self._finishers, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                log.exception("finishing %s", self.request_id)

    def railguard_headers(self) -> dict[str, str]:
        headers = {
            "x-railguard-request-id": self.request_id,
            "x-railguard-policy": f"{self.active.resolved.name}@{self.active.resolved.version}",
            **self.response_headers,
        }
        if self.monitor_notes:
            headers["x-railguard-monitor"] = ", ".join(dict.fromkeys(self.monitor_notes))
        return headers
