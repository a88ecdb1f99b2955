"""The guard pipeline: runs the layers the active policy turns on, in order, and enforces what they decide.

Detectors measure, policies decide, **the pipeline enforces**, events record:

- a `Guard` reads the request or answer, runs its detector and returns `Verdict`s (the policy's decision plus an
  optional change to apply);
- the pipeline applies a verdict only in enforce mode, raises `GuardBlocked` for a block, queues escalations, and
  turns every verdict that is not a plain allow — and every guard failure — into a `GuardrailEvent`;
- a guard that fails or times out follows its `on_error` (block by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from detectors.base import Detection, Detector, DetectorContext, TextRole
from detectors.models.runtime import runtime
from policies.loader import ResolvedPolicy
from policies.schema import Action, Mode, OnError, Policy
from policies.schema import Guard as GuardSettings
from proxy.errors import GuardBlocked, RailguardError
from proxy.events import EventBus, GuardrailEvent, sample_of
from proxy.exchange import Escalation, Exchange, Finding
from proxy.texts import TextSlot, answer_slots

log = logging.getLogger("railguard.pipeline")


class Layer(StrEnum):
    INPUT = "input"
    PRE_GENERATION = "pre_generation"
    GENERATION = "generation"
    OUTPUT = "output"
    POST_RESPONSE = "post_response"


@dataclass(slots=True)
class Verdict:
    """A guard's decision about one thing it checked."""

    trigger: str
    action: Action
    detection: Detection | None = None
    sample: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    apply: Callable[[], None] | None = None  # the change this verdict makes, run only when enforcing
    message: str | None = None  # what the user is told on a block (default: the guard's or the policy's message)
    error: RailguardError | None = None  # raise this instead of GuardBlocked (e.g. a parameter the policy rejects)
    record: bool = False  # also record an event for an ALLOW (e.g. a skipped check worth knowing about)


@dataclass(slots=True)
class OutputPiece:
    """Answer text to check: a whole answer slot, or a window of a streamed answer with what preceded it."""

    text: str
    choice: int
    preceding: str = ""
    final: bool = True  # the last piece of this choice
    slot: TextSlot | None = None  # whole answers: where the text lives
    replacement: str | None = None  # set by an applied verdict to change the text released

    def replace(self, text: str) -> None:
        self.replacement = text
        self.text = text
        if self.slot is not None:
            self.slot.set(text)


class TextTransform(Protocol):
    """Rewrites answer text as it goes out (e.g. restoring masked PII). Streams call `feed` per delta and may hold
    back a little; `flush` returns what is left at the end."""

    def feed(self, text: str) -> str: ...

    def flush(self) -> str: ...


class FinishedAnswer(Protocol):
    """A complete answer about to leave the proxy (layer 5): what it says, and the changes layer 5 may make to what
    the user sees."""

    @property
    def text(self) -> str: ...

    @property
    def finish_reasons(self) -> list[str]: ...

    @property
    def token_logprobs(self) -> list[float]: ...

    def add_notice(self, text: str) -> None: ...

    def hand_off(self, text: str) -> None: ...


