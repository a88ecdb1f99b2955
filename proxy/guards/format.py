"""Layer 4, last: does the answer have the format the request (`response_format`) and the policy ask for?

Whole answers are checked as they are. Streamed answers that must be JSON are held back whole by the streaming engine
(``HOLD_WHOLE_ANSWER``; JSON can only be validated complete) and checked on their one, final piece; other streamed
answers are checked window by window for the rules a window can break (`must_not_match`, `max_chars`) and on the
last window for the rest. On failure: block, escalate, or — whole answers only, once — ask the upstream again with
the validation errors (`ReaskRequested`, which the route handles).
"""

from __future__ import annotations

from typing import Any

from detectors.base import DetectorContext, TextRole
from detectors.format import FormatDetector, FormatRules
from policies.schema import Action, Format, Policy
from proxy.errors import ReaskRequested
from proxy.exchange import Exchange
from proxy.pipeline import Guard, Layer, OutputPiece, Verdict
from proxy.streaming import HOLD_WHOLE_ANSWER
from proxy.texts import RouteKind

_REASKED = "format_reasked"
_SEEN = "format_text"  # per choice: the streamed answer text checked so far


def requested_format(kind: RouteKind, body: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(must be JSON, its schema or None) from chat's ``response_format`` or the Responses API's ``text.format``."""
    if kind is RouteKind.CHAT:
        spec = body.get("response_format")
        schema_holder = spec.get("json_schema") if isinstance(spec, dict) else None
    elif kind is RouteKind.RESPONSES:
        text = body.get("text")
        spec = text.get("format") if isinstance(text, dict) else None
        schema_holder = spec  # Responses puts name/schema/strict beside "type"
    else:
        return False, None
    if not isinstance(spec, dict):
        return False, None
    if spec.get("type") == "json_object":
        return True, None
    if spec.get("type") == "json_schema" and isinstance(schema_holder, dict):
        schema = schema_holder.get("schema")
        return True, schema if isinstance(schema, dict) else {}
    return False, None


def reask_body(kind: RouteKind, body: dict[str, Any], answer: str, feedback: str) -> dict[str, Any]:
    """The request again, with the rejected answer and what was wrong with it appended as the last two turns."""
    turns = [{"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]
    if kind is RouteKind.RESPONSES:
        previous = body.get("input")
        items = [{"role": "user", "content": previous}] if isinstance(previous, str) else list(previous or [])
        return {**body, "input": [*items, *turns]}
    return {**body, "messages": [*(body.get("messages") or []), *turns]}


class FormatGuard(Guard):
    name = "output.format"
    layer = Layer.OUTPUT
    settings: Format

    def __init__(self, settings: Format, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = FormatDetector()

    def rules(self, exchange: Exchange) -> FormatRules:
        is_json, schema = (
            requested_format(exchange.kind, exchange.body) if self.settings.response_format else (False, None)
        )
        s = self.settings
        return FormatRules(is_json, schema, s.must_match, s.must_not_match, s.min_chars, s.max_chars, s.languages)

    def prepare(self, exchange: Exchange) -> None:
        if exchange.stream and self.enforcing and self.rules(exchange).json:
            exchange.state[HOLD_WHOLE_ANSWER] = True

    async def check_output(self, exchange: Exchange, piece: OutputPiece) -> list[Verdict]:
        rules = self.rules(exchange)
        if rules.empty:
            return []
        if piece.slot is None:  # a window of a streamed answer
            seen: dict[int, str] = exchange.state.setdefault(_SEEN, {})
            seen[piece.choice] = seen.get(piece.choice, "") + piece.text
            text = seen[piece.choice]
            if not piece.final:
                # Only what a part can already break; the JSON, must_match, min_chars and language need the whole.
                rules = FormatRules(must_not_match=rules.must_not_match, max_chars=rules.max_chars)
                if rules.empty:
                    return []
        else:
            text = piece.text
        detection = await self.detect(
            self.detector, text, DetectorContext(role=TextRole.OUTPUT, options={"rules": rules})
        )
        if detection.skipped or detection.score == 0.0:
            return []
        errors: list[str] = detection.details["errors"]
        details: dict[str, Any] = {"errors": errors}
        if self.settings.action == "escalate":
            return [Verdict("format_invalid", Action.ESCALATE, detection, sample=text, details=details)]
        if self.settings.action == "reask" and piece.slot is not None and not exchange.state.get(_REASKED):
            feedback = self.settings.reask_prompt.replace("{errors}", "; ".join(errors))

            def reask() -> None:
                exchange.state[_REASKED] = True
                raise ReaskRequested(reask_body(exchange.kind, exchange.body, piece.text, feedback))

            details["reask"] = True
            return [Verdict("format_invalid", Action.REWRITE, detection, sample=text, details=details, apply=reask)]
        if exchange.state.get(_REASKED):
            details["after_reask"] = True
        message = self.settings.message or "The answer did not have the required format."
        return [Verdict("format_invalid", Action.BLOCK, detection, sample=text, details=details, message=message)]
