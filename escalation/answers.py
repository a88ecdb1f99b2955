"""A whole (non-streamed) answer as layer 5 sees it: its text, why it ended, its token log-probabilities, and the two
changes layer 5 may make to what the user sees (a notice after the answer, or a hand-off message instead of it).

Only one change is ever made: the strongest asked for (a hand-off beats a notice), so the order in which triggers
fire does not matter.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from proxy.texts import RouteKind, answer_slots

NOTICE_SEPARATOR = "\n\n"


class Shown(IntEnum):
    """What the user is shown, from mildest to strongest."""

    ANSWER = 0
    NOTICE = 1
    HANDOFF = 2

    @classmethod
    def named(cls, name: str) -> Shown:
        return cls[name.upper()]


def finish_reasons(kind: RouteKind, body: dict[str, Any]) -> list[str]:
    """Why each choice ended, in the chat vocabulary (`stop`, `length`, `content_filter`, `tool_calls`)."""
    if kind is RouteKind.RESPONSES:
        status = body.get("status")
        if status == "completed":
            return ["stop"]
        if status == "incomplete":
            reason = (body.get("incomplete_details") or {}).get("reason")
            return ["length" if reason == "max_output_tokens" else str(reason or "incomplete")]
        return [str(status)] if status else []
    return [
        str(choice["finish_reason"])
        for choice in body.get("choices") or []
        if isinstance(choice, dict) and choice.get("finish_reason")
    ]


def _floats(entries: Any, key: str) -> list[float]:
    if not isinstance(entries, list):
        return []
    return [float(e[key]) for e in entries if isinstance(e, dict) and isinstance(e.get(key), int | float)]


def token_logprobs(kind: RouteKind, body: dict[str, Any]) -> list[float]:
    """The upstream's per-token log-probabilities, when the client asked for them (empty otherwise)."""
    found: list[float] = []
    if kind is RouteKind.RESPONSES:
        for item in body.get("output") or []:
            for part in (item.get("content") or []) if isinstance(item, dict) else []:
                if isinstance(part, dict):
                    found += _floats(part.get("logprobs"), "logprob")
        return found
    for choice in body.get("choices") or []:
        logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
        if not isinstance(logprobs, dict):
            continue
        if kind is RouteKind.COMPLETIONS:
            values = logprobs.get("token_logprobs")
            found += [float(v) for v in values or [] if isinstance(v, int | float)]
        else:
            found += _floats(logprobs.get("content"), "logprob")
    return found


class JsonAnswer:
    """A non-streamed answer body (chat completion, completion or Responses object), changed in place."""

    def __init__(self, kind: RouteKind, body: dict[str, Any]) -> None:
        self.kind = kind
        self.body = body
        self.shown = Shown.ANSWER

    @property
    def text(self) -> str:
        return "\n".join(slot.get() for slot in answer_slots(self.kind, self.body) if not slot.is_json)

    @property
    def finish_reasons(self) -> list[str]:
        return finish_reasons(self.kind, self.body)

    @property
    def token_logprobs(self) -> list[float]:
        return token_logprobs(self.kind, self.body)

    def add_notice(self, text: str) -> None:
        if self.shown >= Shown.NOTICE:
            return
        self.shown = Shown.NOTICE
        last_per_turn = {slot.turn: slot for slot in answer_slots(self.kind, self.body) if not slot.is_json}
        for slot in last_per_turn.values():
            slot.set(slot.get() + NOTICE_SEPARATOR + text if slot.get() else text)

    def hand_off(self, text: str) -> None:
        if self.shown >= Shown.HANDOFF:
            return
        self.shown = Shown.HANDOFF
        if self.kind is RouteKind.RESPONSES:
            message: dict[str, Any] = next(
                (
                    item
                    for item in self.body.get("output") or []
                    if isinstance(item, dict) and item.get("type") == "message"
                ),
                {"type": "message", "id": "msg_railguard_handoff", "status": "completed", "role": "assistant"},
            )
            message["content"] = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
            self.body["output"] = [message]
            self.body.update({"status": "completed", "incomplete_details": None})
            return
        for choice in self.body.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            choice.update({"finish_reason": "stop", "logprobs": None})
            if self.kind is RouteKind.COMPLETIONS:
                choice["text"] = text
            else:
                choice["message"] = {"role": "assistant", "content": text, "refusal": None}