class Guard:
    """Base class of the pipeline's guards. A subclass sets `name` and `layer` and overrides the hooks it needs."""

    name: ClassVar[str] = "guard"
    layer: ClassVar[Layer] = Layer.INPUT

    def __init__(self, settings: GuardSettings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        self.mode = policy.guard_mode(settings)
        self.on_error = policy.guard_on_error(settings)
        self.timeout = settings.timeout_ms / 1000.0

    @property
    def enforcing(self) -> bool:
        return self.mode is Mode.ENFORCE

    def warm_up(self) -> None:
        """Load models before the first request (called off the event loop at start-up and reload)."""

    def prepare(self, exchange: Exchange) -> None:
        """Start work the answer will need (e.g. analysing supplied documents) while the upstream generates."""

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        """Layers 1-3: read (and, through verdicts, change) the request."""
        return []

    async def check_output(self, exchange: Exchange, piece: OutputPiece) -> list[Verdict]:
        """Layer 4: a whole answer or one window of a streamed answer."""
        return []

    async def finish_answer(self, exchange: Exchange, answer: FinishedAnswer) -> list[Verdict]:
        """Layer 5: a complete answer, before its last byte leaves (scores and triggers that read the answer)."""
        return []

    async def after_response(self, exchange: Exchange) -> list[Verdict]:
        """Layer 5: after the answer went out."""
        return []

    def transform(self, exchange: Exchange, is_json: bool) -> TextTransform | None:
        """Layer 4: a rewrite applied to answer text after the checks passed (None: this guard rewrites nothing).
        ``is_json``: the text is a tool call's JSON arguments."""
        return None

    async def detect(self, detector: Detector, text: str, context: DetectorContext) -> Detection:
        """Run a detector: model-backed ones in the runtime's bounded pool, cheap ones inline."""
        if detector.uses_models:
            return await runtime.run(detector.detect, text, context)
        return detector.detect(text, context)

    def context(self, exchange: Exchange, role: TextRole, **options: Any) -> DetectorContext:
        return DetectorContext(
            role=role,
            history=exchange.view.user_turns()[:-1],
            context_documents=exchange.view.context_documents,
            embeddings=exchange.embeddings,
            options=options,
        )


@dataclass
class ActivePolicy:
    """A resolved policy with its guards built, ready to serve requests."""

    resolved: ResolvedPolicy
    guards: list[Guard]

    @property
    def policy(self) -> Policy:
        return self.resolved.policy

    def of(self, *layers: Layer) -> list[Guard]:
        return [g for g in self.guards if g.layer in layers]

    @property
    def sample_masker(self) -> Guard | None:
        """The guard that masks personal data in event samples (the enforcing PII guard), if the policy has one."""
        return next((g for g in self.guards if g.enforcing and hasattr(g, "mask_sample")), None)

    @property
    def has_output_guards(self) -> bool:

        return any(type(g).check_output is not Guard.check_output for g in self.of(Layer.OUTPUT))

    @property
    def output_enforcing(self) -> bool:
        """Whether any output guard may hold back or change a streamed answer."""
        return any(
            g.enforcing and type(g).check_output is not Guard.check_output
            for g in self.guards
            if g.layer is Layer.OUTPUT
        )


class PipelineObserver(Protocol):
    """Watches the pipeline work (metrics, trace spans): a context around each layer's run and each guard's run."""

    def layer(self, exchange: Exchange, layer: Layer) -> AbstractContextManager[object]: ...

    def guard(self, exchange: Exchange, guard: Guard) -> AbstractContextManager[object]: ...


class _Unobserved:
    def layer(self, exchange: Exchange, layer: Layer) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def guard(self, exchange: Exchange, guard: Guard) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


class Pipeline:
    """Runs guards and enforces their verdicts. One per process; stateless across requests."""

    def __init__(self, events: EventBus, observer: PipelineObserver | None = None) -> None:
        self.events = events
        self.observer: PipelineObserver = observer or _Unobserved()

    # -- request side ---------------------------------------------------------------------------------------------

    async def check_request(self, exchange: Exchange) -> None:
        """Layers 1-3 in order. Raises GuardBlocked (or the verdict's error) when an enforcing guard blocks."""
        for layer in (Layer.INPUT, Layer.PRE_GENERATION, Layer.GENERATION):
            guards = exchange.active.of(layer)
            if not guards:
                continue
            with self.observer.layer(exchange, layer):
                for guard in guards:
                    verdicts = await self._run(guard, exchange, guard.check_request(exchange))
                    await self.enforce(exchange, guard, verdicts)
        # Layer 5 reads the request too (a user asking for a human may be handed off without calling the upstream).
        await self._post_response(exchange, lambda guard: guard.check_request(exchange))
        for guard in exchange.active.of(Layer.OUTPUT):
            guard.prepare(exchange)

    # -- answer side ----------------------------------------------------------------------------------------------

    async def check_output(
        self, exchange: Exchange, piece: OutputPiece, enforcing_only: bool = False, record: bool = True
    ) -> None:
        """Layer 4 on one piece. ``enforcing_only`` skips monitor-mode guards (the stream runs those off the path);
        ``record=False`` re-checks text whose decision was already recorded (no second event)."""
        guards = [g for g in exchange.active.of(Layer.OUTPUT) if g.enforcing or not enforcing_only]
        if not guards:
            return
        with self.observer.layer(exchange, Layer.OUTPUT):
            for guard in guards:
                verdicts = await self._run(guard, exchange, guard.check_output(exchange, piece))
                await self.enforce(exchange, guard, verdicts, record=record)

    async def check_output_monitored(self, exchange: Exchange, piece: OutputPiece) -> None:
        """Layer 4 for guards in monitor mode only: records what they would have done."""
        guards = [g for g in exchange.active.of(Layer.OUTPUT) if not g.enforcing]
        if not guards:
            return
        with self.observer.layer(exchange, Layer.OUTPUT):
            for guard in guards:
                verdicts = await self._run(guard, exchange, guard.check_output(exchange, piece))
                await self.enforce(exchange, guard, verdicts)

    def transforms(self, exchange: Exchange, is_json: bool = False) -> list[TextTransform]:
        """Rewrites of answer text from any layer (input PII masking restores its placeholders here)."""
        found = (g.transform(exchange, is_json) for g in exchange.active.guards if g.enforcing)
        return [t for t in found if t is not None]

    async def check_answer(self, exchange: Exchange, body: dict[str, Any]) -> None:
        """Layer 4 on a whole (non-streamed) answer: check each text, then apply the output transforms."""
        slots = answer_slots(exchange.kind, body)
        for slot in slots:
            if slot.is_json:
                continue
            piece = OutputPiece(slot.get(), slot.turn, slot=slot)
            await self.check_output(exchange, piece)
        for slot in slots:
            chain = self.transforms(exchange, slot.is_json)
            if chain:
                text = slot.get()
                for transform in chain:
                    text = transform.feed(text) + transform.flush()
                slot.set(text)

    async def finish_answer(self, exchange: Exchange, answer: FinishedAnswer) -> None:
        await self._post_response(exchange, lambda guard: guard.finish_answer(exchange, answer))

    async def after_response(self, exchange: Exchange) -> None:
        await self._post_response(exchange, lambda guard: guard.after_response(exchange))

    async def _post_response(self, exchange: Exchange, hook: Callable[[Guard], Awaitable[list[Verdict]]]) -> None:
        """Layer 5 never stops an answer that layers 1-4 passed: a block (or a failure with `on_error: block`) is
        recorded and the answer goes on."""
        guards = exchange.active.of(Layer.POST_RESPONSE)
        if not guards:
            return
        with self.observer.layer(exchange, Layer.POST_RESPONSE):
            for guard in guards:
                try:
                    verdicts = await self._run(guard, exchange, hook(guard))
                    await self.enforce(exchange, guard, verdicts)
                except RailguardError:
                    continue

    # -- enforcement ----------------------------------------------------------------------------------------------

    async def _run(self, guard: Guard, exchange: Exchange, hook: Any) -> list[Verdict]:
        with self.observer.guard(exchange, guard):
            started = time.perf_counter()
            try:
                verdicts: list[Verdict] = await asyncio.wait_for(hook, guard.timeout)
            except RailguardError:
                raise
            except Exception as exc:  # a guard failure must never become a 500 or an unguarded answer
                return [self._failure(guard, exc)]
            finally:
                exchange.state.setdefault("guard_ms", {})[guard.name] = (time.perf_counter() - started) * 1000.0
            return verdicts

    def _failure(self, guard: Guard, exc: BaseException) -> Verdict:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("guard %s failed: %s", guard.name, reason, exc_info=not isinstance(exc, TimeoutError))
        blocking = guard.on_error is OnError.BLOCK
        return Verdict(
            trigger="guard_error",
            action=Action.BLOCK if blocking else Action.ALLOW,
            details={"error": reason[:300], "on_error": guard.on_error.value},
            message="This request could not be checked right now; please try again later." if blocking else None,
            record=True,
        )

    async def enforce(self, exchange: Exchange, guard: Guard, verdicts: Sequence[Verdict], record: bool = True) -> None:
        block: tuple[Verdict, Guard] | None = None
        for verdict in verdicts:
            if verdict.detection is not None and record:
                exchange.findings.append(Finding(guard.name, guard.layer.value, verdict.detection, verdict.action))
            if verdict.action is Action.ALLOW and not verdict.record:
                continue
            enforced = guard.enforcing
            if record:
                await self.record(exchange, guard, verdict, enforced)

            if not enforced:
                if verdict.action is not Action.ALLOW:
                    exchange.monitor_notes.append(f"would_{verdict.action.value}:{guard.layer.value}/{verdict.trigger}")
                continue
            if verdict.apply is not None and verdict.action is not Action.BLOCK:
                verdict.apply()
            if verdict.action is Action.ESCALATE:
                score = verdict.detection.score if verdict.detection else None
                reason = verdict.details.get("reason", verdict.trigger)
                exchange.escalations.append(Escalation(guard.name, guard.layer.value, verdict.trigger, reason, score))
            elif verdict.action is Action.BLOCK and block is None:
                block = (verdict, guard)
        if block is not None:
            verdict, guard = block
            if verdict.error is not None:
                raise verdict.error
            message = verdict.message or guard.settings.message or guard.policy.refusal.message
            raise GuardBlocked(message, layer=guard.layer.value, trigger=verdict.trigger, guard=guard.name)

    async def record(self, exchange: Exchange, guard: Guard, verdict: Verdict, enforced: bool) -> None:
        event = self._event(exchange, guard, verdict, enforced)
        sample = verdict.sample
        masker = exchange.active.sample_masker
        if sample and masker is not None and masker is not guard:
            # A sample may hold personal data the PII guard has not masked (yet). Its detection is cached on the
            # exchange, so the PII guard does not analyse the same text twice.
            try:
                sample = await masker.mask_sample(exchange, sample)  # type: ignore[attr-defined]
            except Exception:
                log.exception("masking an event sample failed; the sample is dropped")
                sample = ""
        event.sample = sample_of(sample) if sample else ""
        self.events.emit(event)

    def _event(self, exchange: Exchange, guard: Guard, verdict: Verdict, enforced: bool) -> GuardrailEvent:
        detection = verdict.detection
        details = dict(verdict.details)
        if detection is not None:
            details.setdefault("labels", {k: round(v, 4) for k, v in detection.labels.items()})
            if detection.skipped:
                details.setdefault("skipped", detection.skipped)
        identity = exchange.identity
        return GuardrailEvent(
            layer=guard.layer.value,
            trigger=verdict.trigger,
            action=verdict.action.value,
            guard=guard.name,
            request_id=exchange.request_id,
            tenant=identity.tenant,
            policy=exchange.active.resolved.name,
            policy_version=exchange.active.resolved.version,
            user=identity.user,
            session=identity.session,
            detector=detection.detector if detection else None,
            confidence=round(detection.score, 4) if detection else None,
            enforced=enforced,
            latency_ms=round(exchange.state.get("guard_ms", {}).get(guard.name, 0.0), 3),
            route=exchange.route,
            model=exchange.model or None,
            details=details,
        )

    def record_system(self, exchange: Exchange, layer: Layer, trigger: str, action: Action, **details: Any) -> None:
        """An event that no guard produced (pass-through routes, upstream failures mid-stream)."""
        identity = exchange.identity
        self.events.emit(
            GuardrailEvent(
                layer=layer.value,
                trigger=trigger,
                action=action.value,
                guard="proxy",
                request_id=exchange.request_id,
                tenant=identity.tenant,
                policy=exchange.active.resolved.name,
                policy_version=exchange.active.resolved.version,
                user=identity.user,
                session=identity.session,
                route=exchange.route,
                model=exchange.model or None,
                details=details,
            )
        )
