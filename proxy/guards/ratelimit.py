"""Layer 1, first: rate limits per user, session, tenant and API key (requests/min, tokens/min, concurrency).

Every applicable limit is checked at once against the shared state (`exchange.store`: memory, or Redis across
replicas). A request is admitted only if it fits every limit; when one refuses, what the others recorded is taken
back, and the verdict blocks with a 429 (`RateLimited`) carrying Retry-After and OpenAI's `x-ratelimit-*` headers
(which admitted requests get too). Tokens are the prompt's, counted before the call (`proxy.tokens`); when the
answer is complete the charge is corrected to the upstream's reported usage (or, for a stream without usage, the
prompt plus the tokens of the text delivered). A state failure raises `StateError`, which the pipeline turns into
the guard's `on_error` (block, or allow with an event).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from policies.schema import RATE_SCOPES, Action, RateLimit, RateLimits
from proxy.exchange import Exchange
from proxy.identity import Identity
from proxy.pipeline import Guard, Layer, Verdict
from proxy.ratelimit import Metric, Reading, rate_headers, rate_limited, store_key
from proxy.state import SlotGrant, StateError, StateStore, WindowHit
from proxy.texts import RouteKind
from proxy.tokens import OFF_LOOP_CHARS, TokenCounter, usage_total

log = logging.getLogger("railguard.ratelimit")
T = TypeVar("T")


@functools.cache
def token_counter() -> TokenCounter:
    """One per process: encodings are large and load once."""
    return TokenCounter()


async def gather(store: StateStore, calls: list[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """Run state calls all at once on a remote store (one round trip of latency), in turn on a local one (no tasks
    to create for calls that never wait); either way, exceptions are returned, not raised."""
    if store.remote:
        return await asyncio.gather(*calls, return_exceptions=True)
    results: list[T | BaseException] = []
    for call in calls:
        try:
            results.append(await call)
        except Exception as exc:
            results.append(exc)
    return results


@dataclass(frozen=True, slots=True)
class Check:
    scope: str
    metric: Metric
    key: str
    limit: int


def callers(identity: Identity) -> dict[str, str]:
    """The identities a request carries, by scope."""
    found = {"user": identity.user, "session": identity.session, "tenant": identity.tenant}
    found["api_key"] = identity.api_key_id
    return {scope: who for scope, who in found.items() if who}


class RateLimitGuard(Guard):
    name = "input.rate_limits"
    layer = Layer.INPUT
    settings: RateLimits

    @property
    def counts_tokens(self) -> bool:
        every = [self.settings.defaults, *self.settings.tiers.values()]
        return any(getattr(s, scope) and getattr(s, scope).tokens_per_minute for s in every for scope in RATE_SCOPES)

    def warm_up(self) -> None:
        if self.counts_tokens:
            token_counter().warm_up(["gpt-4o", "gpt-4"])

    def checks(self, identity: Identity) -> list[Check]:
        limits = self.settings.for_tier(identity.tier)
        window = self.settings.window_seconds
        found: list[Check] = []
        for scope, who in callers(identity).items():
            limit: RateLimit | None = getattr(limits, scope)
            if limit is None:
                continue
            metrics: tuple[tuple[Metric, int | None], ...] = (
                ("requests", limit.requests_per_minute),
                ("tokens", limit.tokens_per_minute),
                ("concurrent", limit.concurrent_requests),
            )
            for metric, value in metrics:
                if value is not None:
                    found.append(Check(scope, metric, store_key(scope, identity.tenant, who, metric, window), value))
        return found

    async def prompt_tokens(self, exchange: Exchange) -> int:
        view = exchange.view
        texts = [slot.get() for slot in view.slots] + view.context_documents
        chat = exchange.kind in (RouteKind.CHAT, RouteKind.RESPONSES)
        counter = token_counter()
        count = functools.partial(counter.count_prompt, exchange.model, texts, view.message_count(), chat)
        # Long prompts (and a first use that loads an encoding) are tokenised off the event loop.
        if sum(len(t) for t in texts) > OFF_LOOP_CHARS or not counter.loaded(exchange.model):
            return await asyncio.to_thread(count)
        return count()

    async def check_request(self, exchange: Exchange) -> list[Verdict]:
        checks = self.checks(exchange.identity)
        if not checks:
            return []
        store = exchange.store
        window = self.settings.window_seconds
        tokens = 0
        if any(c.metric == "tokens" for c in checks):
            tokens = await self.prompt_tokens(exchange)
            exchange.needs_usage = True

        async def run(check: Check) -> WindowHit | SlotGrant:
            if check.metric == "concurrent":
                return await store.acquire(check.key, limit=check.limit, lease=self.settings.lease_seconds)
            cost = tokens if check.metric == "tokens" else 1
            return await store.hit(check.key, limit=check.limit, window=window, cost=cost)

        outcomes = await gather(store, [run(c) for c in checks])
        done = [(c, o) for c, o in zip(checks, outcomes, strict=True) if isinstance(o, WindowHit | SlotGrant)]
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        refused = [(c, o) for c, o in done if not (o.allowed if isinstance(o, WindowHit) else o.acquired)]
        if failure is not None or refused:
            await self.undo(store, done, window)
        if failure is not None:
            raise failure

        readings = [Reading.of(c.scope, c.metric, o) for c, o in done if isinstance(o, WindowHit)]
        headers = rate_headers(readings)
        if refused:
            return [self.refusal(exchange, refused, tokens, headers)]
        exchange.response_headers.update(headers)
        exchange.on_finish(functools.partial(self.settle, exchange, done, tokens))
        return []

    def refusal(
        self,
        exchange: Exchange,
        refused: list[tuple[Check, WindowHit | SlotGrant]],
        tokens: int,
        headers: dict[str, str],
    ) -> Verdict:
        readings = []
        for check, outcome in refused:
            if isinstance(outcome, WindowHit):
                readings.append(Reading.of(check.scope, check.metric, outcome))
            else:  # no telling when a slot frees up: suggest a second
                readings.append(Reading(check.scope, "concurrent", check.limit, outcome.in_use, 1.0, 1.0))
        # The client must wait for the slowest limit; one that can never fit wins outright.
        worst = max(readings, key=lambda r: float("inf") if r.retry_after is None else r.retry_after)
        requested = tokens if worst.metric == "tokens" else 1
        error = rate_limited(worst, requested, headers, self.settings.message)
        return Verdict(
            trigger=f"rate_limit_{worst.metric}",
            action=Action.BLOCK,
            details={
                "scope": worst.scope,
                "limit": worst.limit,
                "used": round(worst.used, 3),
                "requested": requested,
                "retry_after_s": None if worst.retry_after is None else round(worst.retry_after, 3),
                "tier": exchange.identity.tier,
                "refused": [f"{r.scope}/{r.metric}" for r in readings],
            },
            error=error,
        )

    async def undo(self, store: StateStore, done: list[tuple[Check, WindowHit | SlotGrant]], window: int) -> None:
        """Take back what a refused (or failed) request recorded, so it costs no limit anything."""
        undos = []
        for check, outcome in done:
            if isinstance(outcome, WindowHit) and outcome.entry is not None:
                undos.append(store.adjust(check.key, outcome.entry, 0, window=window))
            elif isinstance(outcome, SlotGrant) and outcome.token is not None:
                undos.append(store.release(check.key, outcome.token))
        for result in await gather(store, undos):
            if isinstance(result, BaseException):
                log.warning("could not take back a refused request's counts: %s", result)

    async def settle(
        self, exchange: Exchange, done: list[tuple[Check, WindowHit | SlotGrant]], prompt_tokens: int
    ) -> None:
        """When the exchange is over: give back concurrency slots; correct token charges to what was used."""
        used = usage_total(exchange.usage)
        if used is None and exchange.answer_text:
            counter = token_counter()
            used = prompt_tokens + await asyncio.to_thread(counter.count, exchange.model, exchange.answer_text)
        work = []
        for check, outcome in done:
            if isinstance(outcome, SlotGrant) and outcome.token is not None:
                work.append(exchange.store.release(check.key, outcome.token))
            elif isinstance(outcome, WindowHit) and outcome.entry is not None and check.metric == "tokens":
                if used is None or used == prompt_tokens:
                    continue
                window = self.settings.window_seconds
                work.append(exchange.store.adjust(check.key, outcome.entry, used, window=window))
        for result in await gather(exchange.store, work):
            if isinstance(result, StateError):
                log.warning("rate limits: could not settle %s: %s", exchange.request_id, result)
            elif isinstance(result, BaseException):
                raise result
