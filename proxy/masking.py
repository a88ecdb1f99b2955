"""Reversible masking of personal data for one request, and its restoration on the way out.

The upstream model sees stable placeholders (``<PERSON_1>``, ``<EMAIL_ADDRESS_2>``); the client gets its own values
back, in whole answers, in streamed deltas and in JSON tool-call arguments. The mapping lives in a :class:`Vault`
that belongs to exactly one request: the pipeline creates it when the request arrives and drops it when the
response ends. It is never shared across requests or tenants, never logged (its ``repr`` shows a count only, and
it refuses to be pickled) and is safe to use from several threads.

Actions per entity type (the policy chooses):

- ``mask``: reversible placeholder, restored for the client;
- ``redact``: ``<PERSON>``, irreversible;
- ``hash``: ``<PERSON#3f2a9c1b0d4e5f60>``, a keyed hash (HMAC-SHA256 with the tenant's or deployment's salt), the
  same value gives the same token across requests of that tenant, irreversible;
- ``block``: left in place and reported; the pipeline blocks the request.

Placeholders that already occur in the user's own text are never issued (numbering skips them), and a literal
placeholder typed by the user after we issued the same one is itself masked, so the upstream never sees an
ambiguous token and the client gets exactly what it typed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

import regex  # type: ignore[import-untyped]

from detectors.base import Span

PLACEHOLDER = regex.compile(r"<(?P<type>[A-Z][A-Z0-9_]*?)_(?P<n>[1-9][0-9]*)>")
# Entity type given to a user's own literal placeholder text that has to be masked to stay unambiguous.
LITERAL_TYPE = "PLACEHOLDER"


class PiiAction(StrEnum):
    MASK = "mask"
    REDACT = "redact"
    HASH = "hash"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class MaskedEntity:
    """One handled occurrence, as events may record it: type, action and positions, never the value."""

    entity_type: str
    action: PiiAction
    start: int  # in the input text
    end: int
    masked_start: int  # in the output text
    masked_end: int
    score: float


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    entities: tuple[MaskedEntity, ...]

    @property
    def blocked(self) -> tuple[MaskedEntity, ...]:
        return tuple(e for e in self.entities if e.action is PiiAction.BLOCK)

    def counts(self) -> dict[str, int]:
        return dict(Counter(e.entity_type for e in self.entities))


class VaultError(ValueError):
    """Masking cannot be done as configured (e.g. hashing without a salt); fail closed."""


def _anonymizer() -> Any:
    from presidio_anonymizer import AnonymizerEngine

    global _ANONYMIZER
    if _ANONYMIZER is None:
        _ANONYMIZER = AnonymizerEngine()  # type: ignore[no-untyped-call]
    return _ANONYMIZER


_ANONYMIZER: Any = None


class Vault:
    """The placeholder <-> value mapping of one request.

    Use one per request: ``vault = Vault(tenant_salt=..., reserve=all_texts_of_the_request)``.
    """

    def __init__(
        self,
        *,
        tenant_salt: bytes | str | None = None,
        reserve: Iterable[str] = (),
        hash_length: int = 16,
    ) -> None:
        self._lock = threading.RLock()
        self._salt = tenant_salt.encode() if isinstance(tenant_salt, str) else tenant_salt
        self._hash_length = hash_length
        self._placeholder_by_value: dict[str, str] = {}
        self._value_by_placeholder: dict[str, str] = {}
        self._counters: Counter[str] = Counter()
        self._reserved: set[str] = set()
        self._supplied: set[str] = set()
        self._prefixes: frozenset[str] | None = None
        self.reserve(reserve)

    # --- never reveal anything -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Vault entries={len(self)}>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Vault holds personal data and is never serialised")

    def __len__(self) -> int:
        with self._lock:
            return len(self._value_by_placeholder)

    # --- placeholders ----------------------------------------------------------------------------------------
    def reserve(self, texts: Iterable[str]) -> None:
        """Keep placeholder-shaped text the user wrote out of our numbering (call with every text of the request)."""
        with self._lock:
            for text in texts:
                self._reserved.update(m.group(0) for m in PLACEHOLDER.finditer(text))

    def placeholder(self, entity_type: str, value: str) -> str:
        """The placeholder of ``value``: the same value always gets the same one within this vault."""
        with self._lock:
            existing = self._placeholder_by_value.get(value)
            if existing is not None:
                return existing
            kind = _placeholder_kind(entity_type)
            while True:
                self._counters[kind] += 1
                candidate = f"<{kind}_{self._counters[kind]}>"
                if candidate not in self._reserved and candidate not in self._value_by_placeholder:
                    break
            self._placeholder_by_value[value] = candidate
            self._value_by_placeholder[candidate] = value
            self._prefixes = None
            self._remember_supplied(value)
            return candidate

    def original(self, placeholder: str) -> str | None:
        with self._lock:
            return self._value_by_placeholder.get(placeholder)

    def placeholders(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._value_by_placeholder)

    def longest_placeholder(self) -> int:
        with self._lock:
            return max((len(p) for p in self._value_by_placeholder), default=0)

    def is_placeholder_prefix(self, text: str) -> bool:
        """True when ``text`` is a proper prefix of a placeholder this vault issued (a stream must wait)."""
        with self._lock:
            if self._prefixes is None:
                self._prefixes = frozenset(p[:i] for p in self._value_by_placeholder for i in range(1, len(p)))
            return text in self._prefixes

    # --- masking ---------------------------------------------------------------------------------------------
    def mask(
        self,
        text: str,
        spans: Sequence[Span],
        actions: Mapping[str, PiiAction | str] | None = None,
        default: PiiAction | str = PiiAction.MASK,
        *,
        restorable: bool = True,
    ) -> MaskResult:
        """Apply each span's action (by its label, the entity type) and return the new text.

        ``restorable=False`` is for text that must not come back to the client as it was (personal data leaked
        in an upstream answer): there ``mask`` degrades to ``redact``, our own placeholders in the answer are left
        for restoration, and the scrubbed values are not recorded as supplied by the user.
        """
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        chosen = {k: PiiAction(v) for k, v in (actions or {}).items()}
        fallback = PiiAction(default)
        items = sorted(_non_overlapping(spans), key=lambda s: s.start)
        if restorable:  # text the user (or the app) supplied, on its way upstream
            self.reserve([text])
            items += self._literal_placeholder_spans(text, items)
            items.sort(key=lambda s: s.start)
        if not items:
            return MaskResult(text=text, entities=())

        operators: dict[str, Any] = {}
        action_of: dict[str, PiiAction] = {}
        results = []
        for position, span in enumerate(items):
            action = PiiAction.MASK if span.label == LITERAL_TYPE else chosen.get(span.label, fallback)
            if action is PiiAction.MASK and not restorable:
                action = PiiAction.REDACT
            if action is PiiAction.HASH and not self._salt:
                raise VaultError("hash action needs a tenant or deployment salt")
            # One operator per occurrence: presidio-anonymizer applies operators per entity type, and the same
            # type can carry different actions only through distinct keys.
            key = f"OCC{position}"
            action_of[key] = action
            if action is PiiAction.MASK:  # number placeholders in reading order (the anonymizer works backwards)
                self.placeholder(span.label, text[span.start : span.end])
            operators[key] = self._operator(span.label, action, OperatorConfig)
            results.append(RecognizerResult(entity_type=key, start=span.start, end=span.end, score=span.score))
            if restorable:  # what the user gave; leaked values scrubbed from an answer stay "not supplied"
                self._remember_supplied(text[span.start : span.end])

        engine_result = _anonymizer().anonymize(text=text, analyzer_results=results, operators=operators)
        by_key = {item.entity_type: item for item in engine_result.items}
        entities = []
        for position, span in enumerate(items):
            item = by_key[f"OCC{position}"]
            entities.append(
                MaskedEntity(
                    entity_type=span.label,
                    action=action_of[f"OCC{position}"],
                    start=span.start,
                    end=span.end,
                    masked_start=item.start,
                    masked_end=item.end,
                    score=span.score,
                )
            )
        return MaskResult(text=engine_result.text, entities=tuple(entities))

    def _operator(self, entity_type: str, action: PiiAction, config: Any) -> Any:
        if action is PiiAction.MASK:
            return config("custom", {"lambda": lambda value: self.placeholder(entity_type, value)})
        if action is PiiAction.REDACT:
            return config("replace", {"new_value": f"<{_placeholder_kind(entity_type)}>"})
        if action is PiiAction.HASH:
            return config("custom", {"lambda": lambda value: self.hash_token(entity_type, value)})
        return config("keep", {})

    def hash_token(self, entity_type: str, value: str) -> str:
        if not self._salt:
            raise VaultError("hash action needs a tenant or deployment salt")
        digest = hmac.new(self._salt, f"{entity_type}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return f"<{_placeholder_kind(entity_type)}#{digest[: self._hash_length]}>"

    def _literal_placeholder_spans(self, text: str, taken: Sequence[Span]) -> list[Span]:
        """The user's own text that looks exactly like a placeholder we already issued gets masked too."""
        issued = self.placeholders()
        spans = []
        for match in PLACEHOLDER.finditer(text):
            if match.group(0) in issued and not any(s.start < match.end() and match.start() < s.end for s in taken):
                spans.append(Span(match.start(), match.end(), LITERAL_TYPE, 1.0))
        return spans

    # --- restoration -----------------------------------------------------------------------------------------
    def restore(self, text: str, *, json_escape: bool = False) -> str:
        """Put the original values back into an answer.

        ``json_escape=True`` is for text that is JSON (tool-call ``arguments``): a placeholder sits inside a JSON
        string there, so the value is inserted JSON-escaped (quotes, backslashes, control characters).
        """

        def replace(match: Any) -> str:
            value = self.original(match.group(0))
            if value is None:
                return str(match.group(0))
            return _json_escaped(value) if json_escape else value

        return str(PLACEHOLDER.sub(replace, text))

    def restorer(self, *, json_escape: bool = False) -> Restorer:
        return Restorer(self, json_escape=json_escape)

    # --- leakage ---------------------------------------------------------------------------------------------
    def is_supplied(self, value: str) -> bool:
        """Whether the user gave this value in this request (compared loosely: case, spacing, punctuation; for
        numbers also with or without a leading country or area code)."""
        keys = _comparison_keys(value)
        with self._lock:
            if any(key in self._supplied for key in keys):
                return True
            numbers = [k for k in keys if k.isdigit() and len(k) >= 7]
            return any(
                s.isdigit() and (s.endswith(n) or n.endswith(s)) and min(len(s), len(n)) >= 7
                for n in numbers
                for s in self._supplied
            )

    def unsupplied(self, text: str, spans: Sequence[Span]) -> list[Span]:
        """The spans of personal data in ``text`` (an answer) whose values the user did not supply."""
        leaked = []
        for span in spans:
            value = text[span.start : span.end]
            if PLACEHOLDER.fullmatch(value) and self.original(value) is not None:
                continue  # our own placeholder, not data
            if not self.is_supplied(value):
                leaked.append(span)
        return leaked

    def _remember_supplied(self, value: str) -> None:
        with self._lock:
            self._supplied.update(_comparison_keys(value))


