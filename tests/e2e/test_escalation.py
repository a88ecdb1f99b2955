"""Layer 5 end to end: confidence on every answer, each escalation trigger through the real `openai` SDK, what the
user sees, the review that lands in the queue, notifier failures that never fail a request."""

from __future__ import annotations

import math

import httpx2
import openai
import pytest

from escalation.confidence.model import ConfidenceModel
from tests.e2e.conftest import Proxy, ProxyFactory, Upstream
from tests.e2e.reviews import ADMIN_TOKEN, review_for, reviews, wait_for
from tests.openapi import assert_matches, sse_events

NOTICE = "A member of our team will look at this conversation."
HANDOFF = "I'm handing you over to a colleague now."


def human_policy(show: str) -> str:
    return f"""
name: default
post_response:
  escalation:
    notice: "{NOTICE}"
    handoff_message: "{HANDOFF}"
    triggers:
      request_human: {{show: {show}, priority: urgent}}
"""


def ask(proxy: Proxy, text: str, **kwargs: object) -> openai.types.chat.ChatCompletion:
    return proxy.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}], **kwargs
    )


# ---------------------------------------------------------------------------------------------- confidence


def toxicity_of(answer: str) -> float:
    """What the default policy's toxicity guard measures on a whole answer (one of confidence's features)."""
    from detectors.base import DetectorContext
    from detectors.toxicity import ToxicityDetector

    return ToxicityDetector().detect(answer, DetectorContext()).score


def test_every_answer_carries_a_recorded_confidence(proxy: Proxy, upstream) -> None:
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "what is the capital of France?"}]
    )
    confidence = float(raw.headers["x-railguard-confidence"])
    assert 0.0 <= confidence <= 1.0
    # Only the toxicity guard measures something on this harmless answer (its offline head's low background score),
    # on the text the upstream wrote: the mock's echo of the question as it arrived (with the place name masked).
    answered = "You said: " + upstream.last_body()["messages"][-1]["content"]
    expected = ConfidenceModel.load().score({"toxicity": toxicity_of(answered)})
    assert confidence == pytest.approx(expected, abs=0.001)
    request_id = raw.headers["x-railguard-request-id"]
    events = proxy.events(lambda es: any(e["trigger"] == "confidence" and e["request_id"] == request_id for e in es))
    event = next(e for e in events if e["trigger"] == "confidence" and e["request_id"] == request_id)
    assert event["layer"] == "post_response" and event["confidence"] == pytest.approx(confidence, abs=0.001)

    for create in (
        lambda c: c.completions.with_raw_response.create(model="gpt-4o", prompt="hello"),
        lambda c: c.responses.with_raw_response.create(model="gpt-4o", input="hello"),
    ):
        assert 0.0 <= float(create(proxy.client()).headers["x-railguard-confidence"]) <= 1.0


def test_a_truncated_unsure_answer_is_less_confident_and_escalates(make_proxy: ProxyFactory, policy_dir) -> None:
    model = ConfidenceModel.load()
    unsure = {"truncated": 1.0, "low_logprob": 1.0 - math.exp(-3.0)}
    unsure["toxicity"] = toxicity_of("You said: tell me everything")  # the mock echoes the question
    baseline, low = model.score({"toxicity": toxicity_of("You said: hi")}), model.score(unsure)
    assert low < baseline
    threshold = round((baseline + low) / 2, 4)
    # Injection off: its (small) score of "tell me everything" would count too, and this test is about truncation.
    policy = (
        "name: default\ninput:\n  injection: {enabled: false}\n"
        f"post_response:\n  escalation:\n    triggers:\n      low_confidence: {{below: {threshold}}}\n"
    )
    proxy = make_proxy(policies=policy_dir(default=policy), admin_token=ADMIN_TOKEN)

    fine = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], logprobs=True
    )
    assert float(fine.headers["x-railguard-confidence"]) > threshold
    assert "x-railguard-escalated" not in fine.headers

    client = proxy.client(default_headers={"x-mock-finish-reason": "length", "x-mock-logprob": "-3"})
    unsure_raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "tell me everything"}], logprobs=True
    )
    assert float(unsure_raw.headers["x-railguard-confidence"]) == pytest.approx(low, abs=0.001)
    assert unsure_raw.headers["x-railguard-escalated"] == "low_confidence"
    review = review_for(proxy, unsure_raw.headers["x-railguard-request-id"])
    assert review["triggers"] == ["low_confidence"] and review["confidence"] == pytest.approx(low, abs=0.001)
    assert review["reasons"][0]["features"]["truncated"] == 1.0


