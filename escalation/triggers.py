"""What the escalation triggers share: per-request bookkeeping (which triggers fired, what the user is shown) and the
"user asks for a human" measurement.

The request-side triggers (a user asking for a human, repeated probing) fire before the upstream is called, so a
hand-off can replace the answer without generating it; the answer-side ones (low confidence, a guard's escalation)
fire once the answer is complete; blocks are queued after the refusal went out.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from detectors.base import Detection, Detector, DetectorContext, TextRole
from detectors.terms import TermDetector
from escalation.answers import Shown
from escalation.confidence import Confidence, measure
from policies.schema import HumanRequestTrigger
from proxy.exchange import Exchange
from proxy.pipeline import FinishedAnswer

log = logging.getLogger("railguard.escalation")

STATE_KEY = "railguard.escalation.request"
PRIORITIES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


@dataclass
class Fired:
    """One trigger that fired (and was enforced) for this request."""

    trigger: str
    reason: str
    priority: int
    show: Shown
    notify: list[str]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestEscalation:
    """Layer 5's notes on one request, kept in ``exchange.state``."""

    fired: list[Fired] = field(default_factory=list)
    shown: Shown = Shown.ANSWER
    message: str | None = None  # the notice or hand-off text for `shown`
    answer: FinishedAnswer | None = None  # read when the review is written: by then it says what the user saw
    confidence: Confidence | None = None
    probed: bool = False  # the probing counters took this request into account

    def want(self, shown: Shown, message: str) -> None:
        """Ask for a presentation; the strongest asked for wins."""
        if shown > self.shown:
            self.shown, self.message = shown, message

    @property
    def handoff(self) -> str | None:
        return self.message if self.shown is Shown.HANDOFF else None


def bookkeeping(exchange: Exchange) -> RequestEscalation:
    found = exchange.state.get(STATE_KEY)
    if not isinstance(found, RequestEscalation):
        found = RequestEscalation()
        exchange.state[STATE_KEY] = found
    return found


def handoff_message(exchange: Exchange) -> str | None:
    """The hand-off a request-side trigger chose: the app answers with it instead of calling the upstream."""
    found = exchange.state.get(STATE_KEY)
    return found.handoff if isinstance(found, RequestEscalation) else None


def present(answer: FinishedAnswer, shown: Shown, message: str) -> None:
    if shown is Shown.HANDOFF:
        answer.hand_off(message)
    elif shown is Shown.NOTICE:
        answer.add_notice(message)


def confidence_of(exchange: Exchange, answer: FinishedAnswer) -> Confidence:
    """The answer's confidence, computed once per request whichever guard asks first."""
    notes = bookkeeping(exchange)
    if notes.confidence is None:
        notes.confidence = measure(exchange.findings, answer.finish_reasons, answer.token_logprobs)
    return notes.confidence


# ---------------------------------------------------------------------------------------------- asking for a human


_intent: Detector | None = None
_intent_checked = False


def intent_detector() -> Detector | None:
    """The intent detector (`detectors.intent`) when it is installed: the first Detector subclass there whose name
    starts with `intent` and that builds without arguments. None until that package lands."""
    global _intent, _intent_checked
    if _intent_checked:
        return _intent
    _intent_checked = True
    try:
        module = importlib.import_module("detectors.intent")
    except ImportError:
        return None
    for _, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, Detector) and value is not Detector and value.name.startswith("intent"):
            try:
                _intent = value()
            except TypeError:
                continue
            log.info("request_human: using the intent detector %s", value.__name__)
            break
    return _intent


class HumanRequest:
    """Does the user's last message ask for a human? In order of preference: an intent finding a pre-generation
    guard already made, the intent detector, the policy's phrase list."""

    LABEL = "request_human"

    def __init__(self, settings: HumanRequestTrigger) -> None:
        self.settings = settings
        self.phrases = TermDetector(settings.phrases)

    def from_findings(self, exchange: Exchange) -> Detection | None:
        for finding in exchange.findings:
            if self.LABEL in finding.detection.labels and not finding.detection.skipped:
                return finding.detection
        return None

    def score(self, detection: Detection) -> float:
        return float(detection.labels.get(self.LABEL, detection.score))

    async def detect(self, exchange: Exchange, run: Any) -> tuple[Detection, str] | None:
        """The detection and its source when the user asks for a human, else None. ``run`` is the guard's
        `detect` (model-backed detectors go to the inference pool)."""
        turns = exchange.view.user_turns()
        if not turns or not turns[-1].strip():
            return None
        text = turns[-1]
        measured = self.from_findings(exchange)
        if measured is not None:
            return (measured, "intent finding") if self.score(measured) > self.settings.intent_above else None
        detector = intent_detector()
        if detector is not None:
            context = DetectorContext(role=TextRole.USER, history=turns[:-1], embeddings=exchange.embeddings)
            detection: Detection = await run(detector, text, context)
            return (detection, "intent detector") if self.score(detection) > self.settings.intent_above else None
        detection = self.phrases.detect(self.ends(text), DetectorContext(role=TextRole.USER))
        return (detection, "phrase list") if detection.score > 0 else None

    @staticmethod
    def ends(text: str, chars: int = 1000) -> str:
        """The start and end of a long message: people ask for a person in a sentence of its own, first or last,
        and scanning a pasted document for hundreds of phrases would hold up the event loop (~6 ms per 10k
        characters)."""
        return text if len(text) <= 2 * chars else f"{text[:chars]}\n…\n{text[-chars:]}"
