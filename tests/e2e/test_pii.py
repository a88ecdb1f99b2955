"""PII end to end: the upstream never sees the user's data, the user gets it back, leaks are scrubbed."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import quote

import httpx2
import openai
import pytest

from tests.e2e.conftest import Proxy, Upstream

pytestmark = pytest.mark.slow

VALUES = {
    "PERSON": "Margaret Thornton",
    "EMAIL_ADDRESS": "margaret.thornton@example.org",
    "PHONE_NUMBER": "+1 415 555 0132",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IBAN_CODE": "GB33BUKB20201555555555",
    "US_SSN": "536-22-8143",
    "IP_ADDRESS": "192.168.14.7",
    "LOCATION": "Baltimore",
}
PROMPT = (
    f"Hello, I am {VALUES['PERSON']}, e-mail {VALUES['EMAIL_ADDRESS']}, phone {VALUES['PHONE_NUMBER']}. "
    f"My card is {VALUES['CREDIT_CARD']} and my IBAN is {VALUES['IBAN_CODE']}. SSN {VALUES['US_SSN']}. "
    f"I logged in from {VALUES['IP_ADDRESS']} while in {VALUES['LOCATION']}."
)


def sent_upstream(upstream: Upstream) -> str:
    return json.dumps([r.get("body") for r in upstream.requests])


def test_round_trip_masks_every_entity_type_and_restores_it(proxy: Proxy, upstream: Upstream) -> None:
    answer = proxy.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    assert answer.choices[0].message.content == f"You said: {PROMPT}"
    seen = sent_upstream(upstream)
    for entity, value in VALUES.items():
        assert value not in seen, f"{entity} reached the upstream"
        assert f"<{entity}_1>" in seen
    events = proxy.events(lambda es: any(e["trigger"] == "pii_masked" for e in es))
    masked = next(e for e in events if e["trigger"] == "pii_masked")
    assert masked["details"]["entities"]["PERSON"] == 1
    assert all(value not in json.dumps(events) for value in VALUES.values())


@pytest.mark.parametrize("chunk", ["1", "3", "7"])
def test_streamed_answers_restore_placeholders_split_across_chunks(
    proxy: Proxy, upstream: Upstream, chunk: str
) -> None:
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        extra_headers={"x-mock-chunk": chunk},
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == f"You said: {PROMPT}"
    assert not any("<" in p and ">" not in p.split("<")[-1] and "_" in p.split("<")[-1] for p in pieces[:-1])
    assert VALUES["PERSON"] not in sent_upstream(upstream)


def test_the_same_value_gets_the_same_placeholder_across_turns(proxy: Proxy, upstream: Upstream) -> None:
    messages = [
        {"role": "user", "content": "I am Margaret Thornton."},
        {"role": "assistant", "content": "Hello Margaret Thornton, how can I help?"},
        {"role": "user", "content": "Please write to Margaret Thornton and to Peter Hansen."},
    ]
    proxy.client().chat.completions.create(model="gpt-4o", messages=messages)
    sent = [m["content"] for m in upstream.last_body()["messages"]]
    assert sent[0] == "I am <PERSON_1>."
    assert "<PERSON_1>" in sent[1] and "Margaret" not in sent[1]
    assert sent[2] == "Please write to <PERSON_1> and to <PERSON_2>."


def test_placeholders_the_user_typed_cannot_be_confused_with_ours(proxy: Proxy, upstream: Upstream) -> None:
    # (Not "Template uses <PERSON_1> literally ...": talk of templates scores 0.74 on the injection guard and is blocked
    # by the default policy; see detectors/injection/README.md.)
    text = "My form shows <PERSON_1> where my name should be; the real customer is Margaret Thornton."
    answer = proxy.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
    assert answer.choices[0].message.content == f"You said: {text}"
    assert "Margaret" not in sent_upstream(upstream)


def test_tool_call_arguments_are_restored(proxy: Proxy) -> None:
    arguments = '{"customer": "<PERSON_1>", "note": "call <PHONE_NUMBER_1>"}'
    answer = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Open a ticket for Margaret Thornton, phone +1 415 555 0132."}],
        tools=[{"type": "function", "function": {"name": "open_ticket", "parameters": {"type": "object"}}}],
        extra_headers={"x-mock-tool-call": json.dumps({"name": "open_ticket", "arguments": arguments})},
    )
    restored = json.loads(answer.choices[0].message.tool_calls[0].function.arguments)
    assert restored == {"customer": "Margaret Thornton", "note": "call +1 415 555 0132"}


def test_concurrent_requests_never_see_each_others_values(proxy: Proxy) -> None:
    names = ["Margaret Thornton", "Peter Hansen", "Olivia Martinez", "Daniel Okafor", "Sophie Laurent", "Ivan Petrov"]
    results: dict[str, str] = {}

    def ask(name: str) -> None:
        client = proxy.client()
        for _ in range(3):
            answer = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"I am {name}."}]
            )
            results.setdefault(name, "")
            results[name] += answer.choices[0].message.content or ""

    threads = [threading.Thread(target=ask, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        assert results[name] == f"You said: I am {name}." * 3
        assert not any(other in results[name] for other in names if other != name)


def test_a_phone_number_the_user_never_gave_is_redacted(proxy: Proxy) -> None:
    leak = "Sure. You can also reach our CEO directly on +1 212 555 0198 any time."
    answer = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Tell me about your company."}],
        extra_headers={"x-mock-reply": quote(leak)},
    )
    assert answer.choices[0].message.content == "Sure. You can also reach our CEO directly on <PHONE_NUMBER> any time."
    events = proxy.events(lambda es: any(e["trigger"] == "pii_leak" for e in es))
    assert any(e["trigger"] == "pii_leak" and e["details"]["entities"] == {"PHONE_NUMBER": 1} for e in events)


def test_the_users_own_data_in_the_answer_is_not_a_leak(proxy: Proxy) -> None:
    answer = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "My number is +1 415 555 0132, call me."}],
    )
    assert answer.choices[0].message.content == "You said: My number is +1 415 555 0132, call me."


LEAK_BLOCKS = """
name: default
output:
  pii_leakage:
    actions: {PHONE_NUMBER: block}
  streaming: {window_chars: 30}
