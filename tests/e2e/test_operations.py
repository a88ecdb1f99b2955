"""Operations on a real proxy: readiness, Prometheus metrics, request and trace ids in logs and events, tracing."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from threadpoolctl import threadpool_info, threadpool_limits

from proxy.app import create_app
from proxy.guards.size import PromptSizeGuard
from proxy.logs import JsonFormatter
from proxy.servers import BackgroundServer
from proxy.settings import Settings
from tests.e2e.conftest import Proxy, Upstream

BLOCKING = """
name: default
input:
  terms: {enabled: true, terms: [forbidden]}
"""

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello there."}]}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def unstarted(upstream: Upstream) -> Iterator[Callable[..., BackgroundServer]]:
    """Start a proxy without waiting for it to be ready (make_proxy waits)."""
    servers: list[BackgroundServer] = []

    def start(**settings: object) -> BackgroundServer:
        server = BackgroundServer(create_app(Settings(upstream=upstream.url, **settings))).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# ---------------------------------------------------------------------------------------------- readiness


def test_not_ready_until_the_models_are_warm(unstarted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warm-up runs off the event loop after start-up: the process is alive (healthz) and serving, but not ready
    until every guard of every policy has warmed up."""
    release = threading.Event()
    warming = threading.Event()

    def slow_warm_up(guard: PromptSizeGuard) -> None:
        warming.set()
        assert release.wait(30)

    monkeypatch.setattr(PromptSizeGuard, "warm_up", slow_warm_up)
    server = unstarted()
    assert warming.wait(10)
    assert httpx2.get(server.url + "/healthz").status_code == 200
    not_ready = httpx2.get(server.url + "/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["reason"] == "warming up models"
    release.set()
    wait_for(lambda: httpx2.get(server.url + "/readyz").status_code == 200)
    assert httpx2.get(server.url + "/readyz").json()["status"] == "ready"


def test_the_service_keeps_numpy_blas_off_the_cores_torch_uses(make_proxy) -> None:
    """The heads' small numpy products must not wake OpenBLAS threads that then compete with the encoder's (an
    injection check of 1,000 characters took twice as long): start-up limits BLAS to the calling thread."""

    def blas_threads() -> set[int]:
        return {library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):  # this test process's own limits come back afterwards
        assert blas_threads() == {2}
        make_proxy()
        assert blas_threads() == {1}


def test_a_failed_warm_up_keeps_the_proxy_out_of_rotation_with_the_reason(
    unstarted, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_warm_up(guard: PromptSizeGuard) -> None:
        raise RuntimeError("weights missing")

    monkeypatch.setattr(PromptSizeGuard, "warm_up", broken_warm_up)
    server = unstarted()
    wait_for(lambda: "failed" in httpx2.get(server.url + "/readyz").text)
    answer = httpx2.get(server.url + "/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "model warm-up failed: RuntimeError: weights missing"
    assert httpx2.get(server.url + "/healthz").status_code == 200


def test_registered_readiness_checks_decide_with_their_reasons(proxy: Proxy) -> None:
    """Stores plug a check into `services.readiness`; a reason, an error or silence past the timeout is not ready."""
    store_down = {"value": True}

    async def redis_store() -> str | None:
        return "redis: connection refused" if store_down["value"] else None

    async def database() -> str | None:
        raise OSError("no route to host")

    async def stuck() -> str | None:
        await asyncio.sleep(60)
        return None

    checks = proxy.services.readiness
    checks.append(redis_store)
    answer = httpx2.get(proxy.url + "/readyz")
    assert answer.status_code == 503 and answer.json()["reason"] == "redis: connection refused"
    checks += [database, stuck]
    proxy.services.settings.readiness_timeout = 0.2
    reasons = httpx2.get(proxy.url + "/readyz").json()["reason"].split("; ")
    assert reasons[0] == "redis: connection refused"
    assert reasons[1].endswith("database: OSError: no route to host")
    assert reasons[2].endswith("stuck: no answer within 0.2s")
    store_down["value"] = False
    del checks[1:]
    assert httpx2.get(proxy.url + "/readyz").status_code == 200


# ---------------------------------------------------------------------------------------------- metrics


def scrape(proxy: Proxy) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx2.get(proxy.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_change_after_a_blocked_request(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BLOCKING))
    before = scrape(proxy)
    with pytest.raises(openai.BadRequestError):
        proxy.client().chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "a forbidden word"}]
        )
    proxy.events(lambda events: any(e["trigger"] == "denied_term" for e in events))
    # The request's own figures are recorded as its response completes, which can trail the client by a moment.
    deadline = time.monotonic() + 5
    after = scrape(proxy)
    while value(after, "railguard_requests_total", route="/v1/chat/completions", method="POST", status="400") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        after = scrape(proxy)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("railguard_blocks_total", layer="input", trigger="denied_term") == 1
    assert grew("railguard_events_total", layer="input", trigger="denied_term", action="block", enforced="true") == 1
    assert grew("railguard_requests_total", route="/v1/chat/completions", method="POST", status="400") == 1
    assert grew("railguard_guard_duration_seconds_count", layer="input", guard="input.terms") == 1
    assert grew("railguard_layer_duration_seconds_count", layer="input") == 1
    # Blocked before the upstream: no upstream call was measured.
    assert not any(name == "railguard_upstream_duration_seconds_count" and v for (name, _), v in after.items())


