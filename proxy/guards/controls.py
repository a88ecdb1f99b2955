"""Layer 3, generation controls: the policy rewrites the upstream request. Every enforcement is an event."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from policies.schema import Action, ModelList, NumberCap, SystemPrompt, TokenCap, ToolList
from proxy.errors import InvalidParameter
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, Verdict
from proxy.texts import RouteKind

_SYSTEM_ROLES = ("system", "developer")


class SystemPromptGuard(Guard):
    """An enforced system prompt: prepended, appended or replacing the client's. The client cannot remove it."""

    name = "generation.system_prompt"
    layer = Layer.GENERATION
    settings: SystemPrompt

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        body = exchange.body
        text, position = self.settings.text, self.settings.position
        if exchange.kind is RouteKind.CHAT:
            return [
                Verdict(
                    "system_prompt",
                    Action.REWRITE,
                    apply=lambda: _chat_system(body, text, position),
                    details={"position": position},
                )
            ]
        if exchange.kind is RouteKind.RESPONSES:
            return [
                Verdict(
                    "system_prompt",
                    Action.REWRITE,
                    apply=lambda: _instructions(body, text, position),
                    details={"position": position},
                )
            ]
        return []  # completions and embeddings have no system prompt to enforce


def _chat_system(body: dict[str, Any], text: str, position: str) -> None:
    messages: list[Any] = body["messages"]
    ours = {"role": "system", "content": text}
    leading = 0
    while (
        leading < len(messages)
        and isinstance(messages[leading], dict)
        and messages[leading].get("role") in _SYSTEM_ROLES
    ):
        leading += 1
    if position == "replace":
        messages[:] = [m for m in messages if not (isinstance(m, dict) and m.get("role") in _SYSTEM_ROLES)]
        messages.insert(0, ours)
    elif position == "append":
        messages.insert(leading, ours)
    else:
        messages.insert(0, ours)


def _instructions(body: dict[str, Any], text: str, position: str) -> None:
    current = body.get("instructions") if isinstance(body.get("instructions"), str) else None
    if position == "replace" or not current:
        body["instructions"] = text
    elif position == "append":
        body["instructions"] = f"{current}\n\n{text}"
    else:
        body["instructions"] = f"{text}\n\n{current}"


def _setter(body: dict[str, Any], key: str, value: Any) -> Callable[[], None]:
    def apply() -> None:
        body[key] = value

    return apply


class _CapGuard(Guard):
    parameter: str = ""

    def _cap(
        self, exchange: Exchange, keys: list[str], limit: float, action: str, set_missing: str | None
    ) -> list[Verdict]:
        body = exchange.body
        present = [k for k in keys if isinstance(body.get(k), int | float) and not isinstance(body.get(k), bool)]
        over = [k for k in present if body[k] > limit]
        if over and action == "reject":
            key = over[0]
            error = InvalidParameter(
                f"'{key}' is {body[key]}, above this service's limit of {limit}.",
                param=key,
                code="policy_limit_exceeded",
            )
            return [
                Verdict(
                    f"{self.parameter}_above_cap", Action.BLOCK, details={key: body[key], "max": limit}, error=error
                )
            ]
        verdicts = []
        for key in over:
            verdicts.append(
                Verdict(
                    f"{self.parameter}_clamped",
                    Action.REWRITE,
                    details={key: body[key], "max": limit},
                    apply=_setter(body, key, limit),
                )
            )
        if not present and set_missing is not None:
            verdicts.append(
                Verdict(
                    f"{self.parameter}_set",
                    Action.REWRITE,
                    details={set_missing: limit},
                    apply=_setter(body, set_missing, limit),
                )
            )
        return verdicts


class TemperatureGuard(_CapGuard):
    name = "generation.temperature"
    layer = Layer.GENERATION
    parameter = "temperature"
    settings: NumberCap

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        if exchange.kind is RouteKind.EMBEDDINGS:
            return []
        return self._cap(exchange, ["temperature"], self.settings.max, self.settings.action, None)