# ---------------------------------------------------------------------------------------------- asking for a human


def test_asking_for_a_human_gets_the_answer_a_notice_and_a_review(make_proxy: ProxyFactory, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=human_policy("notice")), admin_token=ADMIN_TOKEN)
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "this is useless, let me talk to a human"}], user="u-1"
    )
    answer = raw.parse().choices[0].message.content or ""
    assert answer == "You said: this is useless, let me talk to a human\n\n" + NOTICE
    assert raw.headers["x-railguard-escalated"] == "request_human"
    assert_matches(raw.http_response.json(), "CreateChatCompletionResponse")
    review = review_for(proxy, raw.headers["x-railguard-request-id"])
    assert (review["status"], review["priority_name"], review["shown"]) == ("open", "urgent", "notice")
    assert review["triggers"] == ["request_human"] and "intent finding" in review["reasons"][0]["reason"]
    assert review["conversation"][-1] == {"role": "user", "text": "this is useless, let me talk to a human"}
    assert review["answer"].endswith(NOTICE) and review["user_id"] == "u-1"


def test_a_plain_question_is_not_escalated(make_proxy: ProxyFactory, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=human_policy("notice")), admin_token=ADMIN_TOKEN)
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "how do I reset my password?"}]
    )
    assert "x-railguard-escalated" not in raw.headers
    assert raw.parse().choices[0].message.content == "You said: how do I reset my password?"
    request_id = raw.headers["x-railguard-request-id"]
    # The decision record is written (feedback links to it) but nothing is queued.
    with httpx2.Client(base_url=proxy.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        record = wait_for(lambda: client.get(f"/admin/requests/{request_id}").json().get("decision"))
        assert record["escalated"] is False and record["review_id"] is None
    assert reviews(proxy) == []


def test_a_handoff_replaces_the_answer_without_calling_the_upstream(
    make_proxy: ProxyFactory, policy_dir, upstream: Upstream
) -> None:
    proxy = make_proxy(policies=policy_dir(default=human_policy("handoff")), admin_token=ADMIN_TOKEN)
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Can I speak to a person please?"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == HANDOFF
    assert completion.choices[0].finish_reason == "stop"
    assert_matches(raw.http_response.json(), "CreateChatCompletionResponse")

    stream = proxy.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "get me a real person now"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == HANDOFF

    response = proxy.client().responses.create(model="gpt-4o", input="I want a live agent")
    assert response.output_text == HANDOFF and response.status == "completed"
    assert upstream.requests == []  # nobody generated an answer nobody would see
    review = review_for(proxy, raw.headers["x-railguard-request-id"])
    assert review["shown"] == "handoff" and review["answer"] == HANDOFF


def test_a_streamed_answer_ends_with_the_notice_and_its_confidence(make_proxy: ProxyFactory, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=human_policy("notice")), admin_token=ADMIN_TOKEN)
    stream = proxy.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "get me a human agent"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: get me a human agent\n\n" + NOTICE
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None  # the usage chunk still comes last

    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "human please"}], "stream": True}
    response = httpx2.post(proxy.url + "/v1/chat/completions", json=body)
    # Asking for a human is known before the stream starts: a header. The confidence only at its end: a comment.
    assert response.headers["x-railguard-escalated"] == "request_human"
    comments = [line for line in response.text.splitlines() if line.startswith(": ")]
    assert len(comments) == 1 and comments[0].startswith(": x-railguard-confidence: ")
    assert 0.0 <= float(comments[0].split(": ")[-1]) <= 1.0
    assert response.text.rstrip().endswith("data: [DONE]")  # the comments come before [DONE]
    events = sse_events(response)
    for _, data in events[:-1]:
        assert_matches(data, "CreateChatCompletionStreamResponse")


