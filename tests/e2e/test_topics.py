"""Pre-generation guards end to end: topics allowed and blocked, intents, hot reload of topics."""

from __future__ import annotations

import time

import openai
import pytest

from tests.e2e.conftest import Upstream

pytestmark = pytest.mark.slow

BANK = """
name: default
refusal: {style: message, message: "I can only help with your accounts and cards."}
pre_generation:
  topics:
    topics:
      - name: accounts
        description: Bank accounts, balances, statements and transfers.
        examples: ["What is my balance?", "Show my last statement", "Transfer 50 euros to savings",
                   "Why was I charged a fee?", "Open a joint account"]
      - name: cards
        description: Debit and credit cards, PINs, limits, declined payments.
        examples: ["My card was declined", "I lost my card", "Change my PIN", "Raise my card limit",
                   "When does my new card arrive?"]
      - name: poems
        description: Creative writing such as poems, songs and stories.
        examples: ["Write a poem about the sea", "Compose a song", "Tell me a story"]
    allowed: [accounts, cards]
    blocked: [poems]
"""


def ask(proxy, text: str, messages: list | None = None):
    return proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages or [{"role": "user", "content": text}]
    )


def test_allowed_topics_pass_and_blocked_ones_get_the_policys_refusal(
    make_proxy, policy_dir, upstream: Upstream
) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK))
    assert (
        ask(proxy, "my debit card got declined at the petrol station")
        .parse()
        .choices[0]
        .message.content.startswith("You said:")
    )
    upstream.requests.clear()
    raw = ask(proxy, "could you write a little poem about my cat?")
    answer = raw.parse()
    assert answer.choices[0].message.content == "I can only help with your accounts and cards."
    assert answer.choices[0].finish_reason == "content_filter"
    assert raw.headers["x-railguard-blocked"] == "pre_generation/blocked_topic"
    assert upstream.requests == []  # the upstream never saw it


def test_off_topic_is_refused_but_small_talk_is_not(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK))
    assert ask(proxy, "what's the capital of mongolia?").headers["x-railguard-blocked"] == "pre_generation/off_topic"
    for chat in ("hi there!", "thanks a lot"):
        assert "x-railguard-blocked" not in ask(proxy, chat).headers


def test_a_follow_up_stays_on_the_conversations_topic(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK))
    conversation = [
        {"role": "user", "content": "Can I raise the limit on my credit card?"},
        {"role": "assistant", "content": "Yes, up to 5,000 euros."},
        {"role": "user", "content": "and for my wife?"},
    ]
    assert "x-railguard-blocked" not in ask(proxy, "", conversation).headers


def test_hot_reload_of_a_new_topic_changes_behaviour_without_restart(make_proxy, policy_dir) -> None:
    directory = policy_dir(default=BANK)
    proxy = make_proxy(policies=directory)
    question = "what mortgage rate could I get for a new house?"
    assert ask(proxy, question).headers["x-railguard-blocked"] == "pre_generation/off_topic"
    updated = BANK.replace(
        "    allowed: [accounts, cards]",
        "      - name: mortgages\n        description: Home loans and mortgage rates.\n"
        '        examples: ["What mortgage rate can I get?", "How much can I borrow for a house?",\n'
        '                   "Fix my mortgage rate"]\n'
        "    allowed: [accounts, cards, mortgages]",
    )
    (directory / "default.yaml").write_text(updated)
    deadline = time.monotonic() + 20
    while proxy.services.policies.status.reloads < 1:
        assert time.monotonic() < deadline, proxy.services.policies.status
        time.sleep(0.05)
    assert "x-railguard-blocked" not in ask(proxy, question).headers


@pytest.mark.parametrize(
    "text",
    ["I want to talk to a person", "agent please", "this bot is useless, get me someone", "can I speak to a human?"],
)
def test_asking_for_a_human_escalates_and_is_never_off_topic(make_proxy, policy_dir, text: str) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK))
    raw = ask(proxy, text)
    assert "x-railguard-blocked" not in raw.headers
    # The intent guard measures and records it; layer 5's request_human trigger sends the conversation to review.
    # (An insult in the mock's echo, "this bot is useless", may also lower the confidence enough to add
    # low_confidence.)
    assert "request_human" in raw.headers["x-railguard-escalated"].split(", ")
    events = proxy.events(lambda es: sum(e["trigger"] == "request_human" for e in es) >= 2)
    layers = {e["layer"]: e["action"] for e in events if e["trigger"] == "request_human"}
    assert layers == {"pre_generation": "log", "post_response": "escalate"}


def test_a_question_about_humans_is_not_a_request_for_one(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK))
    ask(proxy, "is a human reviewing my account application?")
    time.sleep(0.3)
    assert not any(e["trigger"] == "request_human" for e in proxy.events())


def test_topics_referencing_undeclared_names_fail_validation(policy_dir) -> None:
    from policies.loader import PolicyError, load_policy_set

    with pytest.raises(PolicyError, match="unknown topic 'loans'"):
        load_policy_set(policy_dir(default=BANK.replace("allowed: [accounts, cards]", "allowed: [accounts, loans]")))


def test_monitor_mode_lets_a_blocked_topic_through(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK.replace("name: default", "name: default\nmode: monitor")))
    raw = ask(proxy, "write me a poem about the sea")
    assert raw.parse().choices[0].message.content.startswith("You said:")
    assert "would_block:pre_generation/blocked_topic" in raw.headers["x-railguard-monitor"]


def test_refusal_as_an_error_when_the_policy_says_so(make_proxy, policy_dir) -> None:
    proxy = make_proxy(policies=policy_dir(default=BANK.replace("style: message", "style: error")))
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "write a poem"}])
    assert raised.value.code == "content_filter"
    assert "I can only help with your accounts and cards." in raised.value.message
