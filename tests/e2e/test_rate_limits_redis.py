"""Rate limits on Redis: exact across two proxy processes sharing one Redis, token limits reconciled with streamed
usage, and Redis failing mid-test (the policy's on_error) and coming back (recovery without a restart)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from proxy.ratelimit import store_key
from proxy.servers import free_port
from proxy.state.redis_store import RedisStore
from proxy.tokens import TokenCounter
from tests.e2e.conftest import Proxy, ProxyFactory, Upstream
from tests.e2e.test_rate_limits import chat, limits_policy
from tests.redis_server import RedisServer, require_redis

URL = "/v1/chat/completions"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis, cleaned up afterwards."""
    url = require_redis()
    prefix = f"rgtest:{uuid.uuid4().hex[:10]}:"
    yield prefix

    async def clean() -> None:
        store = RedisStore(url, prefix=prefix)
        keys = [k async for k in store.client.scan_iter(match=prefix + "*")]
        if keys:
            await store.client.delete(*keys)
        await store.aclose()

    asyncio.run(clean())


class ProxyProcess:
    """`python -m proxy.cli serve` as a real second process, configured through RAILGUARD_* like a replica."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, **env, "RAILGUARD_PORT": str(self.port), "RAILGUARD_LOG_LEVEL": "warning"}
        full["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "proxy.cli", "serve"],
                env=full,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy process exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx2.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxy process did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def two_proxies(
    make_proxy: ProxyFactory,
    upstream: Upstream,
    policy_dir: Callable[..., Path],
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[Callable[[str], tuple[str, str]]]:
    """Start (in this process, and as a subprocess) two proxies with one policy and one Redis; yields their URLs."""
    started: list[ProxyProcess] = []

    def start(limits: str) -> tuple[str, str]:
        policies = policy_dir(default=limits_policy(limits))
        redis_url = require_redis()
        # A generous Redis deadline: this test process also runs the client threads, and on a busy machine they can
        # keep the in-process proxy's event loop waiting for the GIL longer than the default deadline.
        local = make_proxy(policies=policies, redis_url=redis_url, redis_prefix=redis_prefix, redis_timeout=5)
        remote = ProxyProcess(
            {
                "RAILGUARD_UPSTREAM": upstream.url,
                "RAILGUARD_POLICIES": str(policies),
                "RAILGUARD_REDIS_URL": redis_url,
                "RAILGUARD_REDIS_PREFIX": redis_prefix,
                "RAILGUARD_REDIS_TIMEOUT": "5",
            },
            tmp_path / "replica.log",
        )
        started.append(remote)
        return local.url, remote.url

    yield start
    for process in started:
        process.stop()


def send(url: str, user: str = "alice", **body: Any) -> int:
    return httpx2.post(url + URL, json=chat(**body), headers={"x-railguard-user": user}, timeout=30).status_code


def test_limits_hold_exactly_across_two_processes(two_proxies: Callable[[str], tuple[str, str]]) -> None:
    window, limit = 6, 5
    a, b = two_proxies(f"    window_seconds: {window}\n    defaults:\n      user: {{requests_per_minute: {limit}}}\n")
    replicas = [a, b]

    # Alternating between the replicas: exactly N allowed, the N+1th refused, whichever replica it reaches.
    first_sent = time.monotonic()
    statuses = [send(replicas[i % 2]) for i in range(limit + 3)]
    all_done = time.monotonic()
    assert statuses == [200] * limit + [429] * 3

    # Half a window later (past where a fixed window aligned anywhere in between could have reset), and just
    # before the first admitted request ages out, both replicas still refuse.
    time.sleep(window / 2)
    assert [send(a), send(b)] == [429, 429]
    time.sleep(max(0.0, first_sent + window - 1.0 - time.monotonic()))
    assert [send(a), send(b)] == [429, 429]

    # Once every admitted request has aged out, exactly N again.
    time.sleep(max(0.0, all_done + window + 0.2 - time.monotonic()))
    statuses = [send(replicas[i % 2]) for i in range(limit + 2)]
    assert statuses == [200] * limit + [429] * 2


def test_concurrent_burst_across_two_processes_admits_exactly_the_limit(
    two_proxies: Callable[[str], tuple[str, str]],
) -> None:
    a, b = two_proxies("    defaults:\n      user: {requests_per_minute: 7}\n")
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda i: send(a if i % 2 else b, user="burst"), range(30)))
    assert statuses.count(200) == 7 and statuses.count(429) == 23


# ---------------------------------------------------------------------------------------------- tokens


def used_tokens(redis_prefix: str, user: str, window: int = 60) -> float:
    async def peek() -> float:
        store = RedisStore(require_redis(), prefix=redis_prefix)
        try:
            key = store_key("user", "default", user, "tokens", window)
            return (await store.hit(key, limit=1e12, window=window, cost=0)).used
        finally:
            await store.aclose()

    return asyncio.run(peek())


def settled(redis_prefix: str, user: str, expected: float, timeout: float = 5.0) -> float:
    """The user's token count once the background settlement has written ``expected`` (or the last value seen)."""
    deadline = time.monotonic() + timeout
    while (value := used_tokens(redis_prefix, user)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def mock_usage(prompt: str, answer: str) -> int:
    """What the mock upstream reports: one token per word, at least one each."""
    return max(1, len(prompt.split())) + max(1, len(answer.split()))


@pytest.fixture
def token_proxy(make_proxy: ProxyFactory, policy_dir: Callable[..., Path], redis_prefix: str) -> Proxy:
    policies = policy_dir(default=limits_policy("    defaults:\n      user: {tokens_per_minute: 400}\n"))
    return make_proxy(policies=policies, redis_url=require_redis(), redis_prefix=redis_prefix, redis_timeout=5)


def test_streamed_usage_replaces_the_estimate(token_proxy: Proxy, redis_prefix: str) -> None:
    prompt, reply = "please tell me a story about foxes", "Once upon a time there was a fox."
    client = token_proxy.client(default_headers={"x-railguard-user": "s1", "x-mock-reply": reply})
    stream = client.chat.completions.create(**chat(prompt), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == mock_usage(prompt, reply)
    assert settled(redis_prefix, "s1", mock_usage(prompt, reply)) == mock_usage(prompt, reply)


def test_stream_without_usage_is_counted_from_the_text_delivered(token_proxy: Proxy, redis_prefix: str) -> None:
    prompt, reply = "count me", "A reply of several words that the proxy counts itself."
    client = token_proxy.client(default_headers={"x-railguard-user": "s2", "x-mock-reply": reply})
    chunks = client.chat.completions.create(**chat(prompt), stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == reply
    counter = TokenCounter()
    expected = counter.count_prompt("gpt-4o", [prompt], 1, chat=True) + counter.count("gpt-4o", reply)
    assert settled(redis_prefix, "s2", expected) == expected


def test_responses_stream_usage_from_response_completed(token_proxy: Proxy, redis_prefix: str) -> None:
    prompt, reply = "summarise the weather", "Sunny with light wind."
    client = token_proxy.client(default_headers={"x-railguard-user": "s3", "x-mock-reply": reply})
    events = list(client.responses.create(model="gpt-4o", input=prompt, stream=True))
    completed = next(e for e in events if e.type == "response.completed")
    assert completed.response.usage is not None
    total = completed.response.usage.total_tokens
    assert settled(redis_prefix, "s3", total) == total


def test_token_limit_refuses_once_streams_have_used_it_up(token_proxy: Proxy, redis_prefix: str) -> None:
    """The check before the call sees only the prompt, so a request is admitted while the prompt fits; the answers'
    tokens, charged afterwards, are what use the limit up."""
    reply = " ".join(["word"] * 150)  # 150 tokens of answer per request by the mock's usage
    headers = {"x-railguard-user": "s4", "x-mock-reply": reply}
    client = token_proxy.client(default_headers=headers)
    for _ in range(3):
        list(client.chat.completions.create(**chat("hi"), stream=True, stream_options={"include_usage": True}))
    assert settled(redis_prefix, "s4", 3 * mock_usage("hi", reply)) == 453
    response = httpx2.post(token_proxy.url + URL, json=chat("hi", stream=True), headers=headers, timeout=30)
    assert response.status_code == 429
    assert response.headers["x-railguard-ratelimit"] == "user/tokens"
    assert response.headers["x-ratelimit-limit-tokens"] == "400"
    assert response.headers["x-ratelimit-remaining-tokens"] == "0"
    assert "Used 453" in response.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------- Redis failing


@pytest.mark.parametrize("on_error", ["block", "allow"])
def test_redis_stopped_mid_test_then_back(
    make_proxy: ProxyFactory, policy_dir: Callable[..., Path], on_error: str
) -> None:
    require_redis()
    with RedisServer() as server:
        policies = policy_dir(
            default=limits_policy(f"    on_error: {on_error}\n    defaults:\n      user: {{requests_per_minute: 2}}\n")
        )
        proxy = make_proxy(policies=policies, redis_url=server.url, redis_timeout=0.2, redis_cooldown=0.3)
        assert send(proxy.url, user="r1") == 200

        server.stop()
        started = time.monotonic()
        down = httpx2.post(proxy.url + URL, json=chat(), headers={"x-railguard-user": "r1"}, timeout=30)
        assert time.monotonic() - started < 5.0  # a dead Redis costs at most its timeout, never a stall
        if on_error == "block":
            assert down.status_code == 400
            assert down.json()["error"]["code"] == "content_filter"
            assert down.headers["x-railguard-blocked"] == "input/guard_error"
        else:
            assert down.status_code == 200
            assert "x-ratelimit-limit-requests" not in down.headers
        events = proxy.events(lambda e: any(x["trigger"] == "guard_error" for x in e))
        failure = next(e for e in events if e["trigger"] == "guard_error")
        assert failure["guard"] == "input.rate_limits"
        assert failure["action"] == on_error and failure["details"]["on_error"] == on_error
        assert "Redis" in failure["details"]["error"]

        server.start()  # same port, empty: counts start afresh
        deadline = time.monotonic() + 5
        while (status := send(proxy.url, user="r2")) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
        assert [send(proxy.url, user="r2"), send(proxy.url, user="r2")] == [200, 429]
