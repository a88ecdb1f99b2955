"""Nothing raw reaches the review store, a notifier or the attack memory: every text is masked first.

Two layers. When the PII guard ran, its per-request vault (`proxy.masking.Vault`: ``placeholders()`` and
``original(placeholder)``) holds every value it masked: each is put back behind its placeholder (that also re-masks
answers whose PII was restored for the user). The vault is looked up in ``exchange.state["pii_vault"]``, or as any
vault-shaped value in ``exchange.state``. Then the cheap masks of event samples (`proxy.events.masked`: e-mail
addresses, card, phone and social-security numbers) run on everything, so even without the PII guard those never
reach the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.events import masked
from proxy.exchange import Exchange

VAULT_KEY = "pii_vault"
MAX_TEXT = 20_000  # per stored text: enough to judge, bounded so one request cannot bloat the queue


def _vault_shaped(value: Any) -> bool:
    return callable(getattr(value, "placeholders", None)) and callable(getattr(value, "original", None))


def vault_pairs(vault: Any) -> list[tuple[str, str]]:
    """(original value, placeholder) for every value a vault masked; a plain mapping placeholder -> value works too."""
    if _vault_shaped(vault):
        found = ((vault.original(p), p) for p in vault.placeholders())
        return [(str(original), str(p)) for original, p in found if original]
    if isinstance(vault, Mapping):
        return [(str(original), str(placeholder)) for placeholder, original in vault.items() if original]
    return []


class Masker:
    """Masks texts of one exchange."""

    def __init__(self, vault: Any = None) -> None:
        pairs = vault_pairs(vault)
        self._pairs = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)  # longest first: no partial hits

    @classmethod
    def of(cls, exchange: Exchange) -> Masker:
        vault = exchange.state.get(VAULT_KEY)
        if vault is None:
            vault = next((v for v in exchange.state.values() if _vault_shaped(v)), None)
        return cls(vault)

    def text(self, text: str, limit: int = MAX_TEXT) -> str:
        # Cut first (with a margin, so a value straddling the cut is masked whole or cut away), then mask: the work
        # stays bounded however long the request was.
        text = text[: limit + 256]
        for original, placeholder in self._pairs:
            text = text.replace(original, placeholder)
        text = masked(text)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def value(self, value: Any) -> Any:
        """Mask every string inside a JSON-like value."""
        if isinstance(value, str):
            return self.text(value, limit=2000)
        if isinstance(value, Mapping):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def conversation(self, exchange: Exchange) -> list[dict[str, str]]:
        """The request's texts in order (as the client sent them, after the input guards' masking)."""
        turns = [{"role": slot.role.value, "text": self.text(slot.get())} for slot in exchange.view.slots]
        turns += [{"role": "context", "text": self.text(doc, limit=4000)} for doc in exchange.view.context_documents]
        return turns

    def last_user_text(self, exchange: Exchange) -> str:
        turns = exchange.view.user_turns()
        return self.text(turns[-1]) if turns else ""