def test_a_streamed_responses_answer_gets_the_notice_in_every_event_that_repeats_the_text(
    make_proxy: ProxyFactory, policy_dir
) -> None:
    proxy = make_proxy(policies=policy_dir(default=human_policy("notice")), admin_token=ADMIN_TOKEN)
    stream = proxy.client().responses.create(model="gpt-4o", input="talk to a human", stream=True)
    events = list(stream)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expected = "You said: talk to a human\n\n" + NOTICE
    assert deltas == expected
    done = next(e for e in events if e.type == "response.output_text.done")
    completed = next(e for e in events if e.type == "response.completed")
    assert done.text == expected and completed.response.output_text == expected
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(numbers)))


# ---------------------------------------------------------------------------------------------- violations


BLOCKING = """
name: default
input:
  terms: {enabled: true, terms: [forbidden], action: block}
output:
  terms: {enabled: true, terms: [dubious], action: escalate}
post_response:
  escalation:
    notice: "NOTICE"
    triggers:
      violation: {show: notice}
"""


def test_a_safety_block_is_queued_with_high_priority(make_proxy: ProxyFactory, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BLOCKING), admin_token=ADMIN_TOKEN)
    with pytest.raises(openai.BadRequestError) as raised:
        ask(proxy, "tell me the forbidden thing")
    request_id = raised.value.response.headers["x-railguard-request-id"]
    review = review_for(proxy, request_id)
    assert (review["priority_name"], review["blocked"], review["shown"]) == ("high", True, "blocked")
    assert review["triggers"] == ["violation"]
    assert "input.terms" in review["reasons"][0]["reason"]
    assert any(f["guard"] == "input.terms" and f["action"] == "block" for f in review["findings"])
    assert review["answer"] == ""


def test_a_guard_escalation_lets_the_answer_out_with_the_notice(
    make_proxy: ProxyFactory, policy_dir, upstream: Upstream
) -> None:
    proxy = make_proxy(policies=policy_dir(default=BLOCKING), admin_token=ADMIN_TOKEN)
    client = proxy.client(default_headers={"x-mock-reply": "a dubious claim"})
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.parse().choices[0].message.content == "a dubious claim\n\nNOTICE"
    assert raw.headers["x-railguard-escalated"] == "violation"
    review = review_for(proxy, raw.headers["x-railguard-request-id"])
    assert review["triggers"] == ["violation"] and review["blocked"] is False
    assert review["reasons"][0]["escalations"][0]["guard"] == "output.terms"


def test_an_escalation_found_mid_stream_is_announced_at_its_end(make_proxy: ProxyFactory, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BLOCKING), admin_token=ADMIN_TOKEN)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = httpx2.post(
        proxy.url + "/v1/chat/completions", json=body, headers={"x-mock-reply": "a dubious claim. More text."}
    )
    assert "x-railguard-escalated" not in response.headers
    comments = {
        line[2:].split(": ")[0]: line.split(": ")[-1] for line in response.text.splitlines() if line[:2] == ": "
    }
    assert comments["x-railguard-escalated"] == "violation" and "x-railguard-confidence" in comments
    text = "".join(
        (data["choices"][0]["delta"].get("content") or "")
        for _, data in sse_events(response)
        if isinstance(data, dict) and data.get("choices")
    )
    assert text == "a dubious claim. More text.\n\nNOTICE"
    review_for(proxy, response.headers["x-railguard-request-id"])


