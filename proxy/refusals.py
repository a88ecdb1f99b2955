"""Answers the proxy writes itself: a policy's refusal text as a normal 200 answer (refusal style `message`), or
layer 5's hand-off message (``finish_reason="stop"``), in the shape of the route that was called, as JSON or as an
SSE stream."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from proxy.streaming import DONE, sse
from proxy.texts import RouteKind


def refusal_body(kind: RouteKind, model: str, text: str, finish_reason: str = "content_filter") -> dict[str, Any]:
    created = int(time.time())
    filtered = finish_reason == "content_filter"
    if kind is RouteKind.COMPLETIONS:
        return {
            "id": f"cmpl-rg{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
    if kind is RouteKind.RESPONSES:
        return {
            "id": f"resp_rg{uuid.uuid4().hex[:24]}",
            "object": "response",
            "created_at": created,
            "model": model,
            "status": "incomplete" if filtered else "completed",
            "incomplete_details": {"reason": "content_filter"} if filtered else None,
            "output": [
                {
                    "type": "message",
                    "id": f"msg_rg{uuid.uuid4().hex[:24]}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "error": None,
            "instructions": None,
            "metadata": {},
            "parallel_tool_calls": True,
            "temperature": None,
            "tool_choice": "auto",
            "tools": [],
            "top_p": None,
            "usage": {
                "input_tokens": 0,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": 0,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 0,
            },
        }
    return {
        "id": f"chatcmpl-rg{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def refusal_stream(kind: RouteKind, model: str, text: str, finish_reason: str = "content_filter") -> list[bytes]:
    body = refusal_body(kind, model, text, finish_reason)
    if kind is RouteKind.RESPONSES:
        in_progress = {
            **{k: v for k, v in body.items() if k != "usage"},
            "status": "in_progress",
            "incomplete_details": None,
            "output": [],
        }
        item = body["output"][0]
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": in_progress},
            {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
            {
                "type": "response.output_text.delta",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            },
            {
                "type": "response.output_text.done",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {
                "type": "response.completed" if body["status"] == "completed" else "response.incomplete",
                "response": body,
            },
        ]
        return [sse({**event, "sequence_number": n}, event["type"]) for n, event in enumerate(events)]
    base = {k: body[k] for k in ("id", "created", "model")}
    if kind is RouteKind.COMPLETIONS:
        chunks: list[dict[str, Any]] = [
            {
                **base,
                "object": "text_completion",
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
            },
        ]
    else:
        chunk = {**base, "object": "chat.completion.chunk"}
        chunks = [
            {
                **chunk,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            },
            {**chunk, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason}]},
        ]
    return [sse(orjson.dumps(c)) for c in chunks] + [DONE]
