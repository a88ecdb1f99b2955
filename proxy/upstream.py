"""The upstream client: one pooled `httpx2.AsyncClient` per upstream, retries only before the first byte reaches
the client, and a circuit breaker.

Why httpx2: it is pydantic's same-API fork of httpx (the code reads exactly like httpx) with a faster connection
pool and a built-in SSE parser; the benchmark (`railguard bench`) measures both side by side.
Retries use tenacity (exponential backoff with jitter, honouring `Retry-After`); the breaker is purgatory's.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx2
from httpx_aiohttp.httpx2 import AiohttpTransport
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)

from proxy.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from proxy.settings import Settings

log = logging.getLogger("railguard.upstream")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures that happen before the upstream could have acted on the request (or that a keep-alive race causes).
RETRYABLE_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.RemoteProtocolError, httpx2.ReadError)
# Request headers that belong to the client's hop, or that the proxy sets itself.
_DROP_REQUEST_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "accept-encoding",
        "expect",
    }
)
# Response headers that must not be copied to the client (the proxy decodes and re-frames the body).
_DROP_RESPONSE_HEADERS = frozenset(
    {
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "date",
        "server",
        "set-cookie",
        "alt-svc",
    }
)


class _RetryableStatus(Exception):
    """An upstream 5xx counted as a breaker failure."""


def client_headers_for_upstream(headers: Mapping[str, str], upstream_key: str | None) -> dict[str, str]:
    forwarded = {
        name: value
        for name, value in headers.items()
        if name.lower() not in _DROP_REQUEST_HEADERS and not name.lower().startswith("x-railguard-")
    }
    if upstream_key is not None:
        forwarded = {k: v for k, v in forwarded.items() if k.lower() != "authorization"}
        forwarded["authorization"] = f"Bearer {upstream_key}"
    return forwarded


def relayable_response_headers(headers: httpx2.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in _DROP_RESPONSE_HEADERS}


def retry_after_seconds(response: httpx2.Response) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class UpstreamClient:
    def __init__(self, settings: Settings, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        if settings.upstream is None:
            raise ValueError("no upstream configured")
        self.base_url = settings.upstream
        self.settings = settings
        self.api_key = settings.upstream_api_key.get_secret_value() if settings.upstream_api_key else None
        limits = httpx2.Limits(
            max_connections=settings.max_connections, max_keepalive_connections=settings.max_keepalive
        )
        if transport is None and settings.upstream_transport == "aiohttp":
            # Same httpx2 API, aiohttp's connection pool underneath (httpx-aiohttp): the pool is where a Python
            # proxy spends its CPU under load; `railguard bench` measures both.
            transport = AiohttpTransport(limits=limits)
        self._client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(
                connect=settings.connect_timeout, read=settings.read_timeout, write=60.0, pool=settings.connect_timeout
            ),
            limits=limits,
            transport=transport,
            follow_redirects=False,
        )
        self._backoff = wait_exponential_jitter(
            multiplier=settings.retry_backoff, max=settings.retry_backoff_max, jitter=settings.retry_backoff
        )
        # A client that goes away cancels its upstream request; that says nothing about the upstream's health.

        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.breaker_threshold,
            default_ttl=settings.breaker_reset,
            exclude=[asyncio.CancelledError],
        )

    def url(self, path: str) -> str:
        """`path` is what follows `/v1` in the client's request (e.g. `/chat/completions`)."""
        return self.base_url + path

    async def aclose(self) -> None:
        await self._client.aclose()

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            hinted = retry_after_seconds(outcome.result())
            if hinted is not None:
                return min(hinted, 60.0)
        return float(self._backoff(state))

    async def _close_before_retry(self, state: RetryCallState) -> None:
        if state.outcome is not None and not state.outcome.failed:
            response = state.outcome.result()
            log.info("upstream answered %s, retrying", response.status_code)
            await response.aclose()

    @staticmethod
    def _give_back_last(state: RetryCallState) -> httpx2.Response:
        assert state.outcome is not None
        return state.outcome.result()  # type: ignore[no-any-return]  # re-raises a final exception

    async def _with_retries(self, attempt: Callable[[], Awaitable[httpx2.Response]], attempts: int) -> httpx2.Response:
        """The first try runs directly, so the common case pays nothing for retry machinery (tenacity costs tens of
        microseconds a call); a retryable failure hands the remaining attempts to tenacity."""
        try:
            first = await attempt()
        except RETRYABLE_ERRORS:
            if attempts == 1:
                raise
            delay = self.settings.retry_backoff
        else:
            if first.status_code not in RETRY_STATUSES or attempts == 1:
                return first
            log.info("upstream answered %s, retrying", first.status_code)
            await first.aclose()
            hinted = retry_after_seconds(first)
            delay = min(hinted, 60.0) if hinted is not None else self.settings.retry_backoff
        await asyncio.sleep(delay)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts - 1),
            wait=self._wait,
            retry=retry_if_exception_type(RETRYABLE_ERRORS)
            | retry_if_result(lambda r: r.status_code in RETRY_STATUSES),
            before_sleep=self._close_before_retry,
            retry_error_callback=self._give_back_last,
            reraise=True,
        )
        response: httpx2.Response = await retrying(attempt)
        return response

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        content: bytes | AsyncIterator[bytes] | None = None,
        params: Any = None,
        stream: bool = False,
    ) -> httpx2.Response:
        """Send a request; return once the upstream's status and headers are in (and, unless ``stream``, its body).

        Retries connect failures, dropped keep-alive connections, 429 and 5xx with backoff — all before anything was
        sent to the client. A body given as an iterator is sent once (it cannot be replayed). Raises UpstreamError
        subclasses in OpenAI shape.
        """
        replayable = content is None or isinstance(content, bytes)
        attempts = 1 + (self.settings.retries if replayable else 0)
        request_headers = client_headers_for_upstream(headers, self.api_key)

        async def attempt() -> httpx2.Response:
            request = self._client.build_request(
                method, self.url(path), headers=request_headers, content=content, params=params
            )
            response = await self._client.send(request, stream=True)
            if not stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return response

        try:
            breaker = await self._breakers.get_breaker("upstream")
            async with breaker:
                response = await self._with_retries(attempt, attempts)
                if response.status_code >= 500:
                    # Count it against the breaker, then hand the upstream's own error to the client below.
                    raise _RetryableStatus(response)
        except _RetryableStatus as failure:
            return failure.args[0]  # type: ignore[no-any-return]
        except OpenedState as exc:
            raise UpstreamUnavailable(
                "The upstream is failing; requests are paused for a moment (circuit breaker open)."
            ) from exc
        except httpx2.TimeoutException as exc:
            if isinstance(exc, httpx2.PoolTimeout):
                raise UpstreamUnavailable("The proxy has too many requests in flight to the upstream.") from exc
            if isinstance(exc, httpx2.ConnectTimeout):
                raise UpstreamError(f"Could not connect to the upstream at {self.base_url}.") from exc
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except httpx2.ConnectError as exc:
            raise UpstreamError(f"Could not connect to the upstream at {self.base_url}.") from exc
        except httpx2.TransportError as exc:
            raise UpstreamError(f"The upstream connection failed: {type(exc).__name__}.") from exc
        return response
