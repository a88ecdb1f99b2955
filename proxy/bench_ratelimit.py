"""`railguard bench --rate-limits`: what a rate-limit check costs per request, on the in-process state and on Redis.

Two measurements, side by side in one run:

- end to end: two more proxies serve the benchmark's policy plus tenant rate limits (requests, tokens and
  concurrency; set high enough never to refuse), one on memory and one on Redis, in the same interleaved rounds as
  the plain proxy — their latency over the plain proxy's is the check's cost, with the machine's noise in it;
- in process: the rate-limit guard's check and settlement alone, memory and Redis interleaved per round — the
  check's own cost, without the HTTP stack around it.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Tenant limits apply to every request (each has a tenant); high enough never to refuse during a run.
RATE_LIMITS = """\
name: bench-rate-limits
extends: default
match: {tenants: ["*"]}
description: The benchmark's policy plus rate limits that never refuse.
input:
  rate_limits:
    enabled: true
    defaults:
      tenant: {requests_per_minute: 1000000000, tokens_per_minute: 1000000000000, concurrent_requests: 1000000}
"""

BENCH_BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say something short about foxes."}]}


def rate_limit_policies(workdir: Path, base: Path | None) -> Path:
    """The benchmark's policies plus one that adds rate limits on top of the policy the plain proxy serves."""
    directory = workdir / "rate-limit-policies"
    directory.mkdir()
    if base is not None:
        for source in base.glob("*.yaml"):
            shutil.copy(source, directory / source.name)
    (directory / "bench-rate-limits.yaml").write_text(RATE_LIMITS)
    return directory


def clean_redis(url: str, prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError as exc:
        print(f"could not remove the benchmark's Redis keys ({prefix}*): {exc}", file=sys.stderr)


def measure_checks(redis_url: str, prefix: str, rounds: int) -> dict[str, list[float]]:
    """The guard's check plus its settlement, in milliseconds, memory and Redis interleaved round by round."""
    import yaml

    from policies.schema import Policy
    from proxy.exchange import Exchange
    from proxy.guards.ratelimit import RateLimitGuard
    from proxy.identity import Identity
    from proxy.pipeline import ActivePolicy
    from proxy.state import MemoryStore, StateStore
    from proxy.state.redis_store import RedisStore
    from proxy.texts import RequestView, RouteKind

    document = yaml.safe_load(RATE_LIMITS)
    policy = Policy.model_validate({"input": document["input"]})
    guard = RateLimitGuard(policy.input.rate_limits, policy)
    guard.warm_up()
    active: ActivePolicy = None  # type: ignore[assignment]  # the guard never looks at it

    async def one(store: StateStore) -> float:
        view = RequestView(RouteKind.CHAT, {**BENCH_BODY, "messages": list(BENCH_BODY["messages"])})
        exchange = Exchange("bench", "/v1/chat/completions", RouteKind.CHAT, Identity("bench"), active, view)
        exchange.store = store
        exchange.usage = {"total_tokens": 24}
        started = time.perf_counter()
        await guard.check_request(exchange)
        await exchange.finish()
        return (time.perf_counter() - started) * 1000

    async def run() -> dict[str, list[float]]:
        memory, redis_store = MemoryStore(), RedisStore(redis_url, prefix=prefix)
        await redis_store.ping()
        timings: dict[str, list[float]] = {"memory": [], "redis": []}
        try:
            for number in range(rounds + 50):
                for name, store in (("memory", memory), ("redis", redis_store)):
                    elapsed = await one(store)
                    if number >= 50:  # warm-up rounds are not counted
                        timings[name].append(elapsed)
        finally:
            await redis_store.aclose()
        return timings

    return asyncio.run(run())


def rate_limit_cost(
    p50: dict[str, float], p99: dict[str, float], rps: dict[str, float], checks: dict[str, list[float]]
) -> dict[str, Any]:
    """The cost per backend, end to end (against the same proxy without limits) and in process, with ratios."""
    base_added = p50["railguard"] - p50["direct"]
    out: dict[str, Any] = {}
    for backend in ("memory", "redis"):
        name = f"rl-{backend}"
        check_p50 = statistics.median(checks[backend])
        out[backend] = {
            "e2e_added_p50_ms": round(p50[name] - p50["railguard"], 3),
            "e2e_added_p99_ms": round(p99[name] - p99["railguard"], 3),
            "e2e_added_latency_vs_railguard": round((p50[name] - p50["direct"]) / base_added, 2)
            if base_added > 0
            else None,
            "e2e_rps_vs_railguard": round(rps[name] / rps["railguard"], 2),
            "check_p50_ms": round(check_p50, 4),
            "check_p99_ms": round(sorted(checks[backend])[int(0.99 * (len(checks[backend]) - 1))], 4),
            "check_vs_railguard_added_p50": round(check_p50 / base_added, 3) if base_added > 0 else None,
        }
    memory_check = out["memory"]["check_p50_ms"]
    out["redis_vs_memory_check_p50"] = round(out["redis"]["check_p50_ms"] / memory_check, 1) if memory_check else None
    return out


def print_rate_limit_cost(cost: dict[str, Any]) -> None:
    print("rate-limit check per request (tenant requests + tokens + concurrency):")
    print(
        f"{'':8}{'in-process p50 ms':>18}{'p99 ms':>9}{'x railguard added':>19}{'e2e added p50':>15}{'e2e rps x':>11}"
    )
    for backend in ("memory", "redis"):
        row = cost[backend]
        print(
            f"{backend:8}{row['check_p50_ms']:18.4f}{row['check_p99_ms']:9.3f}{row['check_vs_railguard_added_p50']!s:>19}"
            f"{row['e2e_added_p50_ms']:15.3f}{row['e2e_rps_vs_railguard']!s:>11}"
        )
    print(f"redis vs memory (in-process check p50): x{cost['redis_vs_memory_check_p50']}")