def test_monitor_mode_records_what_it_would_escalate_and_changes_nothing(make_proxy: ProxyFactory, policy_dir) -> None:
    policy = human_policy("handoff").replace("  escalation:\n", "  escalation:\n    mode: monitor\n")
    proxy = make_proxy(policies=policy_dir(default=policy), admin_token=ADMIN_TOKEN)
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "operator please!"}]
    )
    assert raw.parse().choices[0].message.content == "You said: operator please!"
    assert "would_escalate:post_response/request_human" in raw.headers["x-railguard-monitor"]
    request_id = raw.headers["x-railguard-request-id"]
    events = proxy.events(lambda es: any(e["trigger"] == "request_human" and e["layer"] == "post_response" for e in es))
    event = next(e for e in events if e["trigger"] == "request_human" and e["layer"] == "post_response")

    assert event["enforced"] is False and event["request_id"] == request_id
    with httpx2.Client(base_url=proxy.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        assert wait_for(lambda: client.get(f"/admin/requests/{request_id}").json().get("decision"))
    assert reviews(proxy) == []


# ---------------------------------------------------------------------------------------------- notifiers


def test_a_failing_notifier_never_fails_the_request_and_is_an_event(make_proxy: ProxyFactory, policy_dir) -> None:
    from proxy.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/hook"
    policy = f"""
name: default
post_response:
  notifiers:
    ops: {{type: webhook, url: "{dead}", attempts: 3}}
  escalation:
    triggers:
      request_human: {{notify: [ops]}}
"""
    proxy = make_proxy(policies=policy_dir(default=policy), admin_token=ADMIN_TOKEN, review_notify_backoff=0.01)
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "get me a representative"}]
    )
    assert raw.http_response.status_code == 200
    events = proxy.events(lambda es: any(e["trigger"] == "notification_failed" for e in es), timeout=15)
    failed = next(e for e in events if e["trigger"] == "notification_failed")
    assert failed["guard"] == "notifier:ops" and failed["details"]["attempts"] == 3
    assert failed["request_id"] == raw.headers["x-railguard-request-id"]


def test_the_webhook_notifier_posts_a_signed_escalation(
    make_proxy: ProxyFactory, policy_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.escalation.receivers import WebhookReceiver

    monkeypatch.setenv("RG_TEST_HOOK_SECRET", "s3cret")
    with WebhookReceiver(fail_first=0) as receiver:
        policy = f"""
name: default
post_response:
  notifiers:
    ops: {{type: webhook, url: "{receiver.url}", secret_env: RG_TEST_HOOK_SECRET}}
  escalation:
    triggers:
      request_human: {{notify: [ops], priority: high}}
"""
        proxy = make_proxy(policies=policy_dir(default=policy), admin_token=ADMIN_TOKEN)
        raw = proxy.client().chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "human please, my mail is jo@example.com"}]
        )
        delivery = wait_for(lambda: receiver.accepted)
        assert delivery
        payload = delivery[0]["json"]
        assert payload["type"] == "railguard.escalation" and payload["priority"] == "high"
        assert payload["request_id"] == raw.headers["x-railguard-request-id"]
        assert "jo@example.com" not in delivery[0]["body"].decode()
        assert receiver.verify(delivery[0], "s3cret")


def test_a_review_store_that_is_down_never_fails_a_request(make_proxy: ProxyFactory, policy_dir) -> None:
    from proxy.servers import free_port

    down = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test"
    proxy = make_proxy(
        ready=False, policies=policy_dir(default=human_policy("notice")), admin_token=ADMIN_TOKEN, review_db=down
    )
    assert "review store unavailable" in httpx2.get(proxy.url + "/readyz").json()["reason"]
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "let me talk to a human"}]
    )
    assert raw.http_response.status_code == 200 and raw.parse().choices[0].message.content.endswith(NOTICE)
    request_id = raw.headers["x-railguard-request-id"]
    events = proxy.events(lambda es: any(e["trigger"] == "guard_error" for e in es), timeout=15)
    failure = next(e for e in events if e["trigger"] == "guard_error")
    assert failure["guard"] == "post_response.escalation" and failure["request_id"] == request_id
    assert "review store is not available" in failure["details"]["error"]
    unavailable = httpx2.get(proxy.url + "/admin/reviews", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert unavailable.status_code == 503 and unavailable.json()["error"]["code"] == "review_store_unavailable"
