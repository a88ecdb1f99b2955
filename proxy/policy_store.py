"""The policies a running proxy serves, built into guards and swapped atomically on hot reload.

A valid change takes effect for new requests (in-flight requests keep the `ActivePolicy` they started with); an
invalid change is rejected, the last good version keeps serving, and the failure is logged, emitted as an event
and shown at `/admin/policies`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.loader import PolicyError, PolicySet, load_policy_set
from policies.schema import Policy
from proxy.events import EventBus, GuardrailEvent
from proxy.pipeline import ActivePolicy, Guard

log = logging.getLogger("railguard.policies")

GuardBuilder = Callable[[Policy], list[Guard]]


@dataclass(frozen=True)
class Snapshot:
    policy_set: PolicySet
    active: dict[str, ActivePolicy]
    loaded_at: float = field(default_factory=time.time)


@dataclass
class ReloadStatus:
    reloads: int = 0
    failures: int = 0
    last_error: list[str] = field(default_factory=list)
    last_error_at: float | None = None


class PolicyStore:
    def __init__(self, directory: Path | None, build: GuardBuilder, events: EventBus | None = None) -> None:
        self.directory = directory
        self._build = build
        self.events = events
        self.status = ReloadStatus()
        self.snapshot = self._load()  # a bad policy at start-up is fatal: raise

    def _load(self) -> Snapshot:
        policy_set = load_policy_set(self.directory)
        active = {
            name: ActivePolicy(resolved, self._build(resolved.policy)) for name, resolved in policy_set.policies.items()
        }
        return Snapshot(policy_set, active)

    def select(self, tenant: str, route: str, model: str) -> ActivePolicy:
        snapshot = self.snapshot  # one read: a reload cannot hand us half of two snapshots
        return snapshot.active[snapshot.policy_set.select(tenant, route, model).name]

    def warm_up(self) -> None:
        for active in self.snapshot.active.values():
            for guard in active.guards:
                guard.warm_up()

    def reload(self) -> bool:
        """Load the directory again; swap in the new snapshot only if it is entirely valid."""
        try:
            snapshot = self._load()
            for active in snapshot.active.values():
                for guard in active.guards:
                    guard.warm_up()
        except PolicyError as exc:
            self._failed([str(p) for p in exc.problems])
            return False
        except Exception as exc:  # a guard that cannot be built is as bad as a typo
            log.exception("policy reload failed")
            self._failed([f"{type(exc).__name__}: {exc}"])
            return False
        self.snapshot = snapshot
        self.status.reloads += 1
        self.status.last_error = []
        log.info("policies reloaded: version %s", snapshot.policy_set.version)
        self._event("policy_reloaded", "allow", {"version": snapshot.policy_set.version})
        return True

    def _failed(self, problems: list[str]) -> None:
        self.status.failures += 1
        self.status.last_error = problems
        self.status.last_error_at = time.time()
        log.error(
            "policy reload rejected; still serving %s:\n%s", self.snapshot.policy_set.version, "\n".join(problems)
        )
        self._event("policy_reload_failed", "block", {"problems": problems[:50]})

    def _event(self, trigger: str, action: str, details: dict[str, Any]) -> None:
        if self.events is None:
            return
        self.events.emit(
            GuardrailEvent(
                layer="policy",
                trigger=trigger,
                action=action,
                guard="policy_store",
                request_id="-",
                tenant="-",
                policy="*",
                policy_version=self.snapshot.policy_set.version,
                details=details,
            )
        )

    async def watch(self, debounce_ms: int = 200) -> None:
        """Reload when files in the policy directory change (runs until cancelled)."""
        if self.directory is None:
            return
        from watchfiles import awatch

        async for _changes in awatch(self.directory, debounce=debounce_ms, step=50):
            await asyncio.to_thread(self.reload)

    def describe(self) -> dict[str, Any]:
        snapshot = self.snapshot
        return {
            "version": snapshot.policy_set.version,
            "directory": str(self.directory) if self.directory else None,
            "loaded_at": snapshot.loaded_at,
            "policies": [
                {
                    "name": name,
                    "version": active.resolved.version,
                    "source": active.resolved.source,
                    "extends": list(active.resolved.chain[1:]),
                    "mode": active.policy.mode.value,
                    "match": active.policy.match.model_dump() if active.policy.match else None,
                    "guards": [g.name for g in active.guards],
                }
                for name, active in sorted(snapshot.active.items())
            ],
            "reloads": self.status.reloads,
            "reload_failures": self.status.failures,
            "last_error": self.status.last_error,
            "last_error_at": self.status.last_error_at,
        }
