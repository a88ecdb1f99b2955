"""Liveness and readiness.

`GET /healthz` answers 200 while the process serves HTTP at all (a liveness probe: restart me if this fails).
`GET /readyz` answers 200 only when the proxy can guard traffic (a readiness probe: send me traffic): policies loaded,
the models their guards use warm, and every registered readiness check passing — the stores other parts of the proxy
plug in (`Services.readiness`: an async callable returning None when fine, or the reason it is not). Otherwise 503
with the reasons.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

log = logging.getLogger("railguard")

ReadinessCheck = Callable[[], Awaitable[str | None]]


class WarmState(StrEnum):
    PENDING = "pending"
    WARMING = "warming"
    WARM = "warm"
    FAILED = "failed"


class WarmUp:
    """Loads the models the policies' guards need, off the event loop, once at start-up."""

    def __init__(self) -> None:
        self.state = WarmState.PENDING
        self.error: str | None = None
        self.seconds: float | None = None

    def start(self, warm_up: Callable[[], None]) -> asyncio.Task[None]:
        self.state = WarmState.WARMING
        return asyncio.create_task(self._run(warm_up), name="railguard-warm-up")

    async def _run(self, warm_up: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(warm_up)
        except Exception as exc:
            self.state = WarmState.FAILED
            self.error = f"model warm-up failed: {type(exc).__name__}: {exc}"
            log.error("%s", self.error, exc_info=exc)
            return
        self.seconds = time.perf_counter() - started
        self.state = WarmState.WARM
        log.info("models warm in %.2fs; ready", self.seconds)

    @property
    def problem(self) -> str | None:
        if self.state is WarmState.WARM:
            return None
        if self.state is WarmState.FAILED:
            return self.error
        return "warming up models"


def check_name(check: ReadinessCheck) -> str:
    return getattr(check, "__qualname__", None) or getattr(check, "__name__", None) or repr(check)


async def run_checks(checks: list[ReadinessCheck], within: float) -> list[str]:
    """Run the checks concurrently; each one's reason, error or lack of answer ``within`` seconds is a problem."""

    async def one(check: ReadinessCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), within)
        except TimeoutError:
            return f"{check_name(check)}: no answer within {within:g}s"
        except Exception as exc:
            return f"{check_name(check)}: {type(exc).__name__}: {exc}"

    results = await asyncio.gather(*(one(check) for check in checks))
    return [reason for reason in results if reason]
