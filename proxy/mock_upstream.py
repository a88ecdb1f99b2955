"""A scripted, offline upstream that speaks the OpenAI API (JSON and SSE) — for `railguard demo`, the benchmark and
the tests. It is a real ASGI app on a real socket, not a patched client.

What it answers is chosen by `rules` (regex on the last user text → reply) or, per request, by headers the test or
demo sends through the proxy:

    x-mock-reply: text            the answer text (default: rules, else "You said: <last user text>")
    x-mock-reply-2: text          the answer instead when the request carries an assistant turn (a follow-up, e.g.
                                  the proxy re-asking after a format failure)
    x-mock-status: 500            answer with this status and an OpenAI-shaped error
    x-mock-fail-times: 2          fail (x-mock-status or 503) the first N requests carrying this header value's key
    x-mock-delay: 0.5             wait before answering (seconds)
    x-mock-chunk: 8               characters per streamed chunk (default 6)
    x-mock-chunk-delay: 0.01      wait between streamed chunks
    x-mock-die-after: 3           streams: drop the connection after N chunks
    x-mock-body: not-json         answer 200 with a body that is not JSON
    x-mock-tool-call: {"name": "f", "arguments": "{...}"}   answer with a tool call
    x-mock-retry-after: 1         with x-mock-status 429/503: send Retry-After
    x-mock-finish-reason: length  chat: end the answer with this finish_reason (default stop, tool_calls for tools)
    x-mock-logprob: -1.5          chat with `logprobs: true`: each token's log-probability (default -0.1)

Every request body it receives is kept (GET /mock/requests) so tests can check what the upstream saw.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.streaming import EventStreamResponse


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    value = body.get("input") if "input" in body else body.get("prompt")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, str):
                return item
            if isinstance(item, dict) and item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _has_assistant_turn(body: dict[str, Any]) -> bool:
    """Whether the request sends an earlier assistant turn back (chat messages or Responses input items)."""
    items = body.get("input")
    turns = [*(body.get("messages") or []), *(items if isinstance(items, list) else [])]
    return any(isinstance(t, dict) and t.get("role") == "assistant" for t in turns)


class MockUpstream:
    def __init__(self, rules: list[tuple[str, str]] | None = None) -> None:
        self.rules = [(re.compile(pattern, re.IGNORECASE | re.DOTALL), reply) for pattern, reply in rules or []]
        self.requests: list[dict[str, Any]] = []
        self.failures: dict[str, int] = {}
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/files", self.files, methods=["GET", "POST"]),
                Route("/mock/requests", self.recorded, methods=["GET", "DELETE"]),
            ]
        )

    # -- helpers --------------------------------------------------------------------------------------------------

    def reply_for(self, request: Request, body: dict[str, Any]) -> str:
        if "x-mock-reply" in request.headers:
            # Percent-encoded, so replies may carry any text (headers cannot end in spaces or hold newlines).
            first = urllib.parse.unquote(request.headers["x-mock-reply"])
            if "x-mock-reply-2" in request.headers and _has_assistant_turn(body):
                return urllib.parse.unquote(request.headers["x-mock-reply-2"])  # e.g. the proxy asking again
            return first
        text = _last_user_text(body)
        for pattern, reply in self.rules:
            if pattern.search(text):
                return reply
        return f"You said: {text}"

    async def prelude(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return {}, JSONResponse({"error": {"message": "bad json", "type": "invalid_request_error"}}, 400)
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        delay = float(request.headers.get("x-mock-delay", "0"))
        if delay:
            await asyncio.sleep(delay)
        status = int(request.headers.get("x-mock-status", "0"))
        fail_times = request.headers.get("x-mock-fail-times")
        if fail_times is not None:
            key = request.headers.get("x-mock-key", "default")
            seen = self.failures.get(key, 0)
            self.failures[key] = seen + 1
            status = (status or 503) if seen < int(fail_times) else 0
        if status:
            headers = {}
            if "x-mock-retry-after" in request.headers:
                headers["retry-after"] = request.headers["x-mock-retry-after"]
            if request.headers.get("x-mock-body") == "not-json":
                return body, Response("<html>upstream exploded</html>", status, media_type="text/html")
            error = {
                "error": {
                    "message": f"mock upstream error {status}",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            return body, JSONResponse(error, status, headers=headers)
        if request.headers.get("x-mock-body") == "not-json":
            return body, Response("<html>definitely not json</html>", 200, media_type="text/html")
        return body, None

    @staticmethod
    def _chunks(text: str, size: int) -> list[str]:
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    async def _sse(
        self, request: Request, events: list[tuple[str | None, dict[str, Any] | str]]
    ) -> AsyncIterator[bytes]:
        die_after = int(request.headers.get("x-mock-die-after", "0"))
        chunk_delay = float(request.headers.get("x-mock-chunk-delay", "0"))
        record = self.requests[-1]
        record["chunks_sent"] = 0
        try:
            for number, (name, data) in enumerate(events):
                if die_after and number >= die_after:
                    raise ConnectionError("mock upstream dropped the stream")
                payload = data if isinstance(data, str) else orjson.dumps(data).decode()
                head = f"event: {name}\n" if name else ""
                yield f"{head}data: {payload}\n\n".encode()
                record["chunks_sent"] = number + 1
                if chunk_delay:
                    await asyncio.sleep(chunk_delay)
        except (asyncio.CancelledError, GeneratorExit):
            record["cancelled"] = True  # the proxy closed the connection: its client went away or a guard stopped
            raise

    @staticmethod
    def _logprobs(text: str, logprob: float) -> dict[str, Any]:
        tokens = text.split(" ")
        entries = [{"token": t, "logprob": logprob, "bytes": list(t.encode()), "top_logprobs": []} for t in tokens]
        return {"content": entries, "refusal": None}

    @staticmethod
    def _usage(prompt: str, answer: str) -> dict[str, int]:
        prompt_tokens = max(1, len(prompt.split()))
        completion_tokens = max(1, len(answer.split()))
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    # -- routes ---------------------------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        body, early = await self.prelude(request)
        if early is not None:
            return early
        text = self.reply_for(request, body)
        model = body.get("model", "mock-model")
        created = int(time.time())
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:20]}"
        tool = orjson.loads(request.headers["x-mock-tool-call"]) if "x-mock-tool-call" in request.headers else None
        usage = self._usage(_last_user_text(body), text)
        finish = request.headers.get("x-mock-finish-reason") or ("tool_calls" if tool else "stop")
        logprob = float(request.headers.get("x-mock-logprob", "-0.1"))
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": None if tool else text, "refusal": None}
            if tool:
                message["tool_calls"] = [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": tool["name"], "arguments": tool["arguments"]},
                    }
                ]
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": self._logprobs(text, logprob) if body.get("logprobs") and not tool else None,
                            "finish_reason": finish,
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": "fp_mock",
                }
            )
        base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_mock",
        }
        size = int(request.headers.get("x-mock-chunk", "6"))
        events: list[tuple[str | None, dict[str, Any] | str]] = [
            (
                None,
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ],
                },
            )
        ]
        if tool:
            arguments = tool["arguments"]
            events.append(
                (
                    None,
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": 0,
                                            "id": "call_1",
                                            "type": "function",
                                            "function": {"name": tool["name"], "arguments": ""},
                                        }
                                    ]
                                },
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ],
                    },
                )
            )
            for piece in self._chunks(arguments, size):
                events.append(
                    (
                        None,
                        {
                            **base,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                                    "logprobs": None,
                                    "finish_reason": None,
                                }
                            ],
                        },
                    )
                )
        else:
            for piece in self._chunks(text, size):
                logprobs = None
                if body.get("logprobs"):
                    logprobs = {
                        "content": [
                            {"token": piece, "logprob": logprob, "bytes": list(piece.encode()), "top_logprobs": []}
                        ],
                        "refusal": None,
                    }
                events.append(
                    (
                        None,
                        {
                            **base,
                            "choices": [
                                {"index": 0, "delta": {"content": piece}, "logprobs": logprobs, "finish_reason": None}
                            ],
                        },
                    )
                )
        events.append(
            (
                None,
                {
                    **base,
                    "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}],
                },
            )
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**base, "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        return EventStreamResponse(self._sse(request, events))

    async def completions(self, request: Request) -> Response:
        body, early = await self.prelude(request)
        if early is not None:
            return early
        text = self.reply_for(request, body)
        model = body.get("model", "mock-model")
        base = {
            "id": f"cmpl-{uuid.uuid4().hex[:20]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
        }
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
                    "usage": self._usage(_last_user_text(body), text),
                }
            )
        size = int(request.headers.get("x-mock-chunk", "6"))
        events: list[tuple[str | None, dict[str, Any] | str]] = [
            (None, {**base, "choices": [{"index": 0, "text": piece, "logprobs": None, "finish_reason": None}]})
            for piece in self._chunks(text, size)
        ]
        events.append(
            (None, {**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}]})
        )
        events.append((None, "[DONE]"))
        return EventStreamResponse(self._sse(request, events))

    async def responses(self, request: Request) -> Response:
        body, early = await self.prelude(request)
        if early is not None:
            return early
        text = self.reply_for(request, body)
        response_id = f"resp_{uuid.uuid4().hex[:20]}"
        message_id = f"msg_{uuid.uuid4().hex[:20]}"
        usage = self._usage(_last_user_text(body), text)
        item = {
            "type": "message",
            "id": message_id,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        response = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": body.get("model", "mock-model"),
            "output": [item],
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "metadata": {},
            "parallel_tool_calls": True,
            "temperature": body.get("temperature", 1.0),
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p", 1.0),
            "usage": {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage["total_tokens"],
            },
        }
        if not body.get("stream"):
            return JSONResponse(response)
        in_progress = {**{k: v for k, v in response.items() if k != "usage"}, "status": "in_progress", "output": []}
        size = int(request.headers.get("x-mock-chunk", "6"))
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": in_progress},
            {"type": "response.in_progress", "response": in_progress},
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            },
            {
                "type": "response.content_part.added",
                "item_id": message_id,
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            },
        ]
        for piece in self._chunks(text, size):
            events.append(
                {
                    "type": "response.output_text.delta",
                    "item_id": message_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                }
            )
        events += [
            {
                "type": "response.output_text.done",
                "item_id": message_id,
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
            {
                "type": "response.content_part.done",
                "item_id": message_id,
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []},
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": response},
        ]
        numbered: list[tuple[str | None, dict[str, Any] | str]] = [
            (event["type"], {**event, "sequence_number": n}) for n, event in enumerate(events)
        ]
        return EventStreamResponse(self._sse(request, numbered))

    async def embeddings(self, request: Request) -> Response:
        body, early = await self.prelude(request)
        if early is not None:
            return early
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        for index, text in enumerate(texts):
            digest = hashlib.sha256(str(text).encode()).digest()
            data.append({"object": "embedding", "index": index, "embedding": [b / 255.0 for b in digest[:8]]})
        tokens = sum(len(str(t).split()) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "mock-embed"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def models(self, request: Request) -> Response:
        names = ["gpt-4o", "gpt-4o-mini", "mock-model", "text-embedding-3-small"]
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": n, "object": "model", "created": 1700000000, "owned_by": "mock"} for n in names],
            }
        )

    async def files(self, request: Request) -> Response:
        raw = await request.body()
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "raw_size": len(raw)})
        return JSONResponse({"object": "list", "data": [], "received_bytes": len(raw)})

    async def recorded(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.requests.clear()
            self.failures.clear()
            return JSONResponse({"cleared": True})
        return JSONResponse(self.requests)