class TopPGuard(_CapGuard):
    name = "generation.top_p"
    layer = Layer.GENERATION
    parameter = "top_p"
    settings: NumberCap

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        if exchange.kind is RouteKind.EMBEDDINGS:
            return []
        return self._cap(exchange, ["top_p"], self.settings.max, self.settings.action, None)


_TOKEN_KEYS = {
    RouteKind.CHAT: (["max_tokens", "max_completion_tokens"], "max_completion_tokens"),
    RouteKind.COMPLETIONS: (["max_tokens"], "max_tokens"),
    RouteKind.RESPONSES: (["max_output_tokens"], "max_output_tokens"),
}


class MaxTokensGuard(_CapGuard):
    name = "generation.max_tokens"
    layer = Layer.GENERATION
    parameter = "max_tokens"
    settings: TokenCap

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        if exchange.kind not in _TOKEN_KEYS:
            return []
        keys, default_key = _TOKEN_KEYS[exchange.kind]
        return self._cap(exchange, keys, self.settings.max, self.settings.action, default_key)


class ModelGuard(Guard):
    """Aliases first (`fast` → `gpt-4o-mini`), then the allow-list."""

    name = "generation.models"
    layer = Layer.GENERATION
    settings: ModelList

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        body = exchange.body
        requested = exchange.model
        verdicts = []
        target = self.settings.aliases.get(requested, requested)
        if target != requested:
            verdicts.append(
                Verdict(
                    "model_aliased",
                    Action.REWRITE,
                    details={"from": requested, "to": target},
                    apply=_setter(body, "model", target),
                )
            )
        if not any(fnmatch.fnmatchcase(target, pattern) for pattern in self.settings.allow):
            error = InvalidParameter(
                f"The model '{requested}' is not allowed by this service's policy.",
                param="model",
                code="model_not_allowed",
            )
            verdicts.append(Verdict("model_not_allowed", Action.BLOCK, details={"model": target}, error=error))
        return verdicts


def _tool_name(tool: Any) -> str:
    if not isinstance(tool, dict):
        return ""
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    if isinstance(tool.get("name"), str):
        return str(tool["name"])
    return str(tool.get("type", ""))


class ToolGuard(Guard):
    """Tools/functions a request may offer: others are stripped or the request is refused."""

    name = "generation.tools"
    layer = Layer.GENERATION
    settings: ToolList

    def _allowed(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.settings.allow)

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        body = exchange.body
        denied = [
            (key, _tool_name(tool))
            for key in ("tools", "functions")
            if isinstance(body.get(key), list)
            for tool in body[key]
            if not self._allowed(_tool_name(tool))
        ]
        if not denied:
            return []
        names = sorted({name for _, name in denied})
        if self.settings.action == "reject":
            error = InvalidParameter(
                f"Tools not allowed by this service's policy: {', '.join(names)}.",
                param="tools",
                code="tool_not_allowed",
            )
            return [Verdict("tool_not_allowed", Action.BLOCK, details={"tools": names}, error=error)]
        return [
            Verdict(
                "tools_stripped", Action.REWRITE, details={"tools": names}, apply=lambda: self._strip(body, set(names))
            )
        ]

    def _strip(self, body: dict[str, Any], names: set[str]) -> None:
        for key in ("tools", "functions"):
            if isinstance(body.get(key), list):
                kept = [tool for tool in body[key] if _tool_name(tool) not in names]
                if kept:
                    body[key] = kept
                else:
                    del body[key]
        for choice_key in ("tool_choice", "function_call"):
            choice = body.get(choice_key)
            if isinstance(choice, dict) and _tool_name(choice) in names:
                del body[choice_key]
        if "tools" not in body and "functions" not in body:
            for key in ("tool_choice", "parallel_tool_calls", "function_call"):
                body.pop(key, None)
