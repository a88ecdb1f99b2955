"""The zero-shot NLI topic backend, loaded offline from a tiny randomly initialised model built in tmp_path.

The weights are random, so these tests check the real loading and scoring path (spec, digest, runtime, tokenizer,
pipeline, entailment mapping), not the quality of a trained model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorContext, ModelUnavailableError
from detectors.models import ModelRuntime, ModelSource, ModelSpec
from detectors.models.catalog import all_specs
from detectors.models.spec import file_sha256
from detectors.topic import build_topic_detector
from detectors.topic.nli import DEFAULT_NLI_MODEL, NliTopicScorer, TopicDeclaration

TOPICS = [
    {"name": "cards", "description": "Debit and credit cards", "examples": ["I lost my card"]},
    {"name": "poems", "description": "Writing poems and song lyrics", "examples": ["write me a poem"]},
]
WORDS = "this request is about debit and credit cards writing poems song lyrics small talk greetings thanks "
WORDS += "goodbyes acknowledgements pleasantries i lost my card write me a poem hello and for wife"


def build_tiny_nli_model(directory: Path, labels: tuple[str, ...] = ("entailment", "neutral", "contradiction")) -> Path:
    """A 2-layer DeBERTa-v2 sequence classifier with random weights and a word-level tokenizer, saved offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocabulary = {token: i for i, token in enumerate([*specials, *sorted(set(WORDS.split()))])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocabulary["[CLS]"]), ("[SEP]", vocabulary["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )
    fast.save_pretrained(directory)
    config = DebertaV2Config(
        vocab_size=len(vocabulary),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    DebertaV2ForSequenceClassification(config).save_pretrained(directory)
    return directory


def local_spec(directory: Path, name: str) -> ModelSpec:
    digest = file_sha256(directory / "model.safetensors")
    return ModelSpec(name, "zero-shot-nli", ModelSource.LOCAL, str(directory), sha256={"model.safetensors": digest})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_nli_model(tmp_path_factory.mktemp("tiny-nli"))


def test_nli_backend_loads_offline_and_scores_every_topic(tiny_model: Path) -> None:
    runtime = ModelRuntime(workers=1)
    scorer = NliTopicScorer(
        [TopicDeclaration.from_mapping(t) for t in TOPICS], local_spec(tiny_model, "tiny-nli-a"), models=runtime
    )
    scores = scorer.score(["I lost my card", "write me a poem"], DetectorContext())
    assert scores.shape == (2, 2)
    assert np.all((scores > 0.0) & (scores < 1.0))
    # Multi-label entailment: each topic is scored on its own, so the row need not sum to one.
    assert runtime.loaded() == ["tiny-nli-a@" + str(tiny_model)]
    scorer.score(["hello"], DetectorContext())
    assert len(runtime.loaded()) == 1  # loaded once per process, reused


def test_nli_detector_has_the_same_output_shape_as_the_embedding_one(tiny_model: Path) -> None:
    detector = build_topic_detector(TOPICS, backend="nli", model=local_spec(tiny_model, "tiny-nli-b"))
    assert detector.topics == ("cards", "poems", "small_talk")
    detection = detector.detect("and for my wife?", DetectorContext(history=["I lost my card"]))
    assert detection.details["backend"] == "nli"
    assert detection.details["top_topic"] in detector.topics
    assert detection.score == pytest.approx(1.0 - detection.details["top_score"], abs=1e-6)
    assert set(detection.labels) <= set(detector.topics)


def test_pinned_hub_model_that_was_not_pulled_fails_at_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAILGUARD_MODELS_DIR", str(tmp_path))
    spec = all_specs()[DEFAULT_NLI_MODEL]
    assert spec.source is ModelSource.HUB and spec.revision and spec.sha256
    with pytest.raises(ModelUnavailableError, match="railguard models pull"):
        build_topic_detector(TOPICS, backend="nli")
    assert not any(tmp_path.iterdir())  # nothing was downloaded


def test_weights_that_do_not_match_the_pinned_digest_are_refused(tiny_model: Path) -> None:
    spec = ModelSpec(
        "tiny-nli-c", "zero-shot-nli", ModelSource.LOCAL, str(tiny_model), sha256={"model.safetensors": "0" * 64}
    )
    scorer = NliTopicScorer([TopicDeclaration.from_mapping(t) for t in TOPICS], spec, models=ModelRuntime(workers=1))
    with pytest.raises(ModelUnavailableError, match="sha256"):
        scorer.score(["I lost my card"], DetectorContext())


def test_a_classifier_without_an_entailment_label_is_not_used(tmp_path: Path) -> None:
    directory = build_tiny_nli_model(tmp_path, labels=("positive", "negative", "neutral"))
    scorer = NliTopicScorer(
        [TopicDeclaration.from_mapping(t) for t in TOPICS],
        local_spec(directory, "tiny-sentiment"),
        models=ModelRuntime(1),
    )
    with pytest.raises(ModelUnavailableError, match="entailment"):
        scorer.score(["I lost my card"], DetectorContext())
