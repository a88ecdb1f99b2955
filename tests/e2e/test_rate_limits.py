"""Rate limits through the real proxy with the in-process state: 429s in OpenAI's shape with Retry-After and the
x-ratelimit-* headers, tiers, scopes, concurrency, monitor mode, and the `openai` SDK's own retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.e2e.conftest import Proxy, ProxyFactory, Upstream
from tests.openapi import assert_matches

URL = "/v1/chat/completions"


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def limits_policy(limits: str, **top: str) -> str:
    """A default policy whose only guard is rate limits (indented YAML for input.rate_limits)."""
    extra = "".join(f"{key}: {value}\n" for key, value in top.items())
    return f"name: default\n{extra}input:\n  max_prompt: {{enabled: false}}\n  rate_limits:\n{limits}"


def post(
    proxy: Proxy, user: str | None = "alice", headers: dict[str, str] | None = None, **body: Any
) -> httpx2.Response:
    sent = {"x-railguard-user": user} if user else {}
    return httpx2.post(proxy.url + URL, json=chat(**body), headers={**sent, **(headers or {})}, timeout=30)


@pytest.fixture
def limited(make_proxy: ProxyFactory, policy_dir: Callable[..., Path]) -> Callable[..., Proxy]:
    def start(limits: str, **top: str) -> Proxy:
        return make_proxy(policies=policy_dir(default=limits_policy(limits, **top)))

    return start


def test_requests_per_minute_then_429_in_openai_shape(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      user: {requests_per_minute: 3}\n")
    answers = [post(proxy) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    assert all(a.headers["x-ratelimit-limit-requests"] == "3" for a in answers)
    assert answers[0].headers["x-ratelimit-reset-requests"] in ("1m0s", "59.999s", "59.998s", "59.997s")

    refused = post(proxy)
    assert refused.status_code == 429
    body = refused.json()
    assert_matches(body, "ErrorResponse")
    assert body["error"]["type"] == "rate_limit_error" and body["error"]["code"] == "rate_limit_exceeded"
    assert "Limit 3, Used 3, Requested 1" in body["error"]["message"]
    # The window is 60 s; how much of it is left depends on how fast the three requests went (a busy machine).
    retry_after = int(refused.headers["retry-after"])
    assert 50 <= retry_after <= 60
    assert 50_000 < int(refused.headers["retry-after-ms"]) <= 60_000

    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-railguard-ratelimit"] == "user/requests"
    assert refused.headers["x-railguard-request-id"].startswith("rg-")

    events = proxy.events(lambda e: any(x["trigger"] == "rate_limit_requests" for x in e))
    event = next(e for e in events if e["trigger"] == "rate_limit_requests")
    assert event["action"] == "block" and event["enforced"] and event["user"] == "alice"
    assert event["details"]["scope"] == "user" and event["details"]["limit"] == 3
    # Another user has a quota of their own; a request without a user is not limited per user.
    assert post(proxy, user="bob").status_code == 200
    assert post(proxy, user=None).status_code == 200


def test_the_sdk_raises_rate_limit_error(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      user: {requests_per_minute: 1}\n")
    client = proxy.client(default_headers={"x-railguard-user": "carol"})
    client.chat.completions.create(**chat())
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**chat())
    assert caught.value.status_code == 429
    assert caught.value.response.headers["x-ratelimit-limit-requests"] == "1"


def test_tiers_override_defaults_field_by_field(limited: Callable[..., Proxy]) -> None:
    proxy = limited(
        "    defaults:\n"
        "      user: {requests_per_minute: 2, concurrent_requests: 5}\n"
        "    tiers:\n"
        "      gold:\n"
        "        user: {requests_per_minute: 4}\n"
        "      unlimited:\n"
        "        user: null\n"
    )

    def count_allowed(user: str, tier: str | None) -> int:
        headers = {"x-railguard-tier": tier} if tier else {}
        return sum(post(proxy, user=user, headers=headers).status_code == 200 for _ in range(6))

    assert count_allowed("u-default", None) == 2
    assert count_allowed("u-unknown-tier", "bronze") == 2  # a tier the policy does not list gets the defaults
    assert count_allowed("u-gold", "gold") == 4
    assert count_allowed("u-unlimited", "unlimited") == 6


def test_tenant_limit_is_shared_and_every_limit_must_pass(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      user: {requests_per_minute: 2}\n      tenant: {requests_per_minute: 3}\n")
    acme = {"x-railguard-tenant": "acme"}
    results = [post(proxy, user=u, headers=acme).status_code for u in ("a", "a", "b", "b")]
    assert results == [200, 200, 200, 429]
    refused = post(proxy, user="c", headers=acme)
    assert refused.headers["x-railguard-ratelimit"] == "tenant/requests"
    # The user limit refused a's third request, so the tenant's count was not spent on it.
    assert post(proxy, user="d", headers={"x-railguard-tenant": "other"}).status_code == 200


def test_refused_requests_cost_no_other_limit(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      user: {requests_per_minute: 1}\n      tenant: {requests_per_minute: 2}\n")
    assert post(proxy, user="a").status_code == 200
    for _ in range(3):
        assert post(proxy, user="a").status_code == 429  # refused by the user limit: the tenant count stays at 1
    assert post(proxy, user="b").status_code == 200


def test_session_and_api_key_scopes(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      session: {requests_per_minute: 1}\n      api_key: {requests_per_minute: 2}\n")
    key_one = {"authorization": "Bearer sk-one"}
    assert post(proxy, user=None, headers={**key_one, "x-railguard-session": "s1"}).status_code == 200
    second = post(proxy, user=None, headers={**key_one, "x-railguard-session": "s1"})
    assert second.status_code == 429 and second.headers["x-railguard-ratelimit"] == "session/requests"
    assert post(proxy, user=None, headers={**key_one, "x-railguard-session": "s2"}).status_code == 200
    third = post(proxy, user=None, headers={**key_one, "x-railguard-session": "s3"})
    assert third.status_code == 429 and third.headers["x-railguard-ratelimit"] == "api_key/requests"
    assert post(proxy, user=None, headers={"authorization": "Bearer sk-two"}).status_code == 200


def test_concurrent_requests(limited: Callable[..., Proxy], upstream: Upstream) -> None:
    proxy = limited("    defaults:\n      user: {concurrent_requests: 1}\n")
    slow = {"x-mock-delay": "3"}  # long enough that a busy machine still sends the second while the first runs
    results: list[httpx2.Response] = []
    first = threading.Thread(target=lambda: results.append(post(proxy, headers=slow)))
    first.start()
    time.sleep(1.0)
    refused = post(proxy)
    first.join()
    assert refused.status_code == 429
    assert refused.headers["x-railguard-ratelimit"] == "user/concurrent"
    assert "retry-after" in refused.headers
    assert results[0].status_code == 200
    # The slot came back when the first answer was done.
    assert post(proxy).status_code == 200


def test_a_stream_holds_its_slot_until_it_ends(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      user: {concurrent_requests: 1}\n")
    headers = {"x-railguard-user": "alice", "x-mock-chunk": "2", "x-mock-chunk-delay": "0.05"}
    with httpx2.stream("POST", proxy.url + URL, json=chat(stream=True), headers=headers, timeout=30) as stream:
        lines = stream.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        assert post(proxy).status_code == 429
        for _ in lines:
            pass
    deadline = time.monotonic() + 5
    while (status := post(proxy).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 200


def test_monitor_mode_records_but_never_refuses(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    mode: monitor\n    defaults:\n      user: {requests_per_minute: 1}\n")
    assert post(proxy).status_code == 200
    second = post(proxy)
    assert second.status_code == 200
    assert "would_block:input/rate_limit_requests" in second.headers["x-railguard-monitor"]
    events = proxy.events(lambda e: any(x["trigger"] == "rate_limit_requests" for x in e))
    event = next(e for e in events if e["trigger"] == "rate_limit_requests")
    assert event["enforced"] is False


def test_sdk_max_retries_honours_retry_after(limited: Callable[..., Proxy]) -> None:
    """The SDK reads retry-after-ms, sleeps that long and retries: the retry lands just after the window frees."""
    proxy = limited("    window_seconds: 2\n    defaults:\n      user: {requests_per_minute: 1}\n")
    client = proxy.client(max_retries=2, default_headers={"x-railguard-user": "dave"})
    started = time.monotonic()  # before the first request: its window opens when the proxy admits it
    client.chat.completions.create(**chat())
    raw = client.chat.completions.with_raw_response.create(**chat())
    elapsed = time.monotonic() - started
    assert raw.http_response.status_code == 200
    assert raw.retries_taken == 1  # one 429, one sleep of about the advertised time, then success
    # The retry cannot have landed before the 2 s window freed; a slow machine may add time, never remove it.
    assert elapsed >= 1.9
    events = proxy.events(lambda e: any(x["trigger"] == "rate_limit_requests" for x in e))
    assert sum(e["trigger"] == "rate_limit_requests" for e in events) == 1


def test_sdk_does_not_retry_a_request_that_can_never_fit(limited: Callable[..., Proxy]) -> None:
    proxy = limited("    defaults:\n      user: {tokens_per_minute: 20}\n")
    client = proxy.client(max_retries=3, default_headers={"x-railguard-user": "erin"})
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**chat("word " * 50))
    # Three SDK retries would sleep at least 0.375 + 0.75 + 1.5 s (its backoff with full jitter taken off).
    assert time.monotonic() - started < 2.5
    response = caught.value.response
    assert response.headers["x-should-retry"] == "false"
    assert "retry-after" not in response.headers
    assert "Request too large" in caught.value.message
    events = proxy.events(lambda e: any(x["trigger"] == "rate_limit_tokens" for x in e))
    assert sum(e["trigger"] == "rate_limit_tokens" for e in events) == 1


def test_token_limit_counts_the_prompt_before_the_call(limited: Callable[..., Proxy], upstream: Upstream) -> None:
    from proxy.tokens import TokenCounter

    proxy = limited("    defaults:\n      user: {tokens_per_minute: 1000}\n")
    text = "The quick brown fox jumps over the lazy dog. " * 10
    answer = post(proxy, user="frank", text=text)
    assert answer.status_code == 200
    prompt = TokenCounter().count_prompt("gpt-4o", [text], 1, chat=True)
    assert prompt > 100
    assert int(answer.headers["x-ratelimit-remaining-tokens"]) == 1000 - prompt
    assert answer.headers["x-ratelimit-limit-tokens"] == "1000"
