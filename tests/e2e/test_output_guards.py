"""Toxicity and format guards end to end: the real server, the real `openai` SDK, the mock upstream."""

from __future__ import annotations

import json
from urllib.parse import quote

import openai
import pytest

from tests.e2e.conftest import Proxy, read_stream

pytestmark = pytest.mark.slow

GOOD = "Our savings account pays interest monthly. You can open it online in minutes. "
TOXIC = "You are a stupid bitch and nobody likes you. "
TAIL = "Ask me anything else about your accounts."

POLICY = """
name: default
output:
  toxicity:
    block_above: 0.6704
  format:
    action: reask
  streaming:
    window_chars: 40
    max_window_chars: 400
    max_hold_ms: 2000
"""
BLOCK_FORMAT = POLICY.replace("action: reask", "action: block")

SCHEMA = {
    "type": "object",
    "properties": {"plan": {"type": "string"}, "monthly_fee": {"type": "integer"}},
    "required": ["plan", "monthly_fee"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "plan", "schema": SCHEMA, "strict": True}}
VALID = json.dumps({"plan": "basic savings", "monthly_fee": 0})
WRONG_TYPE = json.dumps({"plan": "basic savings", "monthly_fee": "none"})


@pytest.fixture
def proxy(make_proxy, policy_dir) -> Proxy:
    return make_proxy(policies=policy_dir(default=POLICY))


def stream(proxy: Proxy, reply: str, **kwargs) -> tuple[str, str | None, Exception | None]:
    chunks = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "tell me"}],
        stream=True,
        extra_headers={"x-mock-reply": quote(reply), "x-mock-chunk": "7"},
        **kwargs,
    )
    return read_stream(chunks)


def ask(proxy: Proxy, reply: str, second: str | None = None, **kwargs):
    headers = {"x-mock-reply": quote(reply)} | ({"x-mock-reply-2": quote(second)} if second is not None else {})
    return proxy.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "tell me"}], extra_headers=headers, **kwargs
    )


def test_a_toxic_sentence_mid_stream_is_never_sent(proxy: Proxy) -> None:
    text, finish, error = stream(proxy, GOOD + TOXIC + TAIL)
    assert text == GOOD  # everything before it, and not a byte of it or after it
    assert finish == "content_filter"
    assert isinstance(error, openai.APIError) and "output/toxic_answer" in error.message
    events = proxy.events(lambda es: any(e["trigger"] == "toxic_answer" for e in es))
    blocked = next(e for e in events if e["trigger"] == "toxic_answer")
    assert blocked["action"] == "block" and blocked["guard"] == "output.toxicity"
    assert blocked["details"]["labels"]["toxicity"] > 0.6704 and "toxicity" in blocked["details"]["labels_reached"]


def test_a_clean_answer_passes_whole_and_streamed(proxy: Proxy) -> None:
    assert ask(proxy, GOOD + TAIL).choices[0].message.content == GOOD + TAIL
    text, finish, error = stream(proxy, GOOD + TAIL)
    assert (text, finish, error) == (GOOD + TAIL, "stop", None)


def test_a_toxic_whole_answer_is_a_content_filter_error(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        ask(proxy, GOOD + TOXIC + TAIL)
    assert raised.value.code == "content_filter" and "output/toxic_answer" in raised.value.message


def test_a_toxic_json_answer_is_blocked(proxy: Proxy) -> None:
    toxic_json = json.dumps({"plan": "basic savings", "note": TOXIC.strip()})
    with pytest.raises(openai.BadRequestError) as raised:
        ask(proxy, toxic_json, response_format={"type": "json_object"})
    assert raised.value.code == "content_filter" and "toxic_answer" in raised.value.message
    text, finish, error = stream(proxy, toxic_json, response_format={"type": "json_object"})
    assert text == "" and finish == "content_filter" and error is not None  # JSON is held whole: nothing leaks


def test_a_schema_failure_is_asked_again_once_and_the_good_answer_delivered(proxy: Proxy, upstream) -> None:
    answer = ask(proxy, WRONG_TYPE, second=VALID, response_format=RESPONSE_FORMAT)
    assert answer.choices[0].message.content == VALID
    assert len(upstream.requests) == 2
    retry = upstream.last_body()["messages"]
    assert retry[-2] == {"role": "assistant", "content": WRONG_TYPE}
    assert retry[-1]["role"] == "user" and "$.monthly_fee" in retry[-1]["content"]
    events = proxy.events(lambda es: any(e["trigger"] == "format_invalid" for e in es))
    reask = next(e for e in events if e["trigger"] == "format_invalid")
    assert reask["action"] == "rewrite" and reask["details"]["reask"] is True


def test_a_second_failure_is_blocked(proxy: Proxy, upstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        ask(proxy, WRONG_TYPE, second="Sorry, the basic plan has no monthly fee.", response_format=RESPONSE_FORMAT)
    assert raised.value.code == "content_filter" and "output/format_invalid" in raised.value.message
    assert len(upstream.requests) == 2  # one re-ask, never more


def test_block_action_does_not_ask_again(make_proxy, policy_dir, upstream) -> None:
    proxy = make_proxy(policies=policy_dir(default=BLOCK_FORMAT))
    with pytest.raises(openai.BadRequestError):
        ask(proxy, "not json at all", second=VALID, response_format={"type": "json_object"})
    assert len(upstream.requests) == 1


def test_a_streamed_json_answer_is_held_whole_and_validated_at_the_end(proxy: Proxy, upstream) -> None:
    text, finish, error = stream(proxy, VALID, response_format=RESPONSE_FORMAT)
    assert (text, finish, error) == (VALID, "stop", None)
    text, finish, error = stream(proxy, WRONG_TYPE, response_format=RESPONSE_FORMAT)
    assert text == "" and finish == "content_filter"  # a stream cannot be asked again: blocked, nothing leaked
    assert isinstance(error, openai.APIError) and "format_invalid" in error.message


def test_responses_api_text_format_is_validated_and_asked_again(proxy: Proxy, upstream) -> None:
    response = proxy.client().responses.create(
        model="gpt-4o",
        input="Which plan?",
        text={"format": {"type": "json_schema", "name": "plan", "schema": SCHEMA, "strict": True}},
        extra_headers={"x-mock-reply": quote(WRONG_TYPE), "x-mock-reply-2": quote(VALID)},
    )
    assert response.output_text == VALID
    retry = upstream.last_body()["input"]
    assert retry[0] == {"role": "user", "content": "Which plan?"} and retry[-1]["role"] == "user"
