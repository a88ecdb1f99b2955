"""Rate-limit bookkeeping that is not a guard's decision: store keys, OpenAI's header formats, the error.

OpenAI's headers, which the `openai` SDK and many clients read:

    x-ratelimit-limit-requests: 60          x-ratelimit-limit-tokens: 150000
    x-ratelimit-remaining-requests: 59      x-ratelimit-remaining-tokens: 149984
    x-ratelimit-reset-requests: 1s          x-ratelimit-reset-tokens: 6m0s

``reset`` is the time until the limit is back to its full value, written as a Go duration (``12ms``, ``17.28s``,
``6m0s``). On a 429, ``Retry-After`` (whole seconds, rounded up) and ``retry-after-ms`` (which the `openai` SDK
prefers) say when the refused request would fit; when it can never fit (more tokens than the limit allows)
``x-should-retry: false`` tells the SDK not to retry at all.
"""

from __future__ import annotations

import functools
import math
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from proxy.errors import RateLimited
from proxy.state import WindowHit

Metric = Literal["requests", "tokens", "concurrent"]


@functools.lru_cache(maxsize=16_384)  # the same callers come back; quoting is the costly part of a check
def store_key(scope: str, tenant: str, who: str, metric: Metric, window: int) -> str:
    """One key per caller and metric. Users and sessions are tenant-scoped; the window length is part of the key
    so a policy that changes it starts fresh counts instead of misreading old ones."""
    parts = [scope, tenant if scope in ("user", "session") else "", who, metric, str(window)]
    return "rl:" + ":".join(urllib.parse.quote(p, safe="") for p in parts)


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration string, the format of OpenAI's ``x-ratelimit-reset-*`` headers."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    seconds = math.ceil(seconds * 1000) / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


@dataclass(frozen=True, slots=True)
class Reading:
    """One limit's state after a check, for headers and events."""

    scope: str
    metric: Metric
    limit: int
    used: float
    reset_after: float
    retry_after: float | None = 0.0  # None: can never fit

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self.used))

    @classmethod
    def of(cls, scope: str, metric: Metric, hit: WindowHit) -> Reading:
        return cls(scope, metric, int(hit.limit), hit.used, hit.reset_after, hit.retry_after)


def tightest(readings: list[Reading], metric: Metric) -> Reading | None:
    """The reading a client should pace itself by: least remaining, then the later reset."""
    candidates = [r for r in readings if r.metric == metric]
    return min(candidates, key=lambda r: (r.remaining, -r.reset_after), default=None)


def rate_headers(readings: list[Reading]) -> dict[str, str]:
    headers: dict[str, str] = {}
    metrics: tuple[Metric, ...] = ("requests", "tokens")
    for metric in metrics:
        reading = tightest(readings, metric)
        if reading is None:
            continue
        headers[f"x-ratelimit-limit-{metric}"] = str(reading.limit)
        headers[f"x-ratelimit-remaining-{metric}"] = str(reading.remaining)
        headers[f"x-ratelimit-reset-{metric}"] = go_duration(reading.reset_after)
    return headers


def rate_limited(refused: Reading, requested: float, headers: dict[str, str], message: str | None) -> RateLimited:
    """The 429 for a refused limit (``refused`` is the one with the longest wait)."""
    names = {
        "requests": "requests per min (RPM)",
        "tokens": "tokens per min (TPM)",
        "concurrent": "concurrent requests",
    }
    what = f"{names[refused.metric]} per {refused.scope.replace('_', ' ')}"
    headers = {**headers, "x-railguard-ratelimit": f"{refused.scope}/{refused.metric}"}
    if refused.retry_after is None:
        text = (
            f"Request too large for {what}: Limit {refused.limit}, Requested {math.ceil(requested)}. "
            "Send a smaller request."
        )
        headers["x-should-retry"] = "false"
    else:
        wait = max(refused.retry_after, 0.001)
        text = (
            f"Rate limit reached for {what}: Limit {refused.limit}, Used {math.ceil(refused.used)}, "
            f"Requested {math.ceil(requested)}. Please try again in {go_duration(wait)}."
        )
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        headers["retry-after-ms"] = str(math.ceil(wait * 1000))
    return RateLimited(f"{message} {text}" if message else text, headers=headers)
