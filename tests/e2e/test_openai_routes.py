"""The proxy is a drop-in base_url: every route works through the real openai SDK, and what comes back matches
OpenAI's own OpenAPI schemas."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from tests.e2e.conftest import Proxy, Upstream
from tests.openapi import assert_matches, sse_events


def test_chat_completion_json(proxy: Proxy, upstream: Upstream) -> None:
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello there"}], user="u-42"
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "You said: hello there"
    assert raw.headers["x-railguard-request-id"].startswith("rg-")
    assert raw.headers["x-railguard-policy"].startswith("default@")
    assert_matches(raw.http_response.json(), "CreateChatCompletionResponse")
    # The client's key reached the upstream (pass-through authentication) and x-railguard-* did not.
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-client-test"
    assert upstream.last_body()["messages"] == [{"role": "user", "content": "hello there"}]


def test_chat_completion_stream_with_usage(proxy: Proxy) -> None:
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "stream this answer"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(text) == "You said: stream this answer"
    assert finish == "stop"
    assert usage is not None and usage.total_tokens > 0


def test_stream_chunks_on_the_wire_match_the_spec(proxy: Proxy) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "wire"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "logprobs": True,
    }
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=body)
    events = sse_events(response)
    assert events[-1] == (None, "[DONE]")
    for _, data in events[:-1]:
        assert_matches(data, "CreateChatCompletionStreamResponse")


def test_async_client_json_and_stream(proxy: Proxy) -> None:
    async def run() -> tuple[str, str]:
        client = proxy.async_client()
        answer = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "async"}])
        parts = []
        async for chunk in await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "async stream"}], stream=True
        ):
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
        await client.close()
        return answer.choices[0].message.content or "", "".join(parts)

    whole, streamed = asyncio.run(run())
    assert whole == "You said: async"
    assert streamed == "You said: async stream"


def test_logprobs_pass_through_a_stream(proxy: Proxy) -> None:
    stream = proxy.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "with logprobs"}], stream=True, logprobs=True
    )
    tokens = [
        t.token for c in stream if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content or []
    ]
    assert "".join(tokens) == "You said: with logprobs"


def test_tool_call_arguments_stream_through(proxy: Proxy) -> None:
    arguments = '{"city": "Paris", "unit": "celsius"}'
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        stream=True,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        extra_headers={
            "x-mock-tool-call": '{"name": "get_weather", "arguments": "' + arguments.replace('"', '\\"') + '"}'
        },
    )
    pieces, finish = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.tool_calls:
            pieces.append(chunk.choices[0].delta.tool_calls[0].function.arguments or "")
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert "".join(pieces) == arguments
    assert finish == "tool_calls"


def test_completions_json_and_stream(proxy: Proxy) -> None:
    client = proxy.client()
    raw = client.completions.with_raw_response.create(model="gpt-4o", prompt="complete me")
    assert raw.parse().choices[0].text == "You said: complete me"
    assert_matches(raw.http_response.json(), "CreateCompletionResponse")
    streamed = "".join(c.choices[0].text for c in client.completions.create(model="gpt-4o", prompt="go", stream=True))
    assert streamed == "You said: go"


def test_embeddings(proxy: Proxy, upstream: Upstream) -> None:
    raw = proxy.client().embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(raw.parse().data) == 2
    assert_matches(raw.http_response.json(), "CreateEmbeddingResponse")
    assert upstream.last_body()["input"] == ["a", "b"]


def test_responses_json_and_stream(proxy: Proxy) -> None:
    client = proxy.client()
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="respond", instructions="be brief")
    assert raw.parse().output_text == "You said: respond"
    assert_matches(raw.http_response.json(), "Response")
    with client.responses.stream(model="gpt-4o", input="stream a response") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.output_text == "You said: stream a response"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    wire = httpx2.post(proxy.url + "/v1/responses", json={"model": "gpt-4o", "input": "wire", "stream": True})
    for name, data in sse_events(wire):
        assert name == data["type"]
        assert_matches(data, "ResponseStreamEvent")


def test_models_list(proxy: Proxy) -> None:
    models = [m.id for m in proxy.client().models.list()]
    assert "gpt-4o" in models


def test_other_v1_paths_pass_through_and_are_recorded(proxy: Proxy, upstream: Upstream) -> None:
    response = httpx2.post(
        proxy.url + "/v1/files", content=b"x" * 1000, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert response.json()["received_bytes"] == 1000
    events = proxy.events(lambda es: any(e["trigger"] == "passthrough" for e in es))
    assert any(e["trigger"] == "passthrough" and e["route"] == "/v1/files" for e in events)


def test_pass_through_can_be_refused(make_proxy) -> None:
    proxy = make_proxy(passthrough="refuse")
    response = httpx2.get(proxy.url + "/v1/files")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_health_and_readiness(proxy: Proxy) -> None:
    assert httpx2.get(proxy.url + "/healthz").json() == {"status": "ok"}
    assert httpx2.get(proxy.url + "/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/v2/chat/completions", "/nothing-here"])
def test_unknown_route_is_an_openai_shaped_404(proxy: Proxy, path: str) -> None:
    response = httpx2.post(proxy.url + path, json={})
    assert response.status_code == 404
    assert_matches(response.json(), "ErrorResponse")
    assert "x-railguard-request-id" in response.headers
