"""Topic classification with the real shared encoder on a bank-support topic set (see bank_policy.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from detectors.base import Detection, DetectorContext
from detectors.models import EmbeddingCache, SharedEncoder
from detectors.models.encoder import Vectors, shared_encoder
from detectors.topic import RECOMMENDED_THRESHOLDS, SMALL_TALK, TopicDeclaration, build_topic_detector
from detectors.topic.conversation import OWN_SUBJECT_SIMILARITY, OtherSubjects, in_context, looks_like_follow_up
from detectors.topic.detector import TopicDetector
from detectors.topic.index import TopicIndexBuilder
from detectors.topic.scorers import EmbeddingTopicScorer
from tests.detectors.bank_policy import ACCOUNTS, BANK_TOPICS, CARDS, MEDICAL, POEMS

OFF_TOPIC = RECOMMENDED_THRESHOLDS["out_of_scope_above"]


@pytest.fixture(scope="module")
def bank() -> TopicDetector:
    return build_topic_detector(BANK_TOPICS)


def classify(detector: TopicDetector, text: str, history: Sequence[str] = ()) -> Detection:
    return detector.detect(text, DetectorContext(history=list(history)))


def on_topic(detection: Detection) -> str | None:
    """What a policy would conclude at the recommended threshold: the topic, or None for off-topic."""
    return None if detection.score >= OFF_TOPIC else detection.details["top_topic"]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("the cash machine swallowed my card", "cards"),
        ("my credit card payment got rejected at the shop", "cards"),
        ("please block my card, I think it was stolen", "cards"),
        ("how can I see my last three statements", "accounts"),
        ("what does it cost to keep a current account", "accounts"),
        ("move 200 pounds from savings to checking", "accounts"),
        ("write a short poem about the sea", "poems"),
        ("could you write lyrics for a birthday song", "poems"),
        ("what dose of paracetamol is safe for a child", "medical_advice"),
        ("I have a fever and a cough, what should I take", "medical_advice"),
    ],
)
def test_bank_queries_land_on_their_topic(bank: TopicDetector, text: str, topic: str) -> None:
    assert on_topic(classify(bank, text)) == topic


@pytest.mark.parametrize(
    "text",
    [
        "what's the capital of Peru",
        "recommend a good science fiction movie",
        "how do I fix a flat bicycle tyre",
        "write a python function that sorts a list",
        "who won the football match yesterday",
    ],
)
def test_unrelated_queries_are_out_of_scope(bank: TopicDetector, text: str) -> None:
    detection = classify(bank, text)
    assert detection.score >= OFF_TOPIC, detection


@pytest.mark.parametrize("text", ["hi", "hello!", "thanks", "thank you so much", "ok great", "good morning", "bye!"])
def test_small_talk_is_small_talk_not_off_topic(bank: TopicDetector, text: str) -> None:
    detection = classify(bank, text)
    assert detection.details["top_topic"] == SMALL_TALK
    assert detection.details["small_talk"] is True
    assert detection.score < OFF_TOPIC


def test_small_talk_is_the_built_in_topic_doing_the_work() -> None:
    without = build_topic_detector(BANK_TOPICS, include_small_talk=False)
    assert SMALL_TALK not in without.topics
    assert classify(without, "thanks").score >= OFF_TOPIC


def test_a_policy_can_replace_the_small_talk_topic() -> None:
    own = {"name": SMALL_TALK, "description": "Only greetings in French.", "examples": ["bonjour", "salut"]}
    detector = build_topic_detector([ACCOUNTS, own])
    assert detector.topics == ("accounts", SMALL_TALK)
    assert classify(detector, "bonjour!").details["top_topic"] == SMALL_TALK


def test_detection_shape(bank: TopicDetector) -> None:
    detection = classify(bank, "why was my card declined at the petrol station")
    assert detection.detector == "topic"
    assert list(detection.labels) == sorted(detection.labels, key=detection.labels.__getitem__, reverse=True)
    assert len(detection.labels) == 3
    assert all(0.0 <= v <= 1.0 for v in detection.labels.values())
    assert detection.details["top_topic"] == next(iter(detection.labels))
    assert detection.score == pytest.approx(1.0 - detection.labels["cards"], abs=1e-6)
    assert detection.details["out_of_scope"] == detection.score
    assert detection.details["view"] == "message" and detection.details["backend"] == "embedding"
    assert classify(bank, "   ").skipped == "empty text"


# --- multi-turn --------------------------------------------------------------------------------------------------


def test_follow_up_stays_on_the_topic_of_the_conversation(bank: TopicDetector) -> None:
    alone = classify(bank, "and for my wife?")
    assert on_topic(alone) is None  # no topic of its own

    after_accounts = classify(bank, "and for my wife?", ["how do I open a joint account"])
    assert on_topic(after_accounts) == "accounts"
    assert after_accounts.details["view"] == "conversation"

    after_cards = classify(bank, "and for my wife?", ["can you raise my credit card limit"])
    assert on_topic(after_cards) == "cards"


@pytest.mark.parametrize(
    ("text", "previous", "topic"),
    [
        ("what about the fees?", "I want to open a savings account", "accounts"),
        ("how long does it take?", "I ordered a replacement card", "cards"),
        ("same for my savings account", "what's the interest rate on checking", "accounts"),
        ("how much?", "can I order a new debit card", "cards"),
    ],
)
def test_elliptical_follow_ups_inherit_the_topic(bank: TopicDetector, text: str, previous: str, topic: str) -> None:
    assert on_topic(classify(bank, text, [previous])) == topic


def test_a_follow_up_answers_the_turn_just_before_it(bank: TopicDetector) -> None:
    history = ["write me a poem about the moon", "thanks, now: how do I open a joint account"]
    assert on_topic(classify(bank, "and for my wife?", history)) == "accounts"
    assert on_topic(classify(bank, "and for my wife?", history[::-1])) == "poems"


@pytest.mark.parametrize(
    "text",
    ["what's the capital of France", "is it going to snow on Sunday", "and who won the football match?"],
)
def test_a_new_unrelated_question_does_not_ride_on_the_old_topic(bank: TopicDetector, text: str) -> None:
    detection = classify(bank, text, ["I lost my credit card yesterday and need a replacement"])
    assert detection.score >= OFF_TOPIC, detection


def test_a_follow_up_that_names_a_blocked_topic_is_still_seen(bank: TopicDetector) -> None:
    poem = classify(bank, "and now write me a poem about money", ["what's my balance"])
    assert poem.details["top_topic"] == "poems"
    medical = classify(bank, "and what pills should I take for my migraine", ["what's my balance"])
    assert on_topic(medical) == "medical_advice"


def test_follow_up_cues() -> None:
    for text in ["and for my wife?", "what about the fees?", "for my wife?", "how much?", "is that free?", "why?"]:
        assert looks_like_follow_up(text), text
    for text in ["how do I open a joint account", "what's the capital of France", "write me a poem about spring"]:
        assert not looks_like_follow_up(text), text


def test_follow_ups_with_a_subject_of_their_own_are_recognised() -> None:
    subjects = OtherSubjects()
    context = DetectorContext()
    for text in ["and who won the football match?", "what about bitcoin?", "is it going to snow on Sunday"]:
        assert subjects.has_own_subject(text, context), subjects.nearest(text, context)
    for text in ["and for my wife?", "how long does it take?", "what about the fees?", "can I do it online?"]:
        assert subjects.nearest(text, context)[1] < OWN_SUBJECT_SIMILARITY, text


def test_in_context_puts_the_message_first_and_caps_history() -> None:
    text = in_context("and for my wife?", ["first question", "second question"], turns=2, chars=600)
    assert text.splitlines() == ["and for my wife?", "second question", "first question"]
    capped = in_context("why?", ["x" * 1000], turns=2, chars=50)
    assert capped == "why?\n" + "x" * 50
    assert in_context("why?", ["a", "b", "c"], turns=1) == "why?\nc"
    assert in_context("why?", ["a", "  "], turns=1) == "why?\na"


# --- embeddings are shared and built once ------------------------------------------------------------------------


def test_uses_the_request_embedding_cache(bank: TopicDetector) -> None:
    cache = EmbeddingCache()
    cache.embed(["why was my card declined yesterday"])  # e.g. the injection detector got there first
    bank.detect("why was my card declined yesterday", DetectorContext(embeddings=cache))
    assert cache.computed == 1
    bank.detect("and for my wife?", DetectorContext(history=["how do I open a joint account"], embeddings=cache))
    # The follow-up costs three: the turn, the turn without its cue word (checked against everyday subjects) and the
    # turn read in context. Nothing is embedded twice.
    assert cache.computed == 4
    bank.detect("and for my wife?", DetectorContext(history=["how do I open a joint account"], embeddings=cache))
    assert cache.computed == 4


class CountingEncoder(SharedEncoder):
    """The real shared encoder, counting how many texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(shared_encoder().spec)
        self.encoded = 0

    def encode_views(self, texts: Sequence[str], batch_size: int = 32) -> tuple[Vectors, Vectors]:
        self.encoded += len(texts)
        return shared_encoder().encode_views(texts, batch_size)


