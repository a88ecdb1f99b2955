"""GuardrailEvents: every decision is recorded with the fields trust-and-safety staff need, to every sink, without
ever blocking or failing the request path."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proxy.events import EventBus, GuardrailEvent, sample_of
from proxy.servers import BackgroundServer
from proxy.sinks import JsonLinesSink, WebhookSink

BLOCKING = """
name: default
input:
  terms: {enabled: true, terms: [forbidden]}
"""

FIELDS = {
    "timestamp",
    "layer",
    "trigger",
    "user",
    "session",
    "sample",
    "action",
    "confidence",
    "request_id",
    "tenant",
    "policy",
    "policy_version",
    "detector",
    "latency_ms",
    "enforced",
    "guard",
    "id",
}


def test_a_block_is_recorded_in_the_jsonl_file_with_every_field(make_proxy, policy_dir, tmp_path: Path) -> None:
    events_file = tmp_path / "events.jsonl"
    proxy = make_proxy(policies=policy_dir(default=BLOCKING), events_jsonl=events_file)
    client = proxy.client(default_headers={"x-railguard-session": "sess-9"})
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="gpt-4o",
            user="user-7",
            messages=[
                {"role": "user", "content": "a forbidden word from jane.doe@example.com, card 4111 1111 1111 1111"}
            ],
        )
    request_id = raised.value.response.headers["x-railguard-request-id"]
    deadline = time.monotonic() + 5
    while not events_file.exists() or not events_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Layer 5 records its own events after the block (the review it queued): find the block's.
    lines = [json.loads(line) for line in events_file.read_text().splitlines()]
    event = next(e for e in lines if e["trigger"] == "denied_term")
    assert set(event) >= FIELDS
    assert (event["layer"], event["trigger"], event["action"]) == ("input", "denied_term", "block")
    assert (event["user"], event["session"], event["request_id"]) == ("user-7", "sess-9", request_id)
    assert event["detector"] == "terms" and event["confidence"] == 1.0 and event["enforced"] is True
    assert event["policy"] == "default" and len(event["policy_version"]) == 12
    assert "jane.doe@example.com" not in event["sample"] and "4111" not in event["sample"]
    assert "<EMAIL" in event["sample"]  # masked by the PII guard (or the cheap mask when it is off)


def test_samples_are_truncated_and_masked() -> None:
    sample = sample_of("call me on +1 415 555 0100 or mail a@b.co " + "x" * 500)
    assert "555" not in sample and "a@b.co" not in sample
    assert len(sample) <= 160 and sample.endswith("…")


def test_jsonl_sink_rotates(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "events.jsonl", max_bytes=2048, backups=2)
    for _ in range(20):
        asyncio.run(sink.write([{"trigger": "x" * 200}]))
    assert (tmp_path / "events.jsonl.1").exists()
    assert (tmp_path / "events.jsonl").stat().st_size <= 2048


def _event(number: int = 0) -> GuardrailEvent:
    return GuardrailEvent(
        layer="input",
        trigger=f"t{number}",
        action="block",
        guard="g",
        request_id="r",
        tenant="t",
        policy="p",
        policy_version="v",
    )


def test_webhook_sink_retries_until_the_receiver_accepts() -> None:
    received: list[list[dict]] = []
    attempts = {"count": 0}

    async def receive(request: Request) -> JSONResponse:
        attempts["count"] += 1
        if attempts["count"] <= 2:
            return JSONResponse({"error": "busy"}, status_code=503)
        received.append(await request.json())
        return JSONResponse({"ok": True})

    with BackgroundServer(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as receiver:
        sink = WebhookSink(receiver.url + "/hook", attempts=4, backoff=0.01)

        async def deliver() -> None:
            await sink.write([_event(1).to_dict(), _event(2).to_dict()])
            await sink.close()

        asyncio.run(deliver())
    assert attempts["count"] == 3
    assert [e["trigger"] for e in received[0]] == ["t1", "t2"]


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    class SlowSink:
        name = "slow"

        async def write(self, events: list[dict]) -> None:
            await asyncio.sleep(10)

        async def close(self) -> None:
            return None

    async def flood() -> tuple[int, int, float]:
        bus = EventBus([SlowSink()], queue_size=5)
        started = time.perf_counter()
        for number in range(50):
            bus.emit(_event(number))
        return bus.stats.emitted, bus.stats.dropped, time.perf_counter() - started

    emitted, dropped, seconds = asyncio.run(flood())
    assert (emitted, dropped) == (50, 45)
    assert seconds < 5.0  # emit never waits for the sink, whose write takes 10 s


def test_a_failing_sink_is_counted_and_the_others_still_get_the_events(tmp_path: Path) -> None:
    class BrokenSink:
        name = "broken"

        async def write(self, events: list[dict]) -> None:
            raise OSError("disk full")

        async def close(self) -> None:
            return None

    async def run() -> EventBus:
        memory = JsonLinesSink(tmp_path / "ok.jsonl")
        bus = EventBus([BrokenSink(), memory])
        bus.start()
        bus.emit(_event())
        await bus.stop()
        return bus

    bus = asyncio.run(run())
    assert bus.stats.sink_errors == {"broken": 1}
    assert (tmp_path / "ok.jsonl").read_text().count("\n") == 1
