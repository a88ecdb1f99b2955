"""Layer 1: refuse requests whose text is too large."""

from __future__ import annotations

from policies.schema import Action, PromptSize
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, Verdict


class PromptSizeGuard(Guard):
    name = "input.max_prompt"
    layer = Layer.INPUT
    settings: PromptSize

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        view = exchange.view
        verdicts = []
        chars = view.total_chars()
        if chars > self.settings.max_chars:
            verdicts.append(
                Verdict(
                    "prompt_too_large",
                    Action.BLOCK,
                    details={"chars": chars, "max_chars": self.settings.max_chars},
                    message=self.settings.message
                    or f"The request has {chars} characters of text; this service accepts at most "
                    f"{self.settings.max_chars}.",
                )
            )
        messages = view.message_count()
        if self.settings.max_messages is not None and messages > self.settings.max_messages:
            verdicts.append(
                Verdict(
                    "too_many_messages",
                    Action.BLOCK,
                    details={"messages": messages, "max_messages": self.settings.max_messages},
                    message=self.settings.message
                    or f"The request has {messages} messages; this service accepts at most "
                    f"{self.settings.max_messages}.",
                )
            )
        return verdicts
