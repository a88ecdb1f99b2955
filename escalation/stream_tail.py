"""A streamed answer as layer 5 sees it: the events pass through as they come, but the closing ones (the finish
chunk, usage, `[DONE]`; in the Responses API the `*.done` events and `response.completed`) are held until the whole
answer is known, so layer 5 can score it and add a notice before the stream ends.

Response headers left before the first byte, so what layer 5 decides afterwards (the confidence, the escalation)
goes out as SSE comments just before the stream ends, e.g. ``: x-railguard-confidence: 0.912``. Comments are part of
the SSE format and every client (the `openai` SDKs, browsers' EventSource) skips them; HTTP trailers would be the
other way, but most HTTP clients never read them.

A streamed answer cannot be taken back: a hand-off decided at its end is shown as a notice after the answer.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from escalation.answers import NOTICE_SEPARATOR, Shown
from proxy.streaming import sse
from proxy.texts import RouteKind

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(rb"\r\n|\n|\r")
_RESPONSES_CLOSING = frozenset(
    {
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    }
)


@dataclass
class _Event:
    raw: bytes
    name: str | None
    data: str
    parsed: dict[str, Any] | None = None

    @classmethod
    def parse(cls, raw: bytes) -> _Event:
        name: str | None = None
        lines: list[str] = []
        for line in _LINE.split(raw):
            if not line or line.startswith(b":"):
                continue
            key, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if key == b"event":
                name = value.decode("utf-8", "replace")
            elif key == b"data":
                lines.append(value.decode("utf-8", "replace"))
        data = "\n".join(lines)
        parsed: dict[str, Any] | None = None
        if data and not data.startswith("[DONE]"):
            try:
                loaded = orjson.loads(data)
                parsed = loaded if isinstance(loaded, dict) else None
            except orjson.JSONDecodeError:
                parsed = None
        return cls(raw, name, data, parsed)

    @property
    def type(self) -> str:
        return str((self.parsed or {}).get("type") or self.name or "")


@dataclass
class StreamTail:
    """Watches one streamed answer on its way out (see the module docstring)."""

    kind: RouteKind
    _buffer: bytes = b""
    _held: list[_Event] = field(default_factory=list)
    _texts: dict[int, list[str]] = field(default_factory=dict)
    _finish: dict[int, str] = field(default_factory=dict)
    _logprobs: list[float] = field(default_factory=list)
    _template: dict[str, Any] = field(default_factory=dict)
    _addition: tuple[Shown, str] | None = None

    # -- the FinishedAnswer protocol ------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return "\n".join("".join(self._texts[index]) for index in sorted(self._texts))

    @property
    def finish_reasons(self) -> list[str]:
        return [self._finish[index] for index in sorted(self._finish)]

    @property
    def token_logprobs(self) -> list[float]:
        return list(self._logprobs)

    def add_notice(self, text: str) -> None:
        if self._addition is None:
            self._addition = (Shown.NOTICE, text)

    def hand_off(self, text: str) -> None:
        # Too late to replace what was shown: the hand-off message follows the answer instead.
        if self._addition is None or self._addition[0] < Shown.HANDOFF:
            self._addition = (Shown.HANDOFF, text)

    # -- the relay ------------------------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        """Take bytes on their way to the client; return those that may go now."""
        self._buffer += chunk
        out: list[bytes] = []
        while (found := _BOUNDARY.search(self._buffer)) is not None:
            raw, self._buffer = self._buffer[: found.end()], self._buffer[found.end() :]
            event = _Event.parse(raw)
            self._observe(event)
            if self._held or self._closing(event):
                self._held.append(event)
            else:
                out.append(raw)
        return b"".join(out)

    def close(self, comments: dict[str, str]) -> bytes:
        """The held end of the stream, with the notice (if any) and ``comments`` (header name -> value)."""
        held = self._held
        if self._addition is not None:
            held = self._with_addition(held, self._addition[1])
        lines = b"".join(f": {name}: {value}\n".encode() for name, value in comments.items())
        remark = lines + b"\n" if lines else b""
        tail = self._buffer  # an unterminated last event goes out as it came
        done = [e for e in held if e.data.startswith("[DONE]")]
        rest = [e for e in held if not e.data.startswith("[DONE]")]
        return b"".join(e.raw for e in rest) + remark + b"".join(e.raw for e in done) + tail

    # -- reading the events ---------------------------------------------------------------------------------------

    def _closing(self, event: _Event) -> bool:
        if self.kind is RouteKind.RESPONSES:
            return event.type in _RESPONSES_CLOSING
        if event.data.startswith("[DONE]"):
            return True
        data = event.parsed
        if data is None:
            return False
        choices = data.get("choices") or []
        return (
            "error" in data
            or any(isinstance(c, dict) and c.get("finish_reason") for c in choices)
            or ("usage" in data and not choices)
        )

    def _observe(self, event: _Event) -> None:
        data = event.parsed
        if data is None:
            return
        if self.kind is RouteKind.RESPONSES:
            self._observe_responses(event.type, data)
            return
        if not self._template and "id" in data:
            self._template = {k: v for k, v in data.items() if k not in ("choices", "usage")}
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = int(choice.get("index", 0))
            if self.kind is RouteKind.COMPLETIONS:
                text = choice.get("text")
                logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
                self._logprobs += [float(v) for v in logprobs or [] if isinstance(v, int | float)]
            else:
                text = (choice.get("delta") or {}).get("content")
                for entry in (choice.get("logprobs") or {}).get("content") or []:
                    if isinstance(entry, dict) and isinstance(entry.get("logprob"), int | float):
                        self._logprobs.append(float(entry["logprob"]))
            if isinstance(text, str) and text:
                self._texts.setdefault(index, []).append(text)
            if choice.get("finish_reason"):
                self._finish[index] = str(choice["finish_reason"])

    def _observe_responses(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "response.output_text.delta":
            self._texts.setdefault(int(data.get("output_index", 0)), []).append(str(data.get("delta", "")))
            for entry in data.get("logprobs") or []:
                if isinstance(entry, dict) and isinstance(entry.get("logprob"), int | float):
                    self._logprobs.append(float(entry["logprob"]))
        elif kind == "response.completed":
            self._finish[0] = "stop"
        elif kind == "response.incomplete":
            reason = ((data.get("response") or {}).get("incomplete_details") or {}).get("reason")
            self._finish[0] = "length" if reason == "max_output_tokens" else str(reason or "incomplete")
        elif kind in ("response.failed", "error"):
            self._finish[0] = "error"

    # -- adding the notice ----------------------------------------------------------------------------------------

    def _with_addition(self, held: list[_Event], text: str) -> list[_Event]:
        if self.kind is RouteKind.RESPONSES:
            return self._responses_addition(held, text)
        indexes = [index for index in sorted(self._texts) if "".join(self._texts[index])]
        if not indexes or not held:
            return held
        added = []
        for index in indexes:
            if self.kind is RouteKind.COMPLETIONS:
                choice: dict[str, Any] = {"index": index, "text": NOTICE_SEPARATOR + text, "logprobs": None}
            else:
                choice = {"index": index, "delta": {"content": NOTICE_SEPARATOR + text}, "logprobs": None}
            choice["finish_reason"] = None
            raw = sse({**self._template, "choices": [choice]})
            added.append(_Event.parse(raw))
            self._texts[index].append(NOTICE_SEPARATOR + text)
        return added + held

    def _responses_addition(self, held: list[_Event], text: str) -> list[_Event]:
        """Insert a text delta before the last `output_text.done` and carry the text into every later event that
        repeats it, renumbering `sequence_number` from there."""
        done_at = [i for i, e in enumerate(held) if e.type == "response.output_text.done" and e.parsed is not None]
        if not done_at:
            return held
        position = done_at[-1]
        done = held[position].parsed or {}
        item_id, output_index = done.get("item_id"), int(done.get("output_index", 0))
        content_index = int(done.get("content_index", 0))
        suffix = NOTICE_SEPARATOR + text
        delta = {
            "type": "response.output_text.delta",
            "item_id": item_id,
            "output_index": output_index,
            "content_index": content_index,
            "delta": suffix,
            "logprobs": [],
            "sequence_number": done.get("sequence_number", 0),
        }
        self._texts.setdefault(output_index, []).append(suffix)
        result = [*held[:position], _Event.parse(sse(delta, "response.output_text.delta"))]
        for event in held[position:]:
            data = copy.deepcopy(event.parsed)
            if data is None:
                result.append(event)
                continue
            _append_text(data, item_id, output_index, content_index, suffix)
            if isinstance(data.get("sequence_number"), int):
                data["sequence_number"] += 1
            result.append(_Event.parse(sse(data, event.type)))
        return result


def _append_text(data: dict[str, Any], item_id: Any, output_index: int, content_index: int, suffix: str) -> None:
    kind = data.get("type")
    same_part = data.get("item_id") == item_id and int(data.get("content_index", 0)) == content_index
    if kind == "response.output_text.done" and same_part:
        data["text"] = str(data.get("text", "")) + suffix
    elif kind == "response.content_part.done" and same_part and isinstance(data.get("part"), dict):
        data["part"]["text"] = str(data["part"].get("text", "")) + suffix
    elif kind == "response.output_item.done" and isinstance(data.get("item"), dict):
        _append_to_item(data["item"], item_id, content_index, suffix)
    elif kind in ("response.completed", "response.incomplete") and isinstance(data.get("response"), dict):
        for item in data["response"].get("output") or []:
            if isinstance(item, dict):
                _append_to_item(item, item_id, content_index, suffix)


def _append_to_item(item: dict[str, Any], item_id: Any, content_index: int, suffix: str) -> None:
    content = item.get("content")
    if item.get("id") != item_id or not isinstance(content, list) or len(content) <= content_index:
        return
    part = content[content_index]
    if isinstance(part, dict) and "text" in part:
        part["text"] = str(part["text"]) + suffix
