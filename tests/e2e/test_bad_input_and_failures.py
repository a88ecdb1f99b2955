"""Bad input and upstream failures: each gets the right status and an OpenAI-shaped error, never a stack trace."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from proxy.servers import free_port
from tests.e2e.conftest import Proxy, Upstream
from tests.openapi import assert_matches, sse_events

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def assert_openai_error(response: httpx2.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert_matches(body, "ErrorResponse")
    assert set(body["error"]) == {"message", "type", "param", "code"}
    if code is not None:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    assert response.headers["x-railguard-request-id"].startswith("rg-")
    return body["error"]


def test_malformed_json(proxy: Proxy) -> None:
    response = httpx2.post(
        proxy.url + "/v1/chat/completions",
        content=b'{"model": "x", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert_openai_error(response, 400, "invalid_json")


def test_json_that_is_not_an_object(proxy: Proxy) -> None:
    response = httpx2.post(
        proxy.url + "/v1/chat/completions", content=b"[1, 2]", headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 400, "invalid_json")


def test_wrong_content_type(proxy: Proxy) -> None:
    response = httpx2.post(
        proxy.url + "/v1/chat/completions", content=b"model=x", headers={"content-type": "text/plain"}
    )
    assert_openai_error(response, 415, "unsupported_media_type")


def test_body_over_the_limit(make_proxy) -> None:
    proxy = make_proxy(max_body_bytes=2048)
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
    assert_openai_error(httpx2.post(proxy.url + "/v1/chat/completions", json=big), 413, "request_too_large")
    # Without a content-length (chunked upload) the limit holds too.
    chunks = iter([b'{"model": "x", "messages": [{"role": "user", "content": "', b"y" * 4096, b'"}]}'])
    response = httpx2.post(
        proxy.url + "/v1/chat/completions", content=chunks, headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 413, "request_too_large")


def test_missing_messages_through_the_sdk(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.client().chat.completions.create(model="gpt-4o", messages=[])
    assert raised.value.body["param"] == "messages"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"model": "x", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ("/v1/completions", {"model": "x"}, "prompt"),
        ("/v1/completions", {"model": "x", "prompt": [1, 2, 3]}, "prompt"),
        ("/v1/embeddings", {"model": "x", "input": 3}, "input"),
        ("/v1/responses", {"model": "x"}, "input"),
        ("/v1/chat/completions", {**CHAT, "railguard": {"context": 5}}, "railguard.context"),
    ],
)
def test_invalid_fields(proxy: Proxy, path: str, body: dict, param: str) -> None:
    error = assert_openai_error(httpx2.post(proxy.url + path, json=body), 400)
    assert error["param"] == param


def test_upstream_unreachable(make_proxy) -> None:
    proxy = make_proxy(upstream=f"http://127.0.0.1:{free_port()}/v1", retries=1)
    with pytest.raises(openai.InternalServerError) as raised:
        proxy.client().chat.completions.create(**CHAT)
    assert raised.value.status_code == 502
    assert raised.value.body["code"] == "upstream_error"


def test_upstream_timeout(make_proxy, upstream: Upstream) -> None:
    proxy = make_proxy(read_timeout=0.3)
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-delay": "2"})
    assert_openai_error(response, 504, "upstream_timeout")


def test_upstream_answers_non_json(proxy: Proxy) -> None:
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-body": "not-json"})
    assert_openai_error(response, 502, "upstream_error")


def test_upstream_error_with_html_body(proxy: Proxy) -> None:
    response = httpx2.post(
        proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-status": "418", "x-mock-body": "not-json"}
    )
    assert_openai_error(response, 502, "upstream_error")


def test_upstream_client_errors_are_relayed_as_they_are(proxy: Proxy, upstream: Upstream) -> None:
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-status": "400"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "mock upstream error 400"
    assert len(upstream.requests) == 1  # a 400 is not retried


def test_5xx_is_retried_before_the_first_byte(make_proxy, upstream: Upstream) -> None:
    proxy = make_proxy(retries=3)
    answer = proxy.client().chat.completions.create(
        **CHAT, extra_headers={"x-mock-fail-times": "2", "x-mock-key": "retry-5xx"}
    )
    assert answer.choices[0].message.content == "You said: hi"
    assert len(upstream.requests) == 3


def test_429_retry_honours_retry_after(make_proxy, upstream: Upstream) -> None:
    proxy = make_proxy(retries=2, retry_backoff=0.0)
    started = time.monotonic()
    answer = proxy.client().chat.completions.create(
        **CHAT,
        extra_headers={
            "x-mock-fail-times": "1",
            "x-mock-status": "429",
            "x-mock-retry-after": "1",
            "x-mock-key": "retry-429",
        },
    )
    assert answer.choices[0].message.content == "You said: hi"
    assert time.monotonic() - started >= 0.95
    assert len(upstream.requests) == 2


def test_retries_exhausted_relay_the_upstream_error(make_proxy, upstream: Upstream) -> None:
    proxy = make_proxy(retries=1)
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-status": "503"})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "mock upstream error 503"
    assert len(upstream.requests) == 2


def test_circuit_breaker_opens_after_repeated_failures(make_proxy, upstream: Upstream) -> None:
    proxy = make_proxy(retries=0, breaker_threshold=3, breaker_reset=30)
    for _ in range(3):
        httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-status": "500"})
    seen = len(upstream.requests)
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT)
    assert_openai_error(response, 503, "upstream_unavailable")
    assert len(upstream.requests) == seen  # the open breaker did not even try


def test_stream_that_dies_midway_ends_with_an_error_event(proxy: Proxy) -> None:
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "a long answer that will be cut off somewhere"}],
        stream=True,
        extra_headers={"x-mock-die-after": "4", "x-mock-chunk": "5"},
    )
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "upstream stream failed" in raised.value.message
    assert "".join(received) == "You said: a long answer"[: len("".join(received))]


def test_stream_error_frame_on_the_wire_is_openai_shaped(proxy: Proxy) -> None:
    response = httpx2.post(
        proxy.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers={"x-mock-die-after": "2"}
    )
    _, last = sse_events(response)[-1]
    assert_matches(last, "ErrorResponse")
    assert last["error"]["code"] == "upstream_error"


def test_client_disconnect_cancels_the_upstream_request(proxy: Proxy, upstream: Upstream) -> None:
    with (
        httpx2.Client(timeout=10) as client,
        client.stream(
            "POST",
            proxy.url + "/v1/chat/completions",
            json={**CHAT, "stream": True, "messages": [{"role": "user", "content": "z" * 400}]},
            headers={"x-mock-chunk": "4", "x-mock-chunk-delay": "0.05"},
        ) as response,
    ):
        for _ in response.iter_raw():
            break  # read one piece, then hang up
    deadline = time.monotonic() + 5
    while not upstream.requests[-1].get("cancelled") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.requests[-1].get("cancelled") is True
    assert upstream.requests[-1]["chunks_sent"] < 50


def test_client_disconnect_before_a_json_answer_cancels_the_upstream(proxy: Proxy, upstream: Upstream) -> None:
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(proxy.url + "/v1/chat/completions", json=CHAT, headers={"x-mock-delay": "3"}, timeout=0.5)
    events = proxy.events(lambda es: any(e["trigger"] == "client_disconnected" for e in es))
    assert any(e["trigger"] == "client_disconnected" for e in events)
