"""Personal data: masked on the way in (layer 1), restored for the user and scrubbed of leaks on the way out (layer 4).

The upstream sees stable placeholders (`<PERSON_1>`); the mapping lives in one `Vault` per request, in the
exchange's memory only, never in events or logs. Events carry entity types, counts and positions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from detectors.base import Detection, DetectorContext, Span, TextRole
from detectors.models.runtime import runtime
from policies.schema import Action, PiiLeakage, PiiMasking, PiiSettings, Policy
from proxy.exchange import Exchange
from proxy.masking import PiiAction, Vault
from proxy.pipeline import Guard, Layer, OutputPiece, TextTransform, Verdict

if TYPE_CHECKING:
    from detectors.pii.detector import PiiDetector

VAULT = "pii_vault"


@cache
def detector_for(model: str, recognizers: str | None) -> PiiDetector:
    """One detector per (model, staff recognizers) per process; the analyzers behind it are shared too."""
    # Imported here: Presidio pulls in spaCy and transformers, which a proxy without PII guards never needs.
    from detectors.pii.detector import PiiDetector

    return PiiDetector(model=model, custom_recognizers=recognizers)


def vault_of(exchange: Exchange) -> Vault:
    """The request's vault, created on first use and reserving every placeholder-shaped text the request holds."""
    vault = exchange.state.get(VAULT)
    if vault is None:
        texts = [slot.get() for slot in exchange.view.slots] + list(exchange.view.context_documents)
        vault = Vault(tenant_salt=exchange.state.get("pii_salt"), reserve=texts)
        exchange.state[VAULT] = vault
    assert isinstance(vault, Vault)
    return vault


