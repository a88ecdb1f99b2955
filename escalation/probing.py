"""Repeated probing: one user (or session) that keeps hitting guards, or keeps sending near-identical requests.

Counts live in the shared state (`proxy.state`: in-process, or Redis so every replica sees the same counts) over a
sliding window, keyed by a digest of the tenant and the user (or session) id — never the id itself.

Near-identical means the same text once case, punctuation, digits and spacing are dropped, compared as a short
digest. Why a normalised digest rather than the shared encoder: it costs no model call on the request path, it is
what the state layer can count atomically across replicas (an item in a recent-items log), no user text sits in
Redis, and it catches what automated probing looks like — the same request retried with small edits (numbering,
punctuation, casing). Paraphrases are the attack memory's job: it compares meanings, once a reviewer confirms an
attack.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from policies.schema import ProbingTrigger
from proxy.exchange import Exchange
from proxy.state import StateStore

_LETTERS = re.compile(r"[^\W\d_]+")


def signature(text: str) -> str:
    """Texts that differ only in case, punctuation, digits or spacing share a signature."""
    words = _LETTERS.findall(unicodedata.normalize("NFKC", text).casefold())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()[:16]


def caller(exchange: Exchange) -> str | None:
    """Whom the counts are about: the user, else the session (None: an anonymous request is not counted, since a
    tenant's or key's traffic is many people)."""
    identity = exchange.identity
    for scope, value in (("user", identity.user), ("session", identity.session)):
        if value:
            digest = hashlib.sha256(f"{identity.tenant}\x00{value}".encode()).hexdigest()[:24]
            return f"{scope}:{digest}"
    return None


@dataclass(frozen=True, slots=True)
class Probe:
    """What the window holds for a caller after this request."""

    caller: str
    guard_hits: int
    similar: int
    first_in_window: bool  # the first time this caller crossed a limit in the current window

    def reason(self, settings: ProbingTrigger) -> str | None:
        parts = []
        if self.guard_hits > settings.max_guard_hits:
            parts.append(
                f"{self.guard_hits} guard hits in {settings.window_seconds}s (limit {settings.max_guard_hits})"
            )
        if self.similar > settings.max_similar:
            parts.append(
                f"{self.similar} near-identical requests in {settings.window_seconds}s (limit {settings.max_similar})"
            )
        return "; ".join(parts) or None


class Probing:
    def __init__(self, settings: ProbingTrigger) -> None:
        self.settings = settings

    def _key(self, kind: str, who: str) -> str:
        # The window is part of the key: a policy that changes it starts fresh counts instead of misreading old ones.
        return f"escalation:probe:{kind}:{self.settings.window_seconds}:{who}"

    async def observe(self, store: StateStore, exchange: Exchange, guard_hits: int) -> Probe | None:
        """Count this request (its text, and ``guard_hits`` blocks and escalations) and return the caller's window,
        or None for an anonymous request. Raises `proxy.state.StateError` when the state cannot be reached."""
        who = caller(exchange)
        if who is None:
            return None
        window = float(self.settings.window_seconds)
        turns = exchange.view.user_turns()
        similar = 0
        if turns and turns[-1].strip():
            mine = signature(turns[-1])
            recent = await store.push(
                self._key("texts", who), mine, window=window, max_items=max(4 * self.settings.max_similar, 100)
            )
            similar = sum(1 for item in recent if item.item == mine)
        hits = await store.hit(self._key("hits", who), limit=1e12, window=window, cost=float(guard_hits), force=True)
        probe = Probe(who, int(hits.used), similar, first_in_window=False)
        if probe.reason(self.settings) is None:
            return probe
        escalated = await store.incr(self._key("escalated", who), ttl=window)
        return Probe(who, probe.guard_hits, probe.similar, first_in_window=escalated == 1)

    async def add_hits(self, store: StateStore, exchange: Exchange, guard_hits: int) -> None:
        """Count guard hits found after the request was already observed (an escalation in the answer)."""
        who = caller(exchange)
        if who is not None and guard_hits:
            window = float(self.settings.window_seconds)
            await store.hit(self._key("hits", who), limit=1e12, window=window, cost=float(guard_hits), force=True)
