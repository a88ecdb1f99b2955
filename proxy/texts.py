"""Where the text is in each OpenAI request and answer.

Guards never walk request JSON themselves: a `TextSlot` names one piece of text (a user turn, a content part, a
tool result, an answer, a tool call's arguments) with its role, and can read and rewrite it in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from detectors.base import TextRole
from proxy.errors import InvalidParameter


class RouteKind(StrEnum):
    CHAT = "chat.completions"
    COMPLETIONS = "completions"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"


@dataclass(slots=True)
class TextSlot:
    role: TextRole
    turn: int  # position in the conversation (message or item index); answers: the choice index
    container: Any  # the dict or list that holds the text
    key: str | int
    is_json: bool = False  # tool-call arguments: the text is JSON, rewrites must keep it valid
    channel: str = "content"  # answers: "content" or "tool:<n>"

    def get(self) -> str:
        value = self.container[self.key]
        return value if isinstance(value, str) else ""

    def set(self, value: str) -> None:
        self.container[self.key] = value


_MESSAGE_ROLES = {
    "user": TextRole.USER,
    "system": TextRole.SYSTEM,
    "developer": TextRole.SYSTEM,
    "assistant": TextRole.ASSISTANT,
    "tool": TextRole.TOOL,
    "function": TextRole.TOOL,
}

_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


def _content_slots(holder: dict[str, Any], key: str, role: TextRole, turn: int) -> list[TextSlot]:
    content = holder.get(key)
    if isinstance(content, str):
        return [TextSlot(role, turn, holder, key)]
    slots = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
                slots.append(TextSlot(role, turn, part, "text"))
    return slots


def _chat_slots(body: dict[str, Any]) -> list[TextSlot]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidParameter("'messages' is a required property and must be a non-empty array.", param="messages")
    slots: list[TextSlot] = []
    for turn, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _MESSAGE_ROLES:
            raise InvalidParameter(
                f"Invalid value for messages[{turn}]: each message needs a role of "
                f"{', '.join(sorted(_MESSAGE_ROLES))}.",
                param=f"messages[{turn}].role",
            )
        slots.extend(_content_slots(message, "content", _MESSAGE_ROLES[message["role"]], turn))
    return slots


def _completion_slots(body: dict[str, Any]) -> list[TextSlot]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [TextSlot(TextRole.USER, 0, body, "prompt")]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return [TextSlot(TextRole.USER, i, prompt, i) for i in range(len(prompt))]
        if all(isinstance(p, int) for p in prompt) or all(isinstance(p, list) for p in prompt):
            # Token arrays carry no text we can read; refusing is safer than passing them unguarded.
            raise InvalidParameter("Token-array prompts cannot be guarded; send text.", param="prompt")
    raise InvalidParameter("'prompt' is a required property and must be a string or array of strings.", param="prompt")


def _responses_slots(body: dict[str, Any]) -> list[TextSlot]:
    slots: list[TextSlot] = []
    if isinstance(body.get("instructions"), str):
        slots.append(TextSlot(TextRole.SYSTEM, -1, body, "instructions"))
    items = body.get("input")
    if isinstance(items, str):
        slots.append(TextSlot(TextRole.USER, 0, body, "input"))
        return slots
    if not isinstance(items, list):
        if body.get("previous_response_id") or body.get("conversation") or body.get("prompt"):
            return slots
        raise InvalidParameter("'input' is a required property.", param="input")
    for turn, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidParameter(f"Invalid value for input[{turn}].", param=f"input[{turn}]")
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in _MESSAGE_ROLES:
            slots.extend(_content_slots(item, "content", _MESSAGE_ROLES[item["role"]], turn))
        elif kind in ("function_call_output", "custom_tool_call_output") and isinstance(item.get("output"), str):
            slots.append(TextSlot(TextRole.TOOL, turn, item, "output"))
    return slots


def _embedding_slots(body: dict[str, Any]) -> list[TextSlot]:
    value = body.get("input")
    if isinstance(value, str):
        return [TextSlot(TextRole.USER, 0, body, "input")]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [TextSlot(TextRole.USER, i, value, i) for i in range(len(value))]
    if isinstance(value, list) and value and all(isinstance(v, int | list) for v in value):
        raise InvalidParameter("Token-array inputs cannot be guarded; send text.", param="input")
    raise InvalidParameter("'input' is a required property and must be a string or array of strings.", param="input")


_REQUEST_SLOTS = {
    RouteKind.CHAT: _chat_slots,
    RouteKind.COMPLETIONS: _completion_slots,
    RouteKind.RESPONSES: _responses_slots,
    RouteKind.EMBEDDINGS: _embedding_slots,
}


class RequestView:
    """The texts of one request, found once. ``context_documents`` come from `extra_body={"railguard":
    {"context": [...]}}`, which is removed from the body so the upstream never sees it."""

    def __init__(self, kind: RouteKind, body: dict[str, Any]) -> None:
        self.kind = kind
        self.body = body
        extension = body.pop("railguard", None)
        self.context_documents: list[str] = []
        if extension is not None:
            if not isinstance(extension, dict):
                raise InvalidParameter("'railguard' must be an object.", param="railguard")
            context = extension.get("context", [])
            if isinstance(context, str):
                context = [context]
            if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
                raise InvalidParameter("'railguard.context' must be an array of strings.", param="railguard.context")
            self.context_documents = context
        self.slots = _REQUEST_SLOTS[kind](body)

    @property
    def model(self) -> str:
        model = self.body.get("model")
        return model if isinstance(model, str) else ""

    def of(self, *roles: TextRole) -> list[TextSlot]:
        return [slot for slot in self.slots if slot.role in roles]

    def user_turns(self) -> list[str]:
        return [slot.get() for slot in self.of(TextRole.USER)]

    def total_chars(self) -> int:
        return sum(len(slot.get()) for slot in self.slots) + sum(len(d) for d in self.context_documents)

    def message_count(self) -> int:
        for key in ("messages", "input"):
            value = self.body.get(key)
            if isinstance(value, list):
                return len(value)
        return 1


# ---------------------------------------------------------------------------------------------- answers


def answer_slots(kind: RouteKind, body: dict[str, Any]) -> list[TextSlot]:
    """The texts of a (non-streamed) answer, in order."""
    slots: list[TextSlot] = []
    if kind is RouteKind.CHAT:
        for position, choice in enumerate(body.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", position)
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                slots.append(TextSlot(TextRole.OUTPUT, index, message, "content"))
            for number, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    slots.append(TextSlot(TextRole.OUTPUT, index, function, "arguments", True, f"tool:{number}"))
    elif kind is RouteKind.COMPLETIONS:
        for position, choice in enumerate(body.get("choices") or []):
            if isinstance(choice, dict) and isinstance(choice.get("text"), str):
                slots.append(TextSlot(TextRole.OUTPUT, choice.get("index", position), choice, "text"))
    elif kind is RouteKind.RESPONSES:
        for position, item in enumerate(body.get("output") or []):
            if not isinstance(item, dict):
                continue
            if item.get("type") == "message":
                for part in item.get("content") or []:
                    if (
                        isinstance(part, dict)
                        and part.get("type") == "output_text"
                        and isinstance(part.get("text"), str)
                    ):
                        slots.append(TextSlot(TextRole.OUTPUT, position, part, "text"))
            elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
                slots.append(TextSlot(TextRole.OUTPUT, position, item, "arguments", True, f"tool:{position}"))
    return slots