def redacted(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span replaced by its type, for event samples (no vault involved)."""
    out, last = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < last:
            continue
        out.append(text[last : span.start])
        out.append(f"<{span.label}>")
        last = span.end
    out.append(text[last:])
    return "".join(out)


def mask_known(vault: Vault, text: str) -> str:
    """Replace every value the vault has masked in this request by its placeholder (longest values first)."""
    known = sorted(((vault.original(p) or "", p) for p in vault.placeholders()), key=lambda pair: -len(pair[0]))
    for value, placeholder in known:
        if value:
            text = text.replace(value, placeholder)
    return text


def entity_details(detection: Detection) -> dict[str, Any]:
    """What an event may say about personal data: types, counts and positions — never values."""
    return {
        "entities": dict(Counter(span.label for span in detection.spans)),
        "positions": [[span.start, span.end, span.label] for span in detection.spans],
    }


class _PiiGuard(Guard):
    settings: PiiSettings

    def __init__(self, settings: PiiSettings, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.detector = detector_for(settings.model, settings.recognizers)
        self.options: dict[str, Any] = {"threshold": settings.threshold, "language": settings.language}
        if settings.entities is not None:
            self.options["entities"] = list(settings.entities)
        if settings.thresholds:
            self.options["thresholds"] = dict(settings.thresholds)

    def warm_up(self) -> None:
        self.detector.warm_up()

    def action_of(self, entity: str) -> str:
        default: str = getattr(self.settings, "default_action", "mask")
        return self.settings.actions.get(entity, default)

    async def find(self, exchange: Exchange, texts: Sequence[str], role: TextRole) -> list[Detection]:
        """Detections for ``texts``, each text analysed at most once per request (event samples and masking share)."""
        cache: dict[tuple[str, str], Detection] = exchange.state.setdefault("pii_detections", {})
        key = repr(sorted(self.options.items()))
        missing = list(dict.fromkeys(t for t in texts if (t, key) not in cache))
        if missing:
            context = DetectorContext(role=role, options=self.options)
            for text, detection in zip(
                missing, await runtime.run(self.detector.detect_many, missing, context), strict=True
            ):
                cache[(text, key)] = detection
        return [cache[(t, key)] for t in texts]

    async def mask_sample(self, exchange: Exchange, text: str) -> str:
        """Event samples taken before masking ran (or from blocked text): mask what the vault knows, then redact
        whatever else the detector finds."""
        vault = exchange.state.get(VAULT)
        if isinstance(vault, Vault) and len(vault):
            text = mask_known(vault, text)
        [detection] = await self.find(exchange, [text], TextRole.USER)
        return redacted(text, detection.spans)


class PiiMaskingGuard(_PiiGuard):
    name = "input.pii"
    layer = Layer.INPUT
    settings: PiiMasking

    def __init__(self, settings: PiiMasking, policy: Policy) -> None:
        super().__init__(settings, policy)
        self.roles = [TextRole(role) for role in settings.roles]

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        slots = exchange.view.of(*self.roles)
        if not slots:
            return []
        exchange.state.setdefault("pii_salt", self.settings.hash_salt)
        texts = [slot.get() for slot in slots]
        detections = await self.find(exchange, texts, TextRole.USER)
        verdicts: list[Verdict] = []
        for slot, text, detection in zip(slots, texts, detections, strict=True):
            if not detection.spans:
                continue
            actions = {span.label: self.action_of(span.label) for span in detection.spans}
            sample = redacted(text, detection.spans)
            details = entity_details(detection)
            blocked = sorted({entity for entity, action in actions.items() if action == "block"})
            if blocked:
                verdicts.append(
                    Verdict(
                        "pii_blocked_entity",
                        Action.BLOCK,
                        detection,
                        sample=sample,
                        details={**details, "blocked": blocked},
                        message=self.settings.message,
                    )
                )
                continue
            changing = [span for span in detection.spans if actions[span.label] != "allow"]
            if not changing:
                verdicts.append(Verdict("pii_found", Action.LOG, detection, sample=sample, details=details))
                continue
            pii_actions = {entity: PiiAction(action) for entity, action in actions.items() if action != "allow"}
            verdicts.append(
                Verdict(
                    "pii_masked",
                    Action.MASK,
                    detection,
                    sample=sample,
                    details=details,
                    apply=self._masker(exchange, slot, text, changing, pii_actions),
                )
            )
        return verdicts

    @staticmethod
    def _masker(exchange: Exchange, slot: Any, text: str, spans: list[Span], actions: dict[str, PiiAction]) -> Any:
        def apply() -> None:
            slot.set(vault_of(exchange).mask(text, spans, actions).text)

        return apply

    def transform(self, exchange: Exchange, is_json: bool) -> TextTransform | None:
        vault = exchange.state.get(VAULT)
        if not isinstance(vault, Vault) or not len(vault):
            return None
        return vault.restorer(json_escape=is_json)


class PiiLeakageGuard(_PiiGuard):
    name = "output.pii_leakage"
    layer = Layer.OUTPUT
    settings: PiiLeakage

    async def check_output(self, exchange: Exchange, piece: OutputPiece) -> list[Verdict]:
        exchange.state.setdefault("pii_salt", self.settings.hash_salt)
        [detection] = await self.find(exchange, [piece.text], TextRole.OUTPUT)
        if not detection.spans:
            return []
        vault = vault_of(exchange)
        supplied = _supplied_text(exchange)
        leaked = [
            span
            for span in vault.unsupplied(piece.text, detection.spans)
            if piece.text[span.start : span.end].casefold() not in supplied
        ]
        if not leaked:
            return []
        leak = Detection(
            detection.detector,
            max(s.score for s in leaked),
            spans=leaked,
            labels={s.label: s.score for s in leaked},
            details=detection.details,
        )
        sample = redacted(piece.text, leaked)
        details = entity_details(leak)
        actions = {span.label: self.action_of(span.label) for span in leaked}
        if any(action == "block" for action in actions.values()):
            return [
                Verdict("pii_leak", Action.BLOCK, leak, sample=sample, details=details, message=self.settings.message)
            ]
        changing = [span for span in leaked if actions[span.label] != "allow"]
        if not changing:
            return [Verdict("pii_leak", Action.LOG, leak, sample=sample, details=details)]
        pii_actions = {entity: PiiAction(action) for entity, action in actions.items() if action != "allow"}
        text = piece.text

        def apply() -> None:
            piece.replace(vault.mask(text, changing, pii_actions, restorable=False).text)

        return [Verdict("pii_leak", Action.MASK, leak, sample=sample, details=details, apply=apply)]


def _supplied_text(exchange: Exchange) -> str:
    """What the caller sent in plain text (when input masking is off, a value it gave is not a leak)."""
    cached = exchange.state.get("pii_supplied_text")
    if cached is None:
        cached = "\n".join(slot.get() for slot in exchange.view.of(TextRole.USER, TextRole.SYSTEM, TextRole.TOOL))
        cached = cached.casefold()
        exchange.state["pii_supplied_text"] = cached
    return str(cached)
