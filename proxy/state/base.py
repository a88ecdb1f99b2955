"""The state interface: counters, sliding windows, concurrency slots and recent-item logs, shared by every guard
that needs memory across requests (rate limits, escalation's probing counters).

Two backends implement it: `MemoryStore` (one process; the embedded default) and `RedisStore` (shared by every
replica). Every operation is atomic on its key. Keys are plain strings chosen by the caller (e.g.
``"rl:user:alice:rpm"``); the backend adds its own prefix. Backend failures (unreachable, timed out) raise
`StateError` and nothing else, so callers can apply the policy's ``on_error`` in one place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class StateError(Exception):
    """The state backend failed: unreachable, too slow (timeout) or answered an error. The operation may or may not
    have been applied."""


@dataclass(frozen=True, slots=True)
class WindowHit:
    """The outcome of `StateStore.hit` on a sliding window."""

    allowed: bool
    """The cost fitted under the limit (or was forced) and was recorded."""
    used: float
    """Total cost recorded in the window after this call (the new entry included when allowed)."""
    limit: float
    retry_after: float | None
    """Seconds until this cost would fit (0 when allowed; None when it can never fit: cost > limit)."""
    reset_after: float
    """Seconds until the window is empty again (every recorded entry has aged out)."""
    entry: str | None = None
    """The id of the recorded entry, for `StateStore.adjust` (None when nothing was recorded)."""

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class SlotGrant:
    """The outcome of `StateStore.acquire`."""

    acquired: bool
    in_use: int
    """Slots held after this call (this one included when acquired)."""
    limit: int
    token: str | None = None
    """Pass to `StateStore.release` (None when not acquired)."""


@dataclass(frozen=True, slots=True)
class RecentItem:
    at: float
    """When it was added (Unix time, seconds; the backend's clock)."""
    item: str


class StateStore(ABC):
    """One interface, two backends. Methods are coroutines; none blocks the event loop."""

    name: str = "state"
    remote: bool = False  # calls cross the network: worth running several at once (memory: run them in turn)

    # -- sliding windows (sliding-window log: at most ``limit`` in ANY ``window`` seconds, no boundary bursts) --

    @abstractmethod
    async def hit(
        self, key: str, *, limit: float, window: float, cost: float = 1.0, force: bool = False, entry: str | None = None
    ) -> WindowHit:
        """Record ``cost`` in the sliding window ``key`` if the window's total plus ``cost`` stays within ``limit``
        (always when ``force``: e.g. charging tokens already spent). ``cost=0`` only reads. ``entry`` names the
        recorded entry (a fresh id when omitted) so that `adjust` can change it later. Entries age out ``window``
        seconds after they were recorded."""

    @abstractmethod
    async def adjust(self, key: str, entry: str, cost: float, *, window: float) -> None:
        """Change the cost of a recorded entry (e.g. estimated tokens -> the upstream's usage); ``cost=0`` removes it.
        If the entry already aged out, a positive difference is recorded as a new entry now."""

    # -- concurrency slots -----------------------------------------------------------------------------------

    @abstractmethod
    async def acquire(self, key: str, *, limit: int, lease: float) -> SlotGrant:
        """Take one of ``limit`` slots. A slot is held until `release`, or at most ``lease`` seconds (so a crashed
        replica cannot hold slots forever)."""

    @abstractmethod
    async def release(self, key: str, token: str) -> None:
        """Give back a slot taken by `acquire` (releasing twice, or after the lease ran out, is harmless)."""

    # -- counters ----------------------------------------------------------------------------------------------

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> int:
        """Add ``amount`` to a counter and return the new value. The counter starts at 0 and disappears ``ttl``
        seconds after it was created (not refreshed by later increments)."""

    @abstractmethod
    async def get(self, key: str) -> int:
        """A counter's value (0 when absent or expired)."""

    # -- recent items (e.g. signatures of recent queries, for near-duplicate counting) -------------------------

    @abstractmethod
    async def push(self, key: str, item: str, *, window: float, max_items: int = 100) -> list[RecentItem]:
        """Add ``item`` now and return the items of ``key`` added within the last ``window`` seconds, oldest first,
        the new one last. Only the newest ``max_items`` are kept. Store digests or masked text, never raw user
        text: the items sit in Redis in clear."""

    @abstractmethod
    async def items(self, key: str, *, window: float) -> list[RecentItem]:
        """The items of ``key`` added within the last ``window`` seconds, oldest first."""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def ping(self) -> None:  # noqa: B027 - optional: the memory store is always there
        """Raise `StateError` when the backend cannot be reached."""

    async def aclose(self) -> None:  # noqa: B027 - optional: the memory store holds no connections
        """Release connections (called once at shutdown)."""