class Restorer:
    """Restores placeholders in a stream of text deltas without ever releasing a placeholder fragment.

    ``feed(delta)`` returns what may be sent now; only a tail that could still become a placeholder this vault
    issued is held back (so never more than the longest placeholder minus one character). ``flush()`` returns
    the rest at the end of the stream.
    """

    def __init__(self, vault: Vault, *, json_escape: bool = False) -> None:
        self._vault = vault
        self._json_escape = json_escape
        self._pending = ""

    def __repr__(self) -> str:
        return f"<Restorer pending={len(self._pending)}>"

    @property
    def pending(self) -> int:
        """How many characters are held back right now."""
        return len(self._pending)

    def feed(self, delta: str) -> str:
        self._pending += delta
        hold_from = len(self._pending)
        cut = self._pending.rfind("<")
        if cut != -1 and self._vault.is_placeholder_prefix(self._pending[cut:]):
            hold_from = cut
        ready, self._pending = self._pending[:hold_from], self._pending[hold_from:]
        return self._vault.restore(ready, json_escape=self._json_escape)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return self._vault.restore(ready, json_escape=self._json_escape)


def _placeholder_kind(entity_type: str) -> str:
    kind = regex.sub(r"[^A-Z0-9_]", "_", entity_type.upper()).strip("_") or "PII"
    return kind if kind[0].isalpha() else f"PII_{kind}"


def _json_escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _non_overlapping(spans: Sequence[Span]) -> list[Span]:
    """Keep the first of overlapping spans by (score, length): anonymisation needs one answer per character."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if span.end > span.start and not any(span.start < k.end and k.start < span.end for k in kept):
            kept.append(span)
    return kept


def _comparison_keys(value: str) -> set[str]:
    """Loose forms of a value: casefolded words, and for number-like values their letters and digits only."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    words = " ".join(regex.findall(r"[\p{L}\p{N}]+", folded))
    keys = {words} if words else set()
    if sum(ch.isdigit() for ch in folded) >= 5:
        keys.add("".join(ch for ch in folded if ch.isalnum()))
        if not any(ch.isalpha() for ch in folded):
            keys.add("".join(ch for ch in folded if ch.isdigit()))
    return keys
