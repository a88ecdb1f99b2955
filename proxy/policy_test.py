"""`railguard policy test POLICY.yaml CASES.yaml`: run sample prompts and answers through the real guards of a
policy and show what each would do — a dry run before deploying. Exits 1 when an expectation fails.

Cases file::

    cases:
      - name: refuses poems
        prompt: "write me a poem"          # or `messages: [...]` for a whole conversation
        answer: "Roses are red..."          # what the upstream would answer (default: an echo of the prompt)
        context: ["..."]                    # documents the request supplies (optional)
        request: {temperature: 1.8}         # other request fields (optional)
        stream: false                       # check the answer as a stream (optional)
        expect:
          outcome: blocked                  # allowed | blocked
          layer: pre_generation             # optional
          trigger: blocked_topic            # optional
          escalated: false                  # optional
          upstream_contains: "..."          # optional: text the upstream request must contain
          upstream_excludes: "..."          # optional: text the upstream request must not contain
          answer_contains: "..."            # optional: text the client's answer must contain
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Literal

import httpx2
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from escalation.answers import JsonAnswer
from escalation.stream_tail import StreamTail
from escalation.triggers import handoff_message
from policies.loader import PolicyError, load_files
from proxy.errors import GuardBlocked, RailguardError
from proxy.events import EventBus, GuardrailEvent
from proxy.exchange import Exchange
from proxy.guards import build_guards
from proxy.identity import Identity
from proxy.pipeline import ActivePolicy, Pipeline
from proxy.streaming import DONE, GuardedStream, sse
from proxy.texts import RequestView, RouteKind


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["allowed", "blocked"]
    layer: str | None = None
    trigger: str | None = None
    escalated: bool | None = None
    upstream_contains: str | None = None
    upstream_excludes: str | None = None
    answer_contains: str | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    answer: str | None = None
    context: list[str] = Field(default_factory=list)
    request: dict[str, Any] = Field(default_factory=dict)
    stream: bool = False
    model: str = "gpt-4o"
    tenant: str = "default"
    user: str | None = None
    expect: Expect


class CasesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[Case]


class Result(BaseModel):
    name: str
    outcome: str
    layer: str | None = None
    trigger: str | None = None
    escalated: bool = False
    answer: str = ""
    upstream: str = ""
    events: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    ms: float = 0.0


def _chat_answer(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-policy-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


def _chat_stream(model: str, text: str) -> bytes:
    base = {
        "id": "chatcmpl-policy-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    chunks = [sse({**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}) for p in pieces]
    chunks.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    return b"".join(chunks) + DONE


async def run_case(case: Case, active: ActivePolicy, pipeline: Pipeline, seen: list[GuardrailEvent]) -> Result:
    seen.clear()
    messages = case.messages or [{"role": "user", "content": case.prompt or ""}]
    body: dict[str, Any] = {"model": case.model, "messages": messages, **case.request}
    if case.context:
        body["railguard"] = {"context": case.context}
    view = RequestView(RouteKind.CHAT, body)
    exchange = Exchange(
        request_id=f"policy-test-{case.name}",
        route="/v1/chat/completions",
        kind=RouteKind.CHAT,
        identity=Identity(tenant=case.tenant, user=case.user, session="policy-test"),
        active=active,
        view=view,
        stream=case.stream,
    )
    result = Result(name=case.name, outcome="allowed")
    started = time.perf_counter()
    try:
        await pipeline.check_request(exchange)
        result.upstream = orjson.dumps(exchange.body).decode()
        answer_text = case.answer if case.answer is not None else f"You said: {view.user_turns()[-1:]}"
        handoff = handoff_message(exchange)
        if handoff is not None:  # layer 5 hands off before the model is asked
            result.answer, result.upstream = handoff, ""
        elif case.stream:
            response = httpx2.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=_chat_stream(exchange.model, answer_text),
                request=httpx2.Request("POST", "http://policy-test/v1/chat/completions"),
            )

            tail = StreamTail(RouteKind.CHAT)
            received = b"".join([tail.feed(chunk) async for chunk in GuardedStream(exchange, pipeline, response)])
            await pipeline.finish_answer(exchange, tail)
            text, blocked = _read_stream(received + tail.close({}))
            result.answer = text
            if blocked:
                result.outcome = "blocked"
        else:
            answer = _chat_answer(exchange.model, answer_text)
            await pipeline.check_answer(exchange, answer)
            await pipeline.finish_answer(exchange, JsonAnswer(RouteKind.CHAT, answer))
            result.answer = answer["choices"][0]["message"]["content"] or ""
    except GuardBlocked as blocked:
        result.outcome, result.layer, result.trigger = "blocked", blocked.layer, blocked.trigger
    except RailguardError:
        result.outcome = "blocked"

    await pipeline.after_response(exchange)

    result.ms = round((time.perf_counter() - started) * 1000, 1)
    result.escalated = bool(exchange.escalations)
    result.events = [f"{e.layer}/{e.trigger}:{e.action}{'' if e.enforced else ' (monitor)'}" for e in seen]
    if result.outcome == "blocked" and result.trigger is None:
        blocks = [e for e in seen if e.action == "block" and e.enforced]
        if blocks:
            result.layer, result.trigger = blocks[-1].layer, blocks[-1].trigger
    result.failures = _compare(case.expect, result)
    return result


def _read_stream(received: bytes) -> tuple[str, bool]:
    text, blocked = [], False
    for block in received.split(b"\n\n"):
        if not block.startswith(b"data: ") or block == DONE.strip():
            continue
        data = orjson.loads(block[6:])
        if "error" in data:
            blocked = True
            continue
        for choice in data.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
            blocked = blocked or choice.get("finish_reason") == "content_filter"
    return "".join(text), blocked


def _compare(expect: Expect, result: Result) -> list[str]:
    failures = []
    if expect.outcome != result.outcome:
        failures.append(f"outcome: expected {expect.outcome}, got {result.outcome}")
    if expect.layer is not None and expect.layer != result.layer:
        failures.append(f"layer: expected {expect.layer}, got {result.layer}")
    if expect.trigger is not None and expect.trigger != result.trigger:
        failures.append(f"trigger: expected {expect.trigger}, got {result.trigger}")
    if expect.escalated is not None and expect.escalated != result.escalated:
        failures.append(f"escalated: expected {expect.escalated}, got {result.escalated}")
    if expect.upstream_contains is not None and expect.upstream_contains not in result.upstream:
        failures.append(f"upstream request lacks {expect.upstream_contains!r}")
    if expect.upstream_excludes is not None and expect.upstream_excludes in result.upstream:
        failures.append(f"upstream request contains {expect.upstream_excludes!r}")
    if expect.answer_contains is not None and expect.answer_contains not in result.answer:
        failures.append(f"answer lacks {expect.answer_contains!r}")
    return failures


async def run_all(policy_path: Path, cases: list[Case]) -> list[Result]:
    resolved = load_files([policy_path])[policy_path.stem]
    active = ActivePolicy(resolved, build_guards(resolved.policy))
    for guard in active.guards:
        await asyncio.to_thread(guard.warm_up)
    events = EventBus([])
    seen: list[GuardrailEvent] = []
    events.subscribe(seen.append)
    pipeline = Pipeline(events)
    return [await run_case(case, active, pipeline, seen) for case in cases]


def run_cases(policy_path: Path, cases_path: Path) -> int:
    try:
        cases = CasesFile.model_validate(yaml.safe_load(cases_path.read_text())).cases
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        print(f"{cases_path}: {exc}", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(run_all(policy_path, cases))
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    failed = 0
    for result in results:
        status = "PASS" if not result.failures else "FAIL"
        failed += bool(result.failures)
        where = f" by {result.layer}/{result.trigger}" if result.outcome == "blocked" else ""
        print(
            f"{status}  {result.name}: {result.outcome}{where}{' (escalated)' if result.escalated else ''}"
            f"  [{result.ms} ms]"
        )
        for event in result.events:
            print(f"        event {event}")
        for failure in result.failures:
            print(f"        ✗ {failure}")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
