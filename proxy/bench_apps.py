"""The other two servers `railguard bench` measures against: a fast mock upstream and the floor — a bare Starlette +
httpx pass-through with no guards (what any proxy in Python costs at the least)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The quick brown fox jumps over the lazy dog."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
    }
)
STREAM_CHUNKS = int(os.environ.get("BENCH_STREAM_CHUNKS", "20"))
STREAM_GAP = float(os.environ.get("BENCH_STREAM_GAP", "0.005"))


def _chunk(content: str | None, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {"content": content} if content is not None else {}
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def fast_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI upstream: a fixed chat completion, or an SSE stream of STREAM_CHUNKS sentences."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if b'"stream":true' not in body.replace(b" ", b""):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": ANSWER})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for number in range(STREAM_CHUNKS):
        await send({"type": "http.response.body", "body": _chunk(f"Sentence {number} is fine. "), "more_body": True})
        await asyncio.sleep(STREAM_GAP)
    await send({"type": "http.response.body", "body": _chunk(None, "stop") + b"data: [DONE]\n\n", "more_body": False})


def floor_app() -> Starlette:
    """The floor: a bare Starlette + httpx pass-through (BENCH_FLOOR_CLIENT=httpx|httpx2)."""
    if os.environ.get("BENCH_FLOOR_CLIENT", "httpx") == "httpx2":
        import httpx2 as http
    else:
        import httpx as http  # type: ignore[no-redef]
    upstream = os.environ["BENCH_UPSTREAM"].rstrip("/")
    client = http.AsyncClient(limits=http.Limits(max_connections=512, max_keepalive_connections=128), timeout=60)

    async def relay(request: Request) -> Response:
        body = await request.body()
        headers = {"content-type": "application/json", "authorization": request.headers.get("authorization", "")}
        upstream_request = client.build_request(
            "POST", upstream + request.url.path.removeprefix("/v1"), content=body, headers=headers
        )
        response = await client.send(upstream_request, stream=True)
        if "text/event-stream" in response.headers.get("content-type", ""):
            return StreamingResponse(response.aiter_raw(), media_type="text/event-stream", background=_closer(response))
        content = await response.aread()
        await response.aclose()
        return Response(content, status_code=response.status_code, media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", relay, methods=["POST"])])


def _closer(response: Any) -> Any:
    from starlette.background import BackgroundTask

    return BackgroundTask(response.aclose)
