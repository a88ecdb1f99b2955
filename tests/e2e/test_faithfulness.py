"""Faithfulness end to end: answers are checked against the documents the request supplied."""

from __future__ import annotations

from urllib.parse import quote

import openai
import pytest

pytestmark = pytest.mark.slow

DOCUMENT = (
    "The Example Bank savings account pays 2.1% interest per year, paid monthly. "
    "There is no fee to open the account, and withdrawals are free up to four times a month. "
    "Accounts can be opened online by customers over 18."
)
FAITHFUL = "The savings account pays 2.1% interest a year, paid every month. You can open it online if you are over 18."
HALLUCINATED = (
    "The savings account pays 7.5% interest a year, paid every month. You can open it online if you are over 18."
)

STRICT = """
name: default
output:
  faithfulness:
    block_above: 0.8
    message: "I could not verify that answer against your documents."
  streaming: {window_chars: 40}
"""


def ask(proxy, reply: str, context: list[str] | None = None, stream: bool = False):
    extra = {"railguard": {"context": context}} if context is not None else None
    return proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Tell me about the savings account."}],
        extra_body=extra,
        extra_headers={"x-mock-reply": quote(reply)},
        stream=stream,
    )


def test_a_hallucinated_number_is_blocked_and_the_faithful_paraphrase_is_not(make_proxy, policy_dir, upstream) -> None:
    proxy = make_proxy(policies=policy_dir(default=STRICT))
    assert ask(proxy, FAITHFUL, [DOCUMENT]).choices[0].message.content == FAITHFUL
    assert "railguard" not in upstream.last_body()  # the documents are for the guard, not the upstream
    with pytest.raises(openai.BadRequestError) as raised:
        ask(proxy, HALLUCINATED, [DOCUMENT])
    assert "output/unsupported_answer" in raised.value.message
    events = proxy.events(lambda es: any(e["trigger"] == "unsupported_answer" and e["action"] == "block" for e in es))
    blocked = [e for e in events if e["trigger"] == "unsupported_answer" and e["action"] == "block"]
    assert blocked[0]["details"]["unsupported_claims"] >= 1
    assert blocked[0]["confidence"] > 0.8


def test_tool_results_count_as_sources(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=STRICT))
    messages = [
        {"role": "user", "content": "What does the savings account pay?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": DOCUMENT},
    ]
    client = proxy.client()
    fine = client.chat.completions.create(
        model="gpt-4o", messages=messages, extra_headers={"x-mock-reply": quote(FAITHFUL)}
    )
    assert fine.choices[0].message.content == FAITHFUL
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gpt-4o", messages=messages, extra_headers={"x-mock-reply": quote(HALLUCINATED)}
        )


def test_no_documents_means_no_check_and_a_recorded_reason(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=STRICT))
    assert ask(proxy, HALLUCINATED).choices[0].message.content == HALLUCINATED
    events = proxy.events(lambda es: any(e["trigger"] == "no_context" for e in es))
    skipped = next(e for e in events if e["trigger"] == "no_context")
    assert skipped["action"] == "allow" and "no documents" in skipped["details"]["skipped"]


def test_a_stream_stops_before_the_unsupported_sentence(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=STRICT))
    reply = "Here is what I found in your documents. " + HALLUCINATED
    received = []
    with pytest.raises(openai.APIError, match="output/unsupported_answer"):
        for chunk in ask(proxy, reply, [DOCUMENT], stream=True):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "7.5" not in "".join(received)
