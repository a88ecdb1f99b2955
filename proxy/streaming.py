"""Streamed answers: relay the upstream's SSE so that no unguarded text reaches the client.

The upstream's events are parsed with httpx2's SSE parser. Answer text is assembled per channel (a choice's
content, a tool call's arguments, a Responses output part) and — when an output guard enforces — held back in
windows that end at sentence boundaries (bounded by size and hold time). Each window is checked by the output
guards together with the text released before it, then passed through the output transforms (e.g. PII
restoration) and released. A violation ends the stream cleanly: `finish_reason: "content_filter"` (Responses:
`response.incomplete`) and an error event the `openai` SDK raises. Monitor mode streams without holding back and
runs the checks off the path.

With no output guard and no transform at all, the bytes are relayed as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from policies.schema import Action, Streaming
from proxy.errors import GuardBlocked, RailguardError, UpstreamError
from proxy.exchange import Exchange
from proxy.pipeline import Layer, OutputPiece, Pipeline, TextTransform
from proxy.texts import RouteKind

log = logging.getLogger("railguard.streaming")

# A sentence ends at . ! ? (and CJK stops) followed by closing quotes/brackets and whitespace, or at a newline.
_SENTENCE_END = re.compile(r"(?:[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*\s+|\n+)")
_END = object()
# Exchange state flag: hold a streamed answer back whole and check it once, at its end (set by guards in `prepare`).
HOLD_WHOLE_ANSWER = "hold_whole_answer"


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"


DONE = b"data: [DONE]\n\n"


class EventStreamResponse(StreamingResponse):
    """A streaming response that notices the client leaving at once (not at the next write) and always closes its
    body iterator, so the upstream request behind it is cancelled promptly."""

    def __init__(self, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        kwargs.setdefault("media_type", "text/event-stream")
        super().__init__(content, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self.stream_response(send))
        watching = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
            if not streaming.done():
                streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await streaming
        finally:
            watching.cancel()
            if not streaming.done():
                # This task was cancelled (e.g. the shutdown grace period ran out): end the stream with it, so its
                # clean-up (closing the upstream, recording the cut) runs before the request counts as finished.
                streaming.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await streaming
            iterator = self.body_iterator
            if hasattr(iterator, "aclose"):
                with contextlib.suppress(Exception):
                    await iterator.aclose()
        if self.background is not None:
            await self.background()


@dataclass
class Channel:
    """One stream of answer text."""

    key: tuple[Any, ...]
    choice: int
    windowed: bool
    transforms: list[TextTransform]
    held: str = ""
    held_logprobs: list[tuple[int, list[Any]]] = field(default_factory=list)  # (chars, entries) per delta
    held_since: float | None = None
    released: str = ""  # checked text, before transforms: context for the guards
    delivered: str = ""  # what the client received
    shadow: str = ""  # monitor mode: text delivered but not yet checked
    info: dict[str, Any] = field(default_factory=dict)  # dialect data (item ids, indexes)

    def take_logprobs(self, chars: int) -> list[Any]:
        entries: list[Any] = []
        while self.held_logprobs and self.held_logprobs[0][0] <= chars:
            length, items = self.held_logprobs.pop(0)
            chars -= length
            entries.extend(items)
        return entries

    def transform(self, text: str, final: bool) -> str:
        for transform in self.transforms:
            text = transform.feed(text)
            if final:
                text += transform.flush()
        return text


def window_cut(text: str, settings: Streaming, force: bool) -> int:
    """How many leading characters of held ``text`` make a window now (0: keep holding)."""
    if force:
        return len(text)
    best = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > settings.max_window_chars:
            break
        best = match.end()
        if best >= settings.window_chars:
            return best
    if len(text) >= settings.max_window_chars:
        if best:
            return best
        space = text.rfind(" ", 0, settings.max_window_chars)
        return space + 1 if space > 0 else settings.max_window_chars
    return 0


class StreamBlocked(Exception):
    def __init__(self, blocked: GuardBlocked, channel: Channel, salvaged: list[bytes]) -> None:
        self.blocked = blocked
        self.channel = channel
        self.salvaged = salvaged  # clean sentences of the blocked window, released before the stream ends


class GuardedStream:
    """Turns the upstream's SSE response into the bytes the client receives."""

    def __init__(self, exchange: Exchange, pipeline: Pipeline, response: httpx2.Response) -> None:
        self.exchange = exchange
        self.pipeline = pipeline
        self.response = response
        self.settings = exchange.active.policy.output.streaming
        self.holding = exchange.active.output_enforcing
        # A guard that can only judge the complete answer (JSON validation) asks for all of it to be held back.
        self.whole_answer = self.holding and bool(exchange.state.get(HOLD_WHOLE_ANSWER))
        self.monitoring = any(not g.enforcing for g in exchange.active.of(Layer.OUTPUT))
        self.channels: dict[tuple[Any, ...], Channel] = {}
        self.template: dict[str, Any] = {}
        self.background: set[asyncio.Task[None]] = set()
        self.sequence = 0
        self.saw_done = False
        self.usage: dict[str, Any] | None = None
        self.finish_reasons: dict[int, str] = {}
        self.outcome = "completed"

    @property
    def raw(self) -> bool:
        """Nothing to check or rewrite: relay the bytes untouched."""
        active = self.exchange.active
        if self.exchange.needs_usage:
            return False
        return not active.has_output_guards and not self.pipeline.transforms(self.exchange)

    def delivered_text(self) -> str:
        """All answer text the client received (for counting tokens when the upstream sent no usage)."""
        return "".join(channel.delivered for channel in self.channels.values())

    # -- the relay ------------------------------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self.raw:
                async for chunk in self._relay():
                    yield chunk
                return
            async for chunk in self._guarded():
                yield chunk
        except asyncio.CancelledError:
            self.outcome = "client_disconnected"
            raise
        finally:
            for task in self.background:
                task.cancel()
            await self.response.aclose()
            if self.outcome == "client_disconnected":
                self.pipeline.record_system(self.exchange, Layer.OUTPUT, "client_disconnected", Action.ALLOW)

    async def _relay(self) -> AsyncIterator[bytes]:
        """Bytes as they come, cut at event boundaries so a failing upstream never leaves half an event."""
        pending = b""
        try:
            async for chunk in self.response.aiter_bytes():
                pending += chunk
                cut = max(pending.rfind(b"\n\n"), pending.rfind(b"\r\n\r\n"))
                if cut >= 0:
                    end = cut + (4 if pending[cut : cut + 4] == b"\r\n\r\n" else 2)
                    yield pending[:end]
                    pending = pending[end:]
            if pending:
                yield pending
        except httpx2.HTTPError as exc:
            self.outcome = "upstream_failed"
            self.pipeline.record_system(
                self.exchange,
                Layer.OUTPUT,
                "upstream_stream_failed",
                Action.ALLOW,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
            yield self.dialect_error(UpstreamError("The upstream stream failed before the answer was complete."))

    async def _guarded(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=256)

        async def read() -> None:
            try:
                async for event in httpx2.EventSource(self.response):
                    await queue.put(event)
                await queue.put(_END)
            except Exception as exc:
                await queue.put(exc)

        reader = asyncio.create_task(read(), name="railguard-upstream-reader")
        try:
            while True:
                timeout = self._next_deadline()
                try:
                    item = await asyncio.wait_for(queue.get(), timeout) if timeout is not None else await queue.get()
                except TimeoutError:
                    for out in await self._release_due():
                        yield out
                    continue
                if item is _END:
                    for out in await self._finish():
                        yield out
                    return
                if isinstance(item, Exception):
                    for out in await self._upstream_failed(item):
                        yield out
                    return
                for out in await self._event(item):
                    yield out
        except StreamBlocked as stop:
            self.outcome = "blocked"
            for out in self._blocked(stop):
                yield out
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    def _next_deadline(self) -> float | None:
        if not self.holding or self.whole_answer:
            return None
        started = [c.held_since for c in self.channels.values() if c.windowed and c.held and c.held_since is not None]
        if not started:
            return None
        return max(0.0, min(started) + self.settings.max_hold_ms / 1000.0 - time.monotonic())

    # -- channels -------------------------------------------------------------------------------------------------

    def channel(self, key: tuple[Any, ...], choice: int, windowed: bool, is_json: bool = False) -> Channel:
        found = self.channels.get(key)
        if found is None:
            found = Channel(key, choice, windowed and self.holding, self.pipeline.transforms(self.exchange, is_json))
            self.channels[key] = found
        return found

    async def feed(self, channel: Channel, text: str, logprobs: list[Any] | None = None) -> list[bytes]:
        """Take a text delta; return the events to send now."""
        if not channel.windowed:
            out = self._deliver(channel, text, logprobs or [], final=False)
            if self.monitoring:
                channel.shadow += text
                self._shadow_windows(channel, final=False)
            return out
        if not channel.held:
            channel.held_since = time.monotonic()
        channel.held += text
        channel.held_logprobs.append((len(text), logprobs or []))
        return await self._release_ready(channel, force=False, final=False)

    async def _release_ready(self, channel: Channel, force: bool, final: bool) -> list[bytes]:
        out: list[bytes] = []
        if self.whole_answer and channel.windowed and not final:
            return out
        while channel.held:
            cut = window_cut(channel.held, self.settings, force)
            if cut == 0:
                break
            window, channel.held = channel.held[:cut], channel.held[cut:]
            channel.held_since = time.monotonic() if channel.held else None
            out.extend(await self._check_and_deliver(channel, window, final=final and not channel.held))
        if final and not out and not channel.held:
            out.extend(self._deliver(channel, "", [], final=True))
        return out

    async def _check_and_deliver(self, channel: Channel, window: str, final: bool) -> list[bytes]:
        piece = OutputPiece(
            window, channel.choice, preceding=channel.released[-self.settings.context_chars :], final=final
        )
        try:
            await self.pipeline.check_output(self.exchange, piece, enforcing_only=True)
        except GuardBlocked as blocked:
            salvaged = await self._salvage(channel, window)
            raise StreamBlocked(blocked, channel, salvaged) from blocked
        if self.monitoring:
            self._spawn(self.pipeline.check_output_monitored(self.exchange, copy.copy(piece)))
        logprobs = channel.take_logprobs(len(window))
        channel.released += piece.text
        return self._deliver(channel, piece.text, logprobs, final)

    async def _salvage(self, channel: Channel, window: str) -> list[bytes]:
        """A blocked window may start with clean sentences: release those (checked one by one, the decision on the
        window already recorded), so the client gets all the text before the violation and nothing of it."""
        out: list[bytes] = []
        sentences = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() < len(window)]
        start = 0
        for end in sentences:
            sentence = window[start:end]
            piece = OutputPiece(
                sentence, channel.choice, preceding=channel.released[-self.settings.context_chars :], final=False
            )
            try:
                await self.pipeline.check_output(self.exchange, piece, enforcing_only=True, record=False)
            except GuardBlocked:
                break
            channel.released += piece.text
            out.extend(self._deliver(channel, piece.text, channel.take_logprobs(len(sentence)), final=False))
            start = end
        return out

    def _deliver(self, channel: Channel, text: str, logprobs: list[Any], final: bool) -> list[bytes]:
        text = channel.transform(text, final)
        if not text and not logprobs:
            return []
        channel.delivered += text
        return self.dialect_text(channel, text, logprobs)

    def _shadow_windows(self, channel: Channel, final: bool) -> None:
        while channel.shadow:
            cut = window_cut(channel.shadow, self.settings, force=final)
            if cut == 0:
                return
            window, channel.shadow = channel.shadow[:cut], channel.shadow[cut:]
            piece = OutputPiece(
                window,
                channel.choice,
                preceding=channel.released[-self.settings.context_chars :],
                final=final and not channel.shadow,
            )
            channel.released += window
            self._spawn(self.pipeline.check_output_monitored(self.exchange, piece))

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def flush(self, channel: Channel, final: bool) -> list[bytes]:
        if channel.windowed:
            return await self._release_ready(channel, force=True, final=final)
        out = self._deliver(channel, "", [], final=True) if final else []
        if final and self.monitoring:
            self._shadow_windows(channel, final=True)
        return out

    async def flush_all(self, final: bool) -> list[bytes]:
        out: list[bytes] = []
        for channel in list(self.channels.values()):
            out.extend(await self.flush(channel, final))
        return out

    async def _release_due(self) -> list[bytes]:
        out: list[bytes] = []
        now = time.monotonic()
        for channel in list(self.channels.values()):
            due = channel.held_since is not None and now - channel.held_since >= self.settings.max_hold_ms / 1000.0
            if channel.windowed and channel.held and due:
                out.extend(await self._release_ready(channel, force=True, final=False))
        return out

    async def _finish(self) -> list[bytes]:
        out = await self.flush_all(final=True)
        out.extend(self.dialect_finish())
        await self._settle_background()
        return out

    async def _settle_background(self) -> None:
        if self.background:
            await asyncio.wait(self.background, timeout=30.0)

    async def _upstream_failed(self, exc: Exception) -> list[bytes]:
        self.outcome = "upstream_failed"
        log.warning("upstream stream failed: %s", exc)
        # What was held is checked before it goes out: never a half-guarded answer.
        out = await self.flush_all(final=True)
        self.pipeline.record_system(
            self.exchange,
            Layer.OUTPUT,
            "upstream_stream_failed",
            Action.ALLOW,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        error = UpstreamError("The upstream stream failed before the answer was complete.")
        out.append(self.dialect_error(error))
        return out

    def _blocked(self, stop: StreamBlocked) -> list[bytes]:
        return stop.salvaged + self.dialect_blocked(stop.channel, stop.blocked)

    # -- dialects: where text sits in each kind of stream ---------------------------------------------------------

    async def _event(self, event: httpx2.ServerSentEvent) -> list[bytes]:
        if event.data.startswith("[DONE]"):
            self.saw_done = True
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return [sse(event.data.encode(), event.event if event.event != "message" else None)]
        if self.exchange.kind is RouteKind.RESPONSES:
            return await self._responses_event(event.event, data)
        return await self._choices_event(data)

    # chat.completions and completions ------------------------------------------------------------------------------

    async def _choices_event(self, data: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if "error" in data:
            out.extend(await self.flush_all(final=True))
            out.append(sse(data))
            return out
        if not self.template:
            self.template = {k: v for k, v in data.items() if k not in ("choices", "usage")}
        text_key = "text" if self.exchange.kind is RouteKind.COMPLETIONS else None
        residual_choices = []
        for choice in data.get("choices") or []:
            index = choice.get("index", 0)
            content_channel = self.channel(("content", index), index, windowed=True)
            delta = choice.get("delta") or {}
            text = choice.get(text_key) if text_key else delta.get("content")
            logprobs = (choice.get("logprobs") or {}).get("content") if not text_key else None
            if isinstance(text, str) and text:
                out.extend(await self.feed(content_channel, text, logprobs if isinstance(logprobs, list) else None))
            residual = {k: v for k, v in delta.items() if k != "content"} if not text_key else {}
            tool_calls = residual.get("tool_calls")
            if tool_calls or residual.get("function_call"):
                out.extend(await self.flush(content_channel, final=False))
                residual = self._tool_deltas(index, residual)
            finish = choice.get("finish_reason")
            if finish:
                out.extend(await self.flush(content_channel, final=True))
                self.finish_reasons[index] = finish
            if residual or finish:
                kept = {"index": index, "finish_reason": finish}
                if text_key:
                    kept.update({"text": "", "logprobs": None})
                else:
                    kept["delta"] = residual
                    kept["logprobs"] = None
                residual_choices.append(kept)
        if residual_choices:
            out.append(sse({**self.template, **_top(data), "choices": residual_choices}))
        if data.get("usage"):
            self.usage = data["usage"]
            if not data.get("choices"):
                out.extend(await self.flush_all(final=True))
                out.append(sse({**self.template, **_top(data), "choices": [], "usage": data["usage"]}))
            else:
                out.append(sse({**self.template, **_top(data), "choices": [], "usage": data["usage"]}))
        return out

    def _tool_deltas(self, index: int, residual: dict[str, Any]) -> dict[str, Any]:
        residual = copy.deepcopy(residual)
        for call in residual.get("tool_calls") or []:
            function = call.get("function") or {}
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                channel = self.channel(("tool", index, call.get("index", 0)), index, windowed=False, is_json=True)
                function["arguments"] = channel.transform(arguments, final=False)
                channel.delivered += function["arguments"]
        function_call = residual.get("function_call")
        if isinstance(function_call, dict) and isinstance(function_call.get("arguments"), str):
            channel = self.channel(("function", index), index, windowed=False, is_json=True)
            function_call["arguments"] = channel.transform(function_call["arguments"], final=False)
        return residual

    def _chat_text(self, channel: Channel, text: str, logprobs: list[Any]) -> list[bytes]:
        if channel.key[0] != "content":
            # Tool-argument tails released by a final flush.
            delta: dict[str, Any]
            if channel.key[0] == "function":
                delta = {"function_call": {"arguments": text}}
            else:
                delta = {"tool_calls": [{"index": channel.key[2], "function": {"arguments": text}}]}
            choice: dict[str, Any] = {"index": channel.choice, "delta": delta, "logprobs": None, "finish_reason": None}
            return [sse({**self.template, "choices": [choice]})]
        if self.exchange.kind is RouteKind.COMPLETIONS:
            choice = {"index": channel.choice, "text": text, "logprobs": None, "finish_reason": None}
        else:
            choice = {
                "index": channel.choice,
                "delta": {"content": text},
                "logprobs": {"content": logprobs, "refusal": None} if logprobs else None,
                "finish_reason": None,
            }
        return [sse({**self.template, "choices": [choice]})]

    # responses ---------------------------------------------------------------------------------------------------

    def _numbered(self, data: dict[str, Any]) -> bytes:
        data["sequence_number"] = self.sequence
        self.sequence += 1
        return sse(data, str(data.get("type", "message")))

    async def _responses_event(self, name: str, data: dict[str, Any]) -> list[bytes]:
        kind = data.get("type", name)
        out: list[bytes] = []
        if kind == "response.created" and isinstance(data.get("response"), dict):
            self.template = copy.deepcopy(data["response"])
        output_index = data.get("output_index", 0)
        text_key = ("text", output_index, data.get("content_index", 0))
        args_key = ("args", output_index)
        if kind == "response.output_text.delta":
            channel = self.channel(text_key, output_index, windowed=True)
            channel.info.update({k: data.get(k) for k in ("item_id", "output_index", "content_index")})
            logprobs = data.get("logprobs")
            return await self.feed(channel, data.get("delta", ""), logprobs if isinstance(logprobs, list) else None)
        if kind == "response.function_call_arguments.delta":
            channel = self.channel(args_key, output_index, windowed=False, is_json=True)
            channel.info.update({k: data.get(k) for k in ("item_id", "output_index")})
            return await self.feed(channel, data.get("delta", ""))
        if kind == "response.output_text.done":
            found = self.channels.get(text_key)
            if found is not None:
                out.extend(await self.flush(found, final=True))
                data["text"] = found.delivered
        elif kind == "response.function_call_arguments.done":
            found = self.channels.get(args_key)
            if found is not None:
                out.extend(await self.flush(found, final=True))
                data["arguments"] = found.delivered
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            out.extend(await self.flush_all(final=True))
            if isinstance(data.get("response"), dict):
                self._patch_response(data["response"])
                self.usage = data["response"].get("usage")
        elif kind == "response.content_part.done":
            found = self.channels.get(text_key)
            if found is not None and isinstance(data.get("part"), dict) and "text" in data["part"]:
                data["part"]["text"] = found.delivered
        elif kind == "response.output_item.done" and isinstance(data.get("item"), dict):
            self._patch_item(data.get("output_index", 0), data["item"])
        elif kind == "error":
            out.extend(await self.flush_all(final=True))
        out.append(self._numbered(data))
        return out

    def _patch_item(self, output_index: int, item: dict[str, Any]) -> None:
        for content_index, part in enumerate(item.get("content") or []):
            channel = self.channels.get(("text", output_index, content_index))
            if channel is not None and isinstance(part, dict) and "text" in part:
                part["text"] = channel.delivered
        args = self.channels.get(("args", output_index))
        if args is not None and "arguments" in item:
            item["arguments"] = args.delivered

    def _patch_response(self, response: dict[str, Any]) -> None:
        for output_index, item in enumerate(response.get("output") or []):
            if isinstance(item, dict):
                self._patch_item(output_index, item)

    def _responses_text(self, channel: Channel, text: str, logprobs: list[Any]) -> list[bytes]:
        if channel.key[0] == "args":
            data: dict[str, Any] = {"type": "response.function_call_arguments.delta", **channel.info, "delta": text}
        else:
            data = {"type": "response.output_text.delta", **channel.info, "delta": text, "logprobs": logprobs}
        return [self._numbered(data)]

    # dialect dispatch ----------------------------------------------------------------------------------------------

    def dialect_text(self, channel: Channel, text: str, logprobs: list[Any]) -> list[bytes]:
        if self.exchange.kind is RouteKind.RESPONSES:
            return self._responses_text(channel, text, logprobs)
        return self._chat_text(channel, text, logprobs)

    def dialect_finish(self) -> list[bytes]:
        if self.exchange.kind is RouteKind.RESPONSES:
            return []
        return [DONE] if self.saw_done else []

    def dialect_error(self, error: RailguardError) -> bytes:
        if self.exchange.kind is RouteKind.RESPONSES:
            body = error.body()["error"]
            return self._numbered({"type": "error", "code": body["code"], "message": body["message"], "param": None})
        return sse(error.body())

    def dialect_blocked(self, channel: Channel, blocked: GuardBlocked) -> list[bytes]:
        if self.exchange.kind is RouteKind.RESPONSES:
            response: dict[str, Any] = copy.deepcopy(self.template) if self.template else {"object": "response"}
            response.update({"status": "incomplete", "incomplete_details": {"reason": "content_filter"}})
            self._patch_response(response)
            return [
                self.dialect_error(blocked),
                self._numbered({"type": "response.incomplete", "response": response}),
            ]
        out = []
        for index in sorted({c.choice for c in self.channels.values()} | {channel.choice}):
            if index in self.finish_reasons:
                continue
            if self.exchange.kind is RouteKind.COMPLETIONS:
                choice: dict[str, Any] = {
                    "index": index,
                    "text": "",
                    "logprobs": None,
                    "finish_reason": "content_filter",
                }
            else:
                choice = {"index": index, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}
            out.append(sse({**self.template, "choices": [choice]}))
        out.append(sse(blocked.body()))
        return out


def _top(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("choices", "usage")}
