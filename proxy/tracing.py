"""OpenTelemetry tracing (the optional `railguard[otel]` extra).

A span per request (joining the caller's trace when it sends `traceparent`), with child spans per guard layer and
per guard (its detector runs inside it), and a client span for the upstream call, whose context goes upstream in
`traceparent` so an instrumented upstream continues the same trace. Guard decisions are span events on the layer
span. The trace id also goes into every event and log line of the request (`proxy/request_context.py`).

Configuration is OpenTelemetry's own: `--tracing otlp` exports with OTLP over HTTP and reads the standard
`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME` (default "railguard"), `OTEL_RESOURCE_ATTRIBUTES` and
`OTEL_TRACES_SAMPLER*` variables; `--tracing console` prints spans to stdout (for a quick look).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from proxy import __version__
from proxy.events import GuardrailEvent

if TYPE_CHECKING:
    from proxy.exchange import Exchange
    from proxy.pipeline import Guard, Layer


def provider_for(exporter_name: str) -> TracerProvider:
    """A tracer provider that batches spans to the named exporter ("otlp" or "console")."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "railguard"}))
    provider = TracerProvider(resource=resource)
    exporter: SpanExporter
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class RequestSpan:
    """The server span of one request, current while the request runs."""

    def __init__(self, span: Span, token: object, method: str) -> None:
        self.span = span
        self._token = token
        self._method = method

    @property
    def trace_id(self) -> str | None:
        context = self.span.get_span_context()
        return format(context.trace_id, "032x") if context.is_valid else None

    def finish(self, route: str, status: int, blocked: str | None) -> None:
        span = self.span
        span.update_name(f"{self._method} {route}")  # OpenTelemetry's convention for HTTP server spans
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if blocked:
            span.set_attribute("railguard.blocked", blocked)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        otel_context.detach(self._token)  # type: ignore[arg-type]


class Tracing:
    def __init__(self, provider: TracerProvider, owned: bool = False) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("railguard", __version__)
        self._owned = owned  # a provider we built is shut down (its spans flushed) with the app

    @classmethod
    def from_setting(cls, exporter_name: str) -> Tracing:
        return cls(provider_for(exporter_name), owned=True)

    def shutdown(self) -> None:
        if self._owned:
            self.provider.shutdown()

    # -- the request ------------------------------------------------------------------------------------------------

    def start_request(self, method: str, path: str, request_id: str, headers: dict[str, str]) -> RequestSpan:
        parent = propagate.extract(headers)
        span = self.tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "railguard.request_id": request_id},
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return RequestSpan(span, token, method)

    # -- the pipeline (PipelineObserver) ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def layer(self, exchange: Exchange, layer: Layer) -> Iterator[Span]:
        with self.tracer.start_as_current_span(
            f"railguard.layer {layer.value}",
            attributes={"railguard.layer": layer.value, "railguard.policy": exchange.active.resolved.name},
            record_exception=False,
            set_status_on_exception=False,  # a block is a decision, not an error
        ) as span:
            yield span

    @contextlib.contextmanager
    def guard(self, exchange: Exchange, guard: Guard) -> Iterator[Span]:
        with self.tracer.start_as_current_span(
            f"railguard.guard {guard.name}",
            attributes={
                "railguard.layer": guard.layer.value,
                "railguard.guard": guard.name,
                "railguard.mode": guard.mode.value,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    # -- the upstream -----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def upstream(self, method: str, url: str, headers: MutableMapping[str, str]) -> Iterator[Span]:
        """A client span around the upstream call; its context is injected into ``headers`` (`traceparent`)."""
        with self.tracer.start_as_current_span(
            f"upstream {method}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "url.full": url},
        ) as span:
            propagate.inject(headers)
            yield span

    @staticmethod
    def upstream_answered(span: Span, status: int) -> None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))

    # -- events -----------------------------------------------------------------------------------------------------

    def on_event(self, event: GuardrailEvent) -> None:
        """Each guard decision becomes an event on the span that is current when it is made (the layer's)."""
        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            "railguard.layer": event.layer,
            "railguard.trigger": event.trigger,
            "railguard.action": event.action,
            "railguard.guard": event.guard,
            "railguard.enforced": event.enforced,
        }
        if event.detector is not None:
            attributes["railguard.detector"] = event.detector
        if event.confidence is not None:
            attributes["railguard.confidence"] = event.confidence
        span.add_event("railguard.decision", attributes)
