"""Intent analysis with the real shared encoder: built-in intents, policy extensions and request_human."""

from __future__ import annotations

import pytest

from detectors.base import DetectorContext
from detectors.evaluation import binary_metrics
from detectors.intent import RECOMMENDED_THRESHOLDS, REQUEST_HUMAN, IntentDetector, builtin_intents, merge_intents
from detectors.intent.evaluate import DEV_FILE, TEST_FILE, load_items, select_threshold
from detectors.intent.phrases import read_request_human
from detectors.models import EmbeddingCache
from detectors.topic import build_topic_detector
from tests.detectors.bank_policy import BANK_TOPICS

ESCALATE = RECOMMENDED_THRESHOLDS["request_human_above"]


@pytest.fixture(scope="module")
def intents() -> IntentDetector:
    return IntentDetector()


def request_human(detector: IntentDetector, text: str) -> float:
    return detector.detect(text, DetectorContext()).labels[REQUEST_HUMAN]


@pytest.mark.parametrize(
    "text", ["I want to talk to a person", "agent please", "this bot is useless, get me someone", "Human!"]
)
def test_the_requests_named_in_the_brief(intents: IntentDetector, text: str) -> None:
    detection = intents.detect(text, DetectorContext())
    assert detection.labels[REQUEST_HUMAN] >= ESCALATE
    assert detection.details["top_intent"] == REQUEST_HUMAN


@pytest.mark.parametrize(
    "text",
    [
        "is a human reviewing my application?",
        "how do I add a person to my account",
        "are you a real person?",
        "I don't want an agent, just my balance please",
        "what is the representative APR",
        "my mother wants to speak to you about her pension",
    ],
)
def test_mentions_of_humans_that_are_not_requests(intents: IntentDetector, text: str) -> None:
    assert request_human(intents, text) < ESCALATE


def test_held_out_paraphrases_are_recognised(intents: IntentDetector) -> None:
    """The held-out set (never used for tuning): precision and recall floors at the recommended threshold."""
    texts, labels = load_items(TEST_FILE)
    scores = [request_human(intents, t) for t in texts]
    metrics = binary_metrics(labels, scores, ESCALATE)
    assert metrics["precision"] >= 0.95, metrics
    assert metrics["recall"] >= 0.9, metrics


def test_recommended_threshold_is_the_one_the_dev_set_selects(intents: IntentDetector) -> None:
    texts, labels = load_items(DEV_FILE)
    assert select_threshold(labels, [request_human(intents, t) for t in texts]) == ESCALATE


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I've been overcharged again and nobody cares, this is appalling", "complaint"),
        ("please cancel the direct debit to my gym", "account_action"),
        ("change the email address on my profile", "account_action"),
        ("what time do you close on Saturdays", "information"),
        ("how long does an international transfer take to arrive", "information"),
        ("hey, good afternoon", "chitchat"),
        ("thanks, that's everything", "chitchat"),
    ],
)
def test_built_in_intents(intents: IntentDetector, text: str, intent: str) -> None:
    detection = intents.detect(text, DetectorContext())
    assert detection.details["top_intent"] == intent, detection.labels
    assert detection.score == detection.labels[intent]
    assert set(detection.labels) == {"request_human", "complaint", "account_action", "information", "chitchat"}


def test_policies_extend_intents_the_way_they_declare_topics() -> None:
    loan = {
        "name": "loan_application",
        "description": "The user wants to apply for a loan or a mortgage.",
        "examples": ["I want to apply for a loan", "can I get a mortgage with you", "start a loan application"],
    }
    extended = IntentDetector([loan])
    assert extended.intents[-1] == "loan_application"
    detection = extended.detect("I'd like to borrow 10,000 pounds for a new car", DetectorContext())
    assert detection.details["top_intent"] == "loan_application", detection.labels


def test_a_policy_adds_examples_to_a_built_in_intent() -> None:
    extra = {"name": REQUEST_HUMAN, "examples": ["fetch me a banker"]}
    merged = merge_intents(builtin_intents(), [extra])
    assert [d.name for d in merged] == [d.name for d in builtin_intents()]
    (human,) = (d for d in merged if d.name == REQUEST_HUMAN)
    assert human.examples[-1] == "fetch me a banker"
    assert human.description == next(d for d in builtin_intents() if d.name == REQUEST_HUMAN).description


def test_intent_and_topic_share_the_request_embeddings(intents: IntentDetector) -> None:
    topics = build_topic_detector(BANK_TOPICS)
    cache = EmbeddingCache()
    context = DetectorContext(embeddings=cache)
    topics.detect("my card was declined and nobody helps, I want a manager", context)
    intents.detect("my card was declined and nobody helps, I want a manager", context)
    assert cache.computed == 1


def test_phrase_layer_verdicts() -> None:
    assert read_request_human("can i talk 2 a human").request == "talk to a human"
    assert read_request_human("connect me to someone from your team").request is not None
    assert read_request_human("representative").request == "representative"
    refused = read_request_human("I don't need a human, thanks")
    assert refused.request is None and refused.hard
    assert read_request_human("am I talking to a person?").hard
    soft = read_request_human("how do I become an insurance agent")
    assert soft.request is None and soft.not_request == "insurance agent" and not soft.hard
    assert read_request_human("what's my balance") == type(soft)()
