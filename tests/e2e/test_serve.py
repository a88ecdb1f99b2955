"""`railguard serve` as an orchestrator runs it: a real process in front of the mock upstream, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.servers import free_port
from tests.e2e.conftest import Upstream
from tests.serving import wait_ready

ROOT = Path(__file__).resolve().parents[2]

# Logs what the input and the answer say, so the stream yields events at its start and at its very end.
LOGGING_POLICY = """
name: default
input:
  terms: {enabled: true, terms: [tangerine], action: log}
output:
  terms: {enabled: true, terms: [goodbye], action: log}
"""
REPLY = "This answer arrives slowly, a few characters at a time, so that it is still streaming. " * 3 + "goodbye."


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.process.stdout.read() if self.process.stdout else ""


@pytest.fixture
def serve(upstream: Upstream) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> Served:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAILGUARD_", "PROMETHEUS_"))}
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--upstream", upstream.url, "--port", str(port), *flags],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        served = Served(process, port)
        wait_ready(served.url, process)
        return served

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def stream_in_background(url: str, headers: dict[str, str]) -> tuple[threading.Thread, dict[str, Any]]:
    """Stream a chat answer on another thread; ``result`` fills in as it arrives."""
    result: dict[str, Any] = {"chunks": [], "first": threading.Event(), "error": None}
    body = {
        "model": "gpt-4o",
        "stream": True,
        "messages": [{"role": "user", "content": "Tell me about the tangerine."}],
    }

    def run() -> None:
        try:
            with httpx2.stream(
                "POST", url + "/v1/chat/completions", json=body, headers=headers, timeout=60
            ) as response:
                result["status"] = response.status_code
                result["request_id"] = response.headers.get("x-railguard-request-id")
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        result["chunks"].append(line[len("data: ") :])
                        result["first"].set()
        except httpx2.HTTPError as exc:
            result["error"] = exc
        finally:
            result["first"].set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def streamed_text(chunks: list[str]) -> str:
    text = []
    for chunk in chunks:
        if chunk == "[DONE]":
            continue
        for choice in json.loads(chunk).get("choices", []):
            text.append(choice.get("delta", {}).get("content") or "")
    return "".join(text)


def events_of(path: Path, request_id: str) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [event for event in map(json.loads, lines) if event["request_id"] == request_id]


def serve_logging(serve: Any, policy_dir: Any, events_file: Path, grace: int) -> Served:
    """A proxy with the logging policy, writing events to ``events_file``, with ``grace`` seconds to stop."""
    policies = str(policy_dir(default=LOGGING_POLICY))
    return serve("--policies", policies, "--events-jsonl", str(events_file), "--shutdown-grace", str(grace))


def test_sigterm_during_a_stream_lets_it_finish_then_flushes_events_and_exits_0(
    serve: Any, policy_dir: Any, tmp_path: Path
) -> None:
    events_file = tmp_path / "events.jsonl"
    served = serve_logging(serve, policy_dir, events_file, grace=30)
    thread, result = stream_in_background(
        served.url, {"x-mock-reply": REPLY, "x-mock-chunk": "4", "x-mock-chunk-delay": "0.05"}
    )
    assert result["first"].wait(30) and result["error"] is None
    served.process.send_signal(signal.SIGTERM)
    # It stops accepting at once, while the stream goes on.
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx2.get(served.url + "/healthz", timeout=1)
        except httpx2.TransportError:
            break
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.05)
    assert thread.is_alive(), "the stream should outlast the listening socket (make it slower?)"
    thread.join(60)
    assert result["error"] is None and result["status"] == 200
    assert result["chunks"][-1] == "[DONE]"
    assert streamed_text(result["chunks"]) == REPLY
    assert served.process.wait(60) == 0, served.output()
    # Every event is in the file: the one from the start, the ones decided on the stream's windows (faithfulness
    # records that it had no documents to check against), and layer 5's confidence, scored after the stream ended.
    recorded = events_of(events_file, result["request_id"])
    assert sorted((e["layer"], e["trigger"], e["action"]) for e in recorded) == [
        ("input", "denied_term", "log"),
        ("output", "denied_term", "log"),
        ("output", "no_context", "allow"),
        ("post_response", "confidence", "allow"),
    ]


def test_a_stream_longer_than_the_grace_period_is_cut_and_recorded(serve: Any, policy_dir: Any, tmp_path: Path) -> None:
    events_file = tmp_path / "events.jsonl"
    served = serve_logging(serve, policy_dir, events_file, grace=1)
    thread, result = stream_in_background(
        served.url, {"x-mock-reply": REPLY * 4, "x-mock-chunk": "2", "x-mock-chunk-delay": "0.05"}
    )
    assert result["first"].wait(30)
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(30) == 0, served.output()
    assert time.monotonic() - started < 15
    thread.join(30)
    assert result["chunks"] and result["chunks"][-1] != "[DONE]"
    assert len(streamed_text(result["chunks"])) < len(REPLY * 4)
    triggers = {e["trigger"] for e in events_of(events_file, result["request_id"])}
    assert triggers == {"denied_term", "client_disconnected"}, triggers


def metric_total(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_several_workers_share_metrics_and_stop_together(serve: Any, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale samples from an earlier run")
    served = serve("--workers", "2", "--metrics-dir", str(metrics_dir))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    sent = 24
    for _ in range(sent):  # a new connection each: the kernel spreads them over the workers
        assert httpx2.post(served.url + "/v1/chat/completions", json=body).status_code == 200
    workers = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}
    assert len(workers) == 2 and "999999" not in workers, workers
    scrapes = [httpx2.get(served.url + "/metrics").text for _ in range(6)]
    for text in scrapes:  # whichever worker answers, it reports the sum over both
        assert metric_total(text, "railguard_requests_total", route="/v1/chat/completions", status="200") == sent
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(60) == 0, served.output()