def test_identical_topic_sets_are_embedded_once_and_edits_embed_only_new_text() -> None:
    encoder, builder = CountingEncoder(), TopicIndexBuilder()
    declarations = [TopicDeclaration.from_mapping(t) for t in BANK_TOPICS]
    first = EmbeddingTopicScorer(declarations, encoder=encoder, builder=builder)
    texts = sum(len(d.texts()) for d in declarations)
    assert encoder.encoded == texts and builder.builds == 1
    again = EmbeddingTopicScorer(list(declarations), encoder=encoder, builder=builder)
    assert again.index is first.index and encoder.encoded == texts and builder.builds == 1
    loans = TopicDeclaration("loans", "Personal loans and mortgages.", ("can I get a loan", "mortgage rates"))
    EmbeddingTopicScorer([*declarations, loans], encoder=encoder, builder=builder)
    assert encoder.encoded == texts + 3 and builder.builds == 2


def test_a_sparsely_exemplified_topic_is_shifted_up_by_its_density() -> None:
    from detectors.topic.index import DENSITY_WEIGHT, REFERENCE_DENSITY, SPARSEST_DENSITY, density

    encoder, builder = shared_encoder(), TopicIndexBuilder()
    cards = TopicDeclaration.from_mapping(CARDS)
    # The same subject written as near-paraphrases: a dense topic.
    dense = TopicDeclaration(
        "card_declined",
        "Declined card payments.",
        tuple(f"my card was declined {where}" for where in ("at the shop", "online", "at the till", "abroad", "today")),
    )
    lone = TopicDeclaration("loans", "Personal loans and mortgages.", ())
    index = builder.build([cards, dense, lone], encoder)
    vectors = builder.texts.embed_topical(encoder, cards.texts())
    assert SPARSEST_DENSITY < density(vectors) < REFERENCE_DENSITY
    assert index.offsets[0] == pytest.approx(DENSITY_WEIGHT * (REFERENCE_DENSITY - density(vectors)), abs=1e-6)
    assert index.offsets[1] < index.offsets[0] < index.offsets[2]
    assert index.offsets[2] == pytest.approx(DENSITY_WEIGHT * (REFERENCE_DENSITY - SPARSEST_DENSITY))
    # Intents keep raw sentence-vector similarities: their thresholds were measured on them.
    assert not builder.build([cards, dense, lone], encoder, topical=False).offsets.any()