"""


def test_a_leak_the_policy_blocks_ends_a_stream_before_the_number(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=LEAK_BLOCKS))
    reply = "Thanks for waiting on the line. Call +1 212 555 0198 for the CEO. Bye."
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"x-mock-reply": quote(reply), "x-mock-chunk": "4"},
    )
    received = []
    with pytest.raises(openai.APIError, match="output/pii_leak"):
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Thanks for waiting on the line. "


RECOGNIZERS = """
recognizers:
  - name: employee_number
    entity: EMPLOYEE_ID
    patterns:
      - regex: '\\bE-\\d{6}\\b'
        score: 0.9
    context: [employee]
"""

CUSTOM = """
name: default
input:
  pii:
    recognizers: recognizers/employees.yaml
    actions: {EMPLOYEE_ID: mask}
"""


def test_a_staff_declared_recognizer_works_end_to_end(make_proxy, policy_dir, upstream: Upstream) -> None:
    directory = policy_dir(default=CUSTOM)
    (directory / "recognizers").mkdir()
    (directory / "recognizers" / "employees.yaml").write_text(RECOGNIZERS)
    proxy = make_proxy(policies=directory)
    answer = proxy.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "My employee number is E-204518."}]
    )
    assert upstream.last_body()["messages"][0]["content"] == "My employee number is <EMPLOYEE_ID_1>."
    assert answer.choices[0].message.content == "You said: My employee number is E-204518."


def test_a_missing_recognizer_file_fails_validation(policy_dir) -> None:
    from policies.loader import PolicyError, load_policy_set

    directory = policy_dir(default=CUSTOM)
    with pytest.raises(PolicyError, match=r"default.yaml:5:5: recognizers file .* does not exist"):
        load_policy_set(Path(directory))


def test_monitor_mode_masks_nothing_and_says_what_it_would_have_done(
    make_proxy, policy_dir, upstream: Upstream
) -> None:
    proxy = make_proxy(policies=policy_dir(default="name: default\nmode: monitor\n"))
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "I am Margaret Thornton."}]
    )
    assert upstream.last_body()["messages"][0]["content"] == "I am Margaret Thornton."
    assert "would_mask:input/pii_masked" in raw.headers["x-railguard-monitor"]


def test_responses_api_round_trip(proxy: Proxy, upstream: Upstream) -> None:
    response = proxy.client().responses.create(model="gpt-4o", input="I am Margaret Thornton.")
    assert response.output_text == "You said: I am Margaret Thornton."
    wire = httpx2.post(
        proxy.url + "/v1/responses", json={"model": "gpt-4o", "input": "I am Peter Hansen.", "stream": True}
    )
    assert "Peter Hansen" in wire.text and "<PERSON_1>" not in wire.text
    assert "Hansen" not in sent_upstream(upstream)
