"""Where the app reports what it does: Prometheus metrics, OpenTelemetry spans (optional), request and trace ids in
logs and events, and the count of requests in flight that graceful shutdown waits on.

Three places report here: the outermost middleware (`ObservedRequests`: one per request), the pipeline (this object
is its `PipelineObserver`: one context per layer and per guard) and the upstream client (`ObservedUpstream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx2
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.events import EventBus
from proxy.exchange import Exchange
from proxy.metrics import Metrics
from proxy.pipeline import Guard, Layer
from proxy.request_context import request_id_var, trace_id_from_traceparent, trace_id_var
from proxy.settings import Settings
from proxy.upstream import UpstreamClient

if TYPE_CHECKING:
    from proxy.tracing import Tracing

access_log = logging.getLogger("railguard.access")

REQUEST_ID_HEADER = b"x-railguard-request-id"
BLOCKED_HEADER = b"x-railguard-blocked"
# Probes and scrapes would drown the access log.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UPSTREAM_ENDPOINTS = frozenset({"/chat/completions", "/completions", "/responses", "/embeddings", "/models"})


def new_request_id() -> str:
    return f"rg-{uuid.uuid4().hex}"


class Observability:
    def __init__(self, settings: Settings, tracing: Tracing | None = None) -> None:
        self.metrics = Metrics() if settings.metrics else None
        self.tracing = tracing
        self.access_log = settings.access_log
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def watch(self, events: EventBus) -> None:
        """Count and trace what the EventBus carries."""
        if self.tracing is not None:
            events.subscribe(self.tracing.on_event)
        if self.metrics is not None:
            events.subscribe(self.metrics.on_event)
            events.drop_listeners.append(self.metrics.on_dropped)
            events.sink_error_listeners.append(self.metrics.on_sink_error)

    def shutdown(self) -> None:
        if self.tracing is not None:
            self.tracing.shutdown()  # flushes the spans still batched

    # -- requests in flight -----------------------------------------------------------------------------------------

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()
        if self.metrics is not None:
            self.metrics.in_flight.inc()

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()
        if self.metrics is not None:
            self.metrics.in_flight.dec()
            self.metrics.requests_by(route, method, str(status)).inc()
            self.metrics.request_seconds_by(route).observe(seconds)

    async def drained(self, within: float) -> bool:
        """Wait until no request is in flight (True), or ``within`` seconds pass (False)."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    # -- the pipeline (PipelineObserver) ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def layer(self, exchange: Exchange, layer: Layer) -> Iterator[None]:
        started = time.perf_counter()
        span = self.tracing.layer(exchange, layer) if self.tracing is not None else contextlib.nullcontext()
        try:
            with span:
                yield
        finally:
            if self.metrics is not None:
                self.metrics.layer_seconds_by(layer.value).observe(time.perf_counter() - started)

    @contextlib.contextmanager
    def guard(self, exchange: Exchange, guard: Guard) -> Iterator[None]:
        span = self.tracing.guard(exchange, guard) if self.tracing is not None else contextlib.nullcontext()
        try:
            with span:
                yield
        finally:
            # The pipeline measures each guard's run itself (`guard_ms`); report that figure, not a second clock.
            milliseconds = exchange.state.get("guard_ms", {}).get(guard.name)
            if self.metrics is not None and milliseconds is not None:
                self.metrics.guard_seconds_by(guard.layer.value, guard.name).observe(milliseconds / 1000.0)


class ObservedRequests:
    """The outermost middleware: gives each request its id (`x-railguard-request-id` on every answer), makes the
    request and trace ids current for logs and events, opens the request span, counts the request in flight and,
    when it is done, records its metrics and its access-log line."""

    def __init__(self, app: ASGIApp, observability: Observability, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.observability = observability
        # Route templates by endpoint: the router leaves the matched endpoint in the scope, and a template (not the
        # raw path) keeps the metric labels bounded.
        self.templates: dict[Any, str] = {route.endpoint: route.path for route in routes if isinstance(route, Route)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observability = self.observability
        method: str = scope["method"]
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        request_token = request_id_var.set(request_id)
        span = None
        if observability.tracing is not None:
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
            span = observability.tracing.start_request(method, scope["path"], request_id, headers)
            trace_id = span.trace_id
        else:
            trace_id = trace_id_from_traceparent(_header(scope, b"traceparent"))
        trace_token = trace_id_var.set(trace_id)
        status = 500  # what the client gets if the app fails before answering
        blocked: str | None = None

        async def send_observed(message: Message) -> None:
            nonlocal status, blocked
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name == REQUEST_ID_HEADER for name, _ in headers):
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                blocked = next((v.decode("latin-1") for n, v in headers if n == BLOCKED_HEADER), None)
                message["headers"] = headers
            await send(message)

        started = time.perf_counter()
        observability.request_started()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            route = self.templates.get(scope.get("endpoint"), "unmatched")
            observability.request_finished(method, route, status, seconds)
            if observability.access_log and route not in QUIET_ROUTES:
                access_log.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000.0, 3),
                        "blocked": blocked,
                    },
                )
            if span is not None:
                span.finish(route, status, blocked)
            trace_id_var.reset(trace_token)
            request_id_var.reset(request_token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ObservedUpstream(UpstreamClient):
    """The upstream client, with its latency measured and its calls traced (the trace context goes upstream)."""

    def __init__(
        self, settings: Settings, observability: Observability, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport)
        self.observability = observability

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        content: bytes | AsyncIterator[bytes] | None = None,
        params: Any = None,
        stream: bool = False,
    ) -> httpx2.Response:
        tracing, metrics = self.observability.tracing, self.observability.metrics
        outcome = "cancelled"
        started = time.perf_counter()
        forwarded = dict(headers)
        span = tracing.upstream(method, self.url(path), forwarded) if tracing is not None else None
        try:
            with span if span is not None else contextlib.nullcontext() as current:
                try:
                    response = await super().send(
                        method, path, headers=forwarded, content=content, params=params, stream=stream
                    )
                except Exception as exc:
                    outcome = getattr(exc, "code", None) or type(exc).__name__
                    raise
                outcome = str(response.status_code)
                if tracing is not None and current is not None:
                    tracing.upstream_answered(current, response.status_code)
                return response
        finally:
            if metrics is not None:
                endpoint = path if path in UPSTREAM_ENDPOINTS else "other"
                metrics.upstream_seconds_by(endpoint, outcome).observe(time.perf_counter() - started)