def test_rebuilding_with_a_new_topic_changes_the_result() -> None:
    query = "what would my monthly repayment be on a 25 year mortgage"
    before = classify(build_topic_detector(BANK_TOPICS), query)
    mortgages = {
        "name": "mortgages",
        "description": "Mortgages and home loans: rates, repayments, remortgaging and applications.",
        "examples": ["what are your mortgage rates", "can I remortgage my house", "how much can I borrow for a home"],
    }
    after = classify(build_topic_detector([*BANK_TOPICS, mortgages]), query)
    assert before.details["top_topic"] != "mortgages"
    assert on_topic(after) == "mortgages"
    # Clearly more in scope than it was (before, the nearest topic was accounts, a mortgage being a bank matter).
    assert after.score < before.score - 0.05


# --- declarations ------------------------------------------------------------------------------------------------


def test_declarations_are_validated() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        build_topic_detector([ACCOUNTS, ACCOUNTS])
    with pytest.raises(ValueError, match="description or at least one example"):
        TopicDeclaration.from_mapping({"name": "empty"})
    with pytest.raises(ValueError, match="needs a name"):
        TopicDeclaration.from_mapping({"description": "no name"})
    with pytest.raises(ValueError, match="list of strings"):
        TopicDeclaration.from_mapping({"name": "x", "examples": "one string"})
    with pytest.raises(ValueError, match="unknown topic backend"):
        build_topic_detector([CARDS], backend="regex")


def test_a_topic_with_only_a_description_works() -> None:
    detector = build_topic_detector([{"name": "pets", "description": "Pet care: dogs, cats, feeding and vets."}, POEMS])
    assert classify(detector, "how often should I feed my puppy").details["top_topic"] == "pets"


def test_medical_topic_does_not_swallow_card_questions(bank: TopicDetector) -> None:
    # "blocked" neighbours must not capture allowed queries that share words ("card", "rate").
    assert classify(bank, "is there a fee if my card is used abroad").details["top_topic"] == "cards"
    assert MEDICAL["name"] not in (classify(bank, "what's the interest rate on my card").details["top_topic"],)
