"""Output guards on whole and streamed answers: nothing unguarded reaches the client."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx2
import openai
import pytest

from tests.e2e.conftest import Proxy, read_stream
from tests.openapi import assert_matches, sse_events

GOOD = "Our savings account pays interest monthly. You can open it online in minutes. "
BAD = "This fund has guaranteed returns for everyone. "
TAIL = "Ask me anything else about your accounts."

GUARDED = """
name: default
output:
  terms:
    enabled: true
    terms: ["guaranteed returns"]
  streaming:
    window_chars: 40
    max_window_chars: 400
    max_hold_ms: 2000
"""

MONITORED = GUARDED.replace("output:", "mode: monitor\noutput:")


@pytest.fixture
def guarded(make_proxy, policy_dir) -> Proxy:
    return make_proxy(policies=policy_dir(default=GUARDED))


def stream_text(proxy: Proxy, reply: str, **headers: str) -> tuple[str, str | None, Exception | None]:
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "tell me"}],
        stream=True,
        extra_headers={"x-mock-reply": quote(reply), "x-mock-chunk": "7", **headers},
    )
    return read_stream(stream)


def test_a_violation_mid_stream_releases_what_came_before_and_nothing_of_it(guarded: Proxy) -> None:
    text, finish, error = stream_text(guarded, GOOD + BAD + TAIL)
    assert text == GOOD
    assert "guaranteed" not in text
    assert finish == "content_filter"
    assert isinstance(error, openai.APIError) and "output/denied_term" in error.message


def test_the_wire_ends_cleanly_on_a_violation(guarded: Proxy) -> None:
    response = httpx2.post(
        guarded.url + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True},
        headers={"x-mock-reply": quote(GOOD + BAD + TAIL), "x-mock-chunk": "7"},
    )
    events = sse_events(response)
    *chunks, (_, error) = events
    for _, chunk in chunks:
        assert_matches(chunk, "CreateChatCompletionStreamResponse")
    assert chunks[-1][1]["choices"][0]["finish_reason"] == "content_filter"
    assert error["error"]["code"] == "content_filter"


def test_a_clean_stream_is_complete_and_in_order(guarded: Proxy) -> None:
    text, finish, error = stream_text(guarded, GOOD + TAIL)
    assert (text, finish, error) == (GOOD + TAIL, "stop", None)


def test_a_term_split_across_chunks_and_windows_is_still_caught(guarded: Proxy) -> None:
    # 1-character chunks: the phrase arrives in 18 pieces.
    text, finish, _ = stream_text(guarded, GOOD + BAD, **{"x-mock-chunk": "1"})
    assert "guaranteed" not in text and finish == "content_filter"


def test_whole_answers_are_checked_too(guarded: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        guarded.client().chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-reply": quote(GOOD + BAD)},
        )
    assert raised.value.code == "content_filter"
    assert raised.value.response.headers["x-railguard-blocked"] == "output/denied_term"


def test_responses_stream_ends_incomplete_on_a_violation(guarded: Proxy) -> None:
    response = httpx2.post(
        guarded.url + "/v1/responses",
        json={"model": "gpt-4o", "input": "x", "stream": True},
        headers={"x-mock-reply": quote(GOOD + BAD + TAIL), "x-mock-chunk": "7"},
    )
    events = sse_events(response)
    for _, data in events:
        assert_matches(data, "ResponseStreamEvent")

    released = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert released == GOOD
    assert events[-1][0] == "response.incomplete"
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "content_filter"}
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))


def test_text_is_released_after_max_hold_even_mid_sentence(make_proxy, policy_dir) -> None:
    policy = GUARDED.replace("max_hold_ms: 2000", "max_hold_ms: 200").replace("window_chars: 40", "window_chars: 300")
    proxy = make_proxy(policies=policy_dir(default=policy))
    started = time.monotonic()
    with httpx2.stream(
        "POST",
        proxy.url + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True},
        headers={
            "x-mock-reply": quote("a slow answer without any full stop " * 6),
            "x-mock-chunk": "4",
            "x-mock-chunk-delay": "0.1",
        },
    ) as response:
        first_content = None
        for line in response.iter_lines():
            if '"content":"' in line and '"content":""' not in line and first_content is None:
                first_content = time.monotonic() - started
    assert first_content is not None
    assert first_content < 3.0  # the whole answer takes ~5.4 s upstream


def test_monitor_mode_streams_without_holding_back(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=MONITORED))
    text, finish, error = stream_text(proxy, GOOD + BAD + TAIL)
    assert (text, finish, error) == (GOOD + BAD + TAIL, "stop", None)
    events = proxy.events(lambda es: any(e["trigger"] == "denied_term" for e in es))
    hit = [e for e in events if e["trigger"] == "denied_term"]
    assert hit and hit[0]["enforced"] is False and hit[0]["action"] == "block"


def test_monitor_mode_whole_answer_changes_nothing_but_headers(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=MONITORED))
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-reply": quote(GOOD + BAD)}
    )
    assert raw.parse().choices[0].message.content == GOOD + BAD
    assert raw.headers["x-railguard-monitor"] == "would_block:output/denied_term"