def test_metrics_measure_the_upstream_and_every_layer_of_an_allowed_request(proxy: Proxy) -> None:
    before = scrape(proxy)
    proxy.client().chat.completions.create(**CHAT)
    stream = proxy.client().chat.completions.create(**CHAT, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    after = scrape(proxy)
    upstream_calls = value(
        after, "railguard_upstream_duration_seconds_count", endpoint="/chat/completions", outcome="200"
    ) - value(before, "railguard_upstream_duration_seconds_count", endpoint="/chat/completions", outcome="200")
    assert upstream_calls == 2
    assert (
        value(after, "railguard_requests_total", route="/v1/chat/completions", method="POST", status="200")
        - value(before, "railguard_requests_total", route="/v1/chat/completions", method="POST", status="200")
        == 2
    )
    # The default policy's size guard ran on both.
    assert value(after, "railguard_guard_duration_seconds_count", layer="input", guard="input.max_prompt") >= 2
    assert value(after, "railguard_requests_in_flight") == 1  # the scrape itself
    assert value(after, "railguard_policy_reloads_total", outcome="failed") == 0


def test_metrics_count_policy_reloads_and_failures(make_proxy, policy_dir) -> None:
    directory = policy_dir(default="name: default\ninput: {max_prompt: {max_chars: 1000}}\n")
    proxy = make_proxy(policies=directory)
    (directory / "default.yaml").write_text("name: default\ninput: {max_prompt: {max_chars: 100}}\n")
    wait_for(lambda: proxy.services.policies.status.reloads >= 1)
    (directory / "default.yaml").write_text("name: default\ninput: {max_prompt: {max_chars: lots}}\n")
    wait_for(lambda: proxy.services.policies.status.failures >= 1)
    samples = scrape(proxy)
    assert value(samples, "railguard_policy_reloads_total", outcome="ok") == proxy.services.policies.status.reloads
    assert value(samples, "railguard_policy_reloads_total", outcome="failed") == 1
    ready = httpx2.get(proxy.url + "/readyz")
    assert ready.status_code == 200, "the last good version still serves"
    assert "default.yaml:2:" in ready.json()["policy_reload_error"][0]


def test_metrics_can_be_turned_off(make_proxy) -> None:
    proxy = make_proxy(metrics=False)
    assert httpx2.get(proxy.url + "/metrics").status_code == 404


# ---------------------------------------------------------------------------------------------- ids in logs and events


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The JSON log lines written while the test runs (formatted as they are written, in the request's context)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(previous)


def log_lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_access_log_and_events_carry_the_request_id_and_the_callers_trace_id(
    make_proxy, policy_dir, json_logs: io.StringIO
) -> None:
    """Without OpenTelemetry, the trace id a caller sends in `traceparent` still ties logs and events together."""
    proxy = make_proxy(policies=policy_dir(default=BLOCKING), access_log=True)
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.client(default_headers={"traceparent": TRACEPARENT}).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "a forbidden word"}]
        )
    request_id = raised.value.response.headers["x-railguard-request-id"]
    events = proxy.events(lambda es: any(e["request_id"] == request_id for e in es))
    assert {e["trace_id"] for e in events if e["request_id"] == request_id} == {TRACE_ID}
    wait_for(lambda: any(line.get("logger") == "railguard.access" for line in log_lines(json_logs)))
    access = [line for line in log_lines(json_logs) if line.get("logger") == "railguard.access"]
    assert access[-1]["request_id"] == request_id and access[-1]["trace_id"] == TRACE_ID
    assert access[-1]["status"] == 400 and access[-1]["route"] == "/v1/chat/completions"
    assert access[-1]["blocked"] == "input/denied_term"
    # A request without trace context gets none, rather than a neighbour's.
    proxy.client().chat.completions.create(**CHAT)
    wait_for(lambda: len([x for x in log_lines(json_logs) if x.get("logger") == "railguard.access"]) >= 2)
    last = [x for x in log_lines(json_logs) if x.get("logger") == "railguard.access"][-1]
    assert last["status"] == 200 and "trace_id" not in last and last["request_id"] != request_id


