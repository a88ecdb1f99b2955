"""Prometheus metrics (`GET /metrics`) with `prometheus-client`.

One `Metrics` object per app, each with its own registry (tests run several apps in one process). With several
worker processes, prometheus-client's multiprocess mode is used: `railguard serve --workers N` points
`PROMETHEUS_MULTIPROC_DIR` at a wiped directory before the workers start, every worker writes its samples there, and
whichever worker answers a scrape reports the sum over all of them.

What is counted where:
- requests, their duration and the requests in flight: the request middleware (`proxy/observability.py`);
- upstream latency: the upstream client (time to the upstream's status and headers, retries included);
- per-layer and per-guard latency: the pipeline's observer hooks (the guard time is the pipeline's own measure);
- blocks, escalations, rate-limit hits, policy reloads and failures: the events on the EventBus;
- events dropped and sink failures: the EventBus's failure listeners.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from proxy.events import GuardrailEvent

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds. Requests and upstream calls span milliseconds (a blocked prompt) to minutes (a long stream).
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Guards and layers: tens of microseconds (a term list) to about a second (a model on a busy CPU).
GUARD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

RATE_LIMIT_PREFIX = "rate_limit"  # events whose trigger starts with this count as rate-limit hits


M = TypeVar("M", Counter, Histogram)


def children(metric: M) -> Callable[..., M]:
    """``metric.labels`` with the labelled children remembered: finding a child takes a lock and validation each
    time, about twice the cost of counting. Label values are bounded (route templates, layers, guards, triggers)."""
    return functools.lru_cache(maxsize=10_000)(metric.labels)


def multiprocess_dir() -> Path | None:
    """The multiprocess directory in effect for this process (fixed when prometheus-client was imported)."""
    value = os.environ.get(MULTIPROCESS_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(directory: Path) -> None:
    """Empty (or create) the directory before the workers start: samples left by an earlier run would be added."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "railguard_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "railguard_request_duration_seconds",
            "Time from a request's arrival to the last byte of its answer (streams included).",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "railguard_requests_in_flight",
            "Requests being served now.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "railguard_upstream_duration_seconds",
            "Time until the upstream's status and headers arrived (retries included), by endpoint and outcome "
            "(the status code, or the error).",
            ["endpoint", "outcome"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.layer_seconds = Histogram(
            "railguard_layer_duration_seconds",
            "Time one guard layer took on one request (or one window of a streamed answer).",
            ["layer"],
            buckets=GUARD_BUCKETS,
            registry=registry,
        )
        self.guard_seconds = Histogram(
            "railguard_guard_duration_seconds",
            "Time one guard (its detector included) took on one request or stream window.",
            ["layer", "guard"],
            buckets=GUARD_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "railguard_events",
            "Guardrail events by layer, trigger, action and whether the action was enforced (false: monitor mode).",
            ["layer", "trigger", "action", "enforced"],
            registry=registry,
        )
        self.blocks = Counter(
            "railguard_blocks",
            "Requests or answers blocked (enforced), by layer and trigger.",
            ["layer", "trigger"],
            registry=registry,
        )
        self.escalations = Counter(
            "railguard_escalations",
            "Escalations for human review (enforced), by layer and trigger.",
            ["layer", "trigger"],
            registry=registry,
        )
        self.rate_limit_hits = Counter(
            "railguard_rate_limit_hits",
            "Rate-limit events (any action), by trigger.",
            ["trigger", "action"],
            registry=registry,
        )
        self.events_dropped = Counter(
            "railguard_events_dropped",
            "Events dropped because the event queue was full.",
            registry=registry,
        )
        self.sink_errors = Counter(
            "railguard_event_sink_errors",
            "Failed writes of a batch of events to a sink.",
            ["sink"],
            registry=registry,
        )
        self.policy_reloads = Counter(
            "railguard_policy_reloads",
            "Policy hot reloads, by outcome (ok: the new version serves; failed: rejected, the last good one serves).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self.policy_reloads.labels(outcome)  # present at 0, so alerts on increase() work from the start
        # The per-request paths use these.
        self.requests_by: Callable[..., Any] = children(self.requests)
        self.request_seconds_by: Callable[..., Any] = children(self.request_seconds)
        self.upstream_seconds_by: Callable[..., Any] = children(self.upstream_seconds)
        self.layer_seconds_by: Callable[..., Any] = children(self.layer_seconds)
        self.guard_seconds_by: Callable[..., Any] = children(self.guard_seconds)
        self.events_by: Callable[..., Any] = children(self.events)

    # -- EventBus listeners -----------------------------------------------------------------------------------------

    def on_event(self, event: GuardrailEvent) -> None:
        if event.layer == "policy":
            if event.trigger == "policy_reloaded":
                self.policy_reloads.labels("ok").inc()
            elif event.trigger == "policy_reload_failed":
                self.policy_reloads.labels("failed").inc()
            return
        self.events_by(event.layer, event.trigger, event.action, "true" if event.enforced else "false").inc()
        if event.trigger.startswith(RATE_LIMIT_PREFIX):
            self.rate_limit_hits.labels(event.trigger, event.action).inc()
        if not event.enforced:
            return
        if event.action == "block":
            self.blocks.labels(event.layer, event.trigger).inc()
        elif event.action == "escalate":
            self.escalations.labels(event.layer, event.trigger).inc()

    def on_dropped(self) -> None:
        self.events_dropped.inc()

    def on_sink_error(self, sink: str) -> None:
        self.sink_errors.labels(sink).inc()

    # -- exposition -------------------------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format. In multiprocess mode: the sum over every worker's samples."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        forget_dead_workers(directory)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=str(directory))  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges (requests in flight) of workers that are gone, so a crashed worker's count does not
    linger. Counters and histograms of dead workers stay: they are history, and Prometheus expects them monotonic."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