def test_logs_written_while_guarding_carry_the_request_id(make_proxy, policy_dir, json_logs: io.StringIO) -> None:
    """A log line written deep in the pipeline (a guard failing) names the request it belongs to."""
    proxy = make_proxy(policies=policy_dir(default=BLOCKING))

    def broken(*args: object) -> object:
        raise RuntimeError("detector crashed")

    for active in proxy.services.policies.snapshot.active.values():
        for guard in active.guards:
            if guard.name == "input.terms":
                guard.detector.detect = broken  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError) as raised:  # on_error: block
        proxy.client().chat.completions.create(**CHAT)
    request_id = raised.value.response.headers["x-railguard-request-id"]
    failures = [line for line in log_lines(json_logs) if "guard input.terms failed" in str(line.get("message"))]
    assert failures and failures[-1]["request_id"] == request_id


# ---------------------------------------------------------------------------------------------- tracing


def test_tracing_spans_a_request_its_layers_guards_and_upstream_call(upstream: Upstream, policy_dir) -> None:
    trace_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="tracing is the otel extra (in the dev extra)")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace_sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    policies = policy_dir(
        # Injection off: the injection head scores this odd, terse text 0.89 (a known false positive on short
        # fragments, see detectors/injection/README.md), and the test is about spans, not that guard.
        default="name: default\ninput:\n  terms: {enabled: true, terms: [forbidden], action: log}\n"
        "  injection: {enabled: false}\n"
        "output:\n  terms: {enabled: true, terms: [nothing-matches-this]}\n"
    )
    settings = Settings(upstream=upstream.url, policies=policies)
    with BackgroundServer(create_app(settings, tracer_provider=provider)) as server:
        proxy = Proxy(server, settings)
        proxy.wait_ready()
        answer = proxy.client(default_headers={"traceparent": TRACEPARENT}).chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "a forbidden word, logged only"}]
        )
        request_id = answer.headers["x-railguard-request-id"]
        events = proxy.events(lambda es: any(e["request_id"] == request_id for e in es))
    finished = exporter.get_finished_spans()
    # The request joins the caller's trace; the readiness polls before it are traces of their own.
    spans = {span.name: span for span in finished if format(span.context.trace_id, "032x") == TRACE_ID}
    assert {span.name for span in finished} - set(spans) == {"GET /readyz"}
    server_span = spans["POST /v1/chat/completions"]
    assert server_span.parent is not None and format(server_span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert server_span.attributes["railguard.request_id"] == request_id
    assert server_span.attributes["http.response.status_code"] == 200
    # Layers are children of the request, guards of their layer; the decision is an event on the layer span.
    input_layer, output_layer = spans["railguard.layer input"], spans["railguard.layer output"]
    assert input_layer.parent.span_id == server_span.context.span_id
    assert output_layer.parent.span_id == server_span.context.span_id
    assert spans["railguard.guard input.terms"].parent.span_id == input_layer.context.span_id
    assert spans["railguard.guard output.terms"].parent.span_id == output_layer.context.span_id
    decision = next(e for e in input_layer.events if e.name == "railguard.decision")
    assert decision.attributes["railguard.trigger"] == "denied_term"
    assert decision.attributes["railguard.action"] == "log"
    # The upstream call is a client span, and its context went upstream in traceparent.
    upstream_span = spans["upstream POST"]
    assert upstream_span.parent.span_id == server_span.context.span_id
    assert upstream_span.attributes["http.response.status_code"] == 200
    sent = upstream.mock.requests[-1]["headers"]["traceparent"]
    assert sent == f"00-{TRACE_ID}-{format(upstream_span.context.span_id, '016x')}-01"
    # Events carry the trace id.
    assert {e["trace_id"] for e in events if e["request_id"] == request_id} == {TRACE_ID}


def test_tracing_without_the_extra_fails_at_start_with_instructions(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk.trace", reason="checks the message the extra's absence would give")
    import subprocess
    import sys

    # Hide the package from a fresh interpreter, as if the extra were not installed.
    blocker = tmp_path / "opentelemetry"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    result = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--upstream", "http://127.0.0.1:9/v1", "--tracing", "otlp"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "pip install 'railguard[otel]'" in result.stderr
