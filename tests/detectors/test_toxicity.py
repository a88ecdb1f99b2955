"""Toxicity: the offline head on the real shared encoder, the detoxify backend's loading code on a tiny checkpoint in
detoxify's own format built here, and the reproducibility of the committed head's recorded figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorContext, ModelUnavailableError
from detectors.models import EmbeddingCache
from detectors.models.catalog import all_specs
from detectors.models.spec import ModelSource, ModelSpec, file_sha256
from detectors.toxicity import ToxicityDetector
from detectors.toxicity.detector import RECOMMENDED_THRESHOLDS, sentences, units
from detectors.toxicity.detoxify_backend import CHECKPOINT_SPECS, DetoxifyLocation
from detectors.toxicity.head import WEIGHTS_DIR
from detectors.toxicity.text import clean, lexical
from policies.schema import OutputLayer, Toxicity

BLOCK = RECOMMENDED_THRESHOLDS["toxicity"]["block_above"]


@pytest.fixture(scope="module")
def detector() -> ToxicityDetector:
    return ToxicityDetector()


def score(detector: ToxicityDetector, text: str) -> tuple[float, dict[str, float]]:
    detection = detector.detect(text, DetectorContext(embeddings=EmbeddingCache()))
    return detection.score, detection.labels


def test_cleaning_drops_twitter_furniture_and_lexical_undoes_obfuscation() -> None:
    assert clean("RT @someone: so true &amp; funny http://t.co/abc @friend") == "so true & funny"
    assert lexical("You're a F*CK1NG id10t, sh1t!!") == "you're a fcking idiot, shit!!"
    assert lexical("a$$ and fuuuuuck") == "ass and fuuck"
    assert lexical("version 3.10 costs $5") == "version 3.10 costs $5"  # digits and prices stay as they are


@pytest.mark.slow
def test_plain_answers_pass_and_insults_do_not(detector: ToxicityDetector) -> None:
    for benign in (
        "Here is the Python code to sort a list; it uses the built-in sorted function.",
        "The capital of France is Paris, which has about two million inhabitants.",
        "Sure, I can help you write a cover letter for the job you mentioned.",
    ):
        assert score(detector, benign)[0] < RECOMMENDED_THRESHOLDS["toxicity"]["log_above"], benign
    for toxic in ("You are a stupid bitch and nobody likes you.", "shut up you f*cking idiot"):
        assert score(detector, toxic)[0] > BLOCK, toxic


@pytest.mark.slow
def test_one_toxic_sentence_in_a_long_window_is_not_averaged_away(detector: ToxicityDetector) -> None:
    toxic = "You are a stupid bitch and nobody likes you."
    text = (
        "The meeting starts at nine in the main hall, and it will run until the early afternoon. "
        "Please bring the quarterly report, your laptop and the notes from last week. "
        f"{toxic} Lunch will be served at noon in the cafeteria, and the session ends by three o'clock."
    )
    assert score(detector, text.replace(toxic, "Thank you all for coming."))[0] < BLOCK
    detection = detector.detect(text, DetectorContext(embeddings=EmbeddingCache()))
    assert detection.score > BLOCK
    [span] = detection.spans
    assert text[span.start : span.end].strip() == toxic
    assert detection.details["chunks"] == 3 and detection.details["sentences"] == 4


@pytest.mark.slow
def test_an_insult_beside_a_harmless_sentence_is_not_diluted(detector: ToxicityDetector) -> None:
    harmless = "Your card was declined because the monthly limit was reached."
    insult = "Honestly, you are a stupid idiot and nobody likes you."
    assert score(detector, harmless)[0] < RECOMMENDED_THRESHOLDS["toxicity"]["log_above"]
    assert score(detector, f"{harmless} {insult}")[0] > BLOCK


def test_short_texts_are_one_unit_and_long_ones_tweet_sized_sentence_chunks() -> None:
    assert units("Short and sweet. Two sentences.") == [(0, 31, "Short and sweet. Two sentences.")]
    text = " ".join(f"This is sentence number {i} of a fairly long answer." for i in range(10))
    chunks = units(text)
    assert len(chunks) > 3 and all(end - start <= 140 for start, end, _ in chunks)
    assert all(text[start:end] == chunk and chunk.endswith(".") for start, end, chunk in chunks)


@pytest.mark.slow
def test_the_request_embedding_cache_is_used(detector: ToxicityDetector) -> None:
    cache = EmbeddingCache()
    text = " ".join(f"This is sentence number {i} of a fairly long answer." for i in range(6))
    detector.detect(text, DetectorContext(embeddings=cache))
    computed = cache.computed
    detector.detect(text, DetectorContext(embeddings=cache))
    # each chunk and each sentence embedded once per request
    assert computed == len(units(text)) + len(sentences(text)) and cache.computed == computed


def test_empty_text_is_skipped(detector: ToxicityDetector) -> None:
    assert detector.detect("  ", DetectorContext()).skipped


def test_labels_use_detoxify_names_and_policy_aliases() -> None:
    settings = Toxicity.model_validate({"labels": {"hate": {"block_above": 0.7}, "offensive": {"log_above": 0.4}}})
    assert set(settings.labels) == {"identity_attack", "insult"}
    with pytest.raises(ValueError):
        Toxicity.model_validate({"labels": {"rudeness": {"block_above": 0.5}}})


def test_recommended_thresholds_are_the_recorded_ones_and_the_policy_defaults() -> None:
    recorded = json.loads((WEIGHTS_DIR / "validation_metrics.json").read_text())["thresholds"]
    assert RECOMMENDED_THRESHOLDS["toxicity"] == {
        "block_above": recorded["toxicity"]["block_threshold"],
        "log_above": recorded["toxicity"]["f1_threshold"],
    }
    assert RECOMMENDED_THRESHOLDS["identity_attack"]["block_above"] == recorded["identity_attack"]["block_threshold"]
    default = OutputLayer().toxicity
    # No log threshold by default: plain assistant prose scores up to about 0.35, near the max-F1 point on tweets.
    assert (default.block_above, default.log_above) == (BLOCK, None)
    assert default.labels["identity_attack"].block_above == RECOMMENDED_THRESHOLDS["identity_attack"]["block_above"]


def test_recorded_test_figures_meet_the_issue_targets() -> None:
    recorded = json.loads((WEIGHTS_DIR / "validation_metrics.json").read_text())["test"]
    assert recorded["toxicity"]["roc_auc"] >= 0.975
    assert recorded["identity_attack"]["roc_auc"] >= 0.88


@pytest.mark.slow
def test_recorded_test_figures_reproduce(shared_data) -> None:
    """Score the whole test part (the issue's 20%) with the committed head and recompute the recorded figures."""
    from detectors.toxicity.dataset import load_corpus, split
    from detectors.toxicity.head import ToxicityHead
    from detectors.toxicity.lexical import counts
    from detectors.toxicity.train import metrics, targets

    corpus = load_corpus(shared_data("toxicity/labeled_data.csv"))
    test = corpus.subset(split(corpus).test)
    recorded = json.loads((WEIGHTS_DIR / "validation_metrics.json").read_text())
    head = ToxicityHead.load()
    vectors = EmbeddingCache().embed([clean(t) for t in test.texts])
    scores = head.scores(counts(test.texts), vectors).astype(np.float64)
    y = targets(test.classes)
    for i, label in enumerate(head.labels):
        figures = metrics(y[label], scores[:, i], recorded["thresholds"][label]["block_threshold"])
        for name, value in figures.items():
            assert value == pytest.approx(recorded["test"][label][name], abs=2e-3), (label, name)


# ------------------------------------------------------------------------------------------ detoxify backend

ORIGINAL_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


def _tiny_detoxify(directory: Path) -> DetoxifyLocation:
    """A randomly initialised tiny BERT saved as a detoxify checkpoint (``{"config", "state_dict"}``) whose
    ``arch.args`` name the hub id the real one does, plus a config/tokenizer folder like `models pull` leaves."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    config_dir = directory / "base"
    config_dir.mkdir()
    words = ["you", "are", "a", "stupid", "idiot", "nice", "day", "the", "weather", "is", "good", "and"]
    (config_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizer(vocab_file=str(config_dir / "vocab.txt")).save_pretrained(config_dir)
    config = BertConfig(
        vocab_size=5 + len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(ORIGINAL_CLASSES),
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    checkpoint = directory / "toxic_tiny.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": "bert-base-uncased",  # a hub id: loading must never reach for it
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(ORIGINAL_CLASSES),
                    }
                },
                "dataset": {"args": {"classes": ORIGINAL_CLASSES}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return DetoxifyLocation(checkpoint, config_dir)


def test_detoxify_backend_loads_its_own_checkpoint_format_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    location = _tiny_detoxify(tmp_path)
    detector = ToxicityDetector(backend="detoxify", model="original", location=location)
    detection = detector.detect("you are a stupid idiot. nice day.", DetectorContext())
    assert set(detection.labels) == {
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    }
    assert detection.score == pytest.approx(detection.labels["toxicity"], abs=1e-4)
    assert all(0.0 <= v <= 1.0 for v in detection.labels.values())
    assert detection.details == {"backend": "detoxify", "chunks": 1, "sentences": 2, "model": "original"}
    # The same model scores the same text the same way (loaded once, eval mode).
    again = detector.detect("you are a stupid idiot. nice day.", DetectorContext())
    assert again.labels == detection.labels


def test_detoxify_model_that_was_not_pulled_is_unavailable_not_downgraded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAILGUARD_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="railguard models pull"):
        ToxicityDetector(backend="detoxify", model="unbiased")


def test_detoxify_specs_are_in_the_catalog_and_pin_the_checkpoint_hash_prefix(tmp_path: Path) -> None:
    specs = all_specs()
    for variant, spec in CHECKPOINT_SPECS.items():
        assert specs[f"detoxify-{variant}"] is spec
        [(filename, prefix)] = spec.sha256.items()
        assert filename.endswith(f"-{prefix}.ckpt") and len(prefix) == 8
    assert {"detoxify-base-bert-base-uncased", "detoxify-base-roberta-base", "detoxify-base-xlm-roberta-base"} <= set(
        specs
    )
    # A prefix pin accepts the file it names and refuses another.
    (tmp_path / "weights.ckpt").write_bytes(b"detoxify")
    digest = file_sha256(tmp_path / "weights.ckpt")
    good = ModelSpec("t", "k", ModelSource.LOCAL, str(tmp_path), sha256={"weights.ckpt": digest[:8]})
    assert good.verify() == tmp_path
    bad = ModelSpec("t", "k", ModelSource.LOCAL, str(tmp_path), sha256={"weights.ckpt": "0" * 8})
    with pytest.raises(ModelUnavailableError):
        bad.verify()


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown toxicity backend"):
        ToxicityDetector(backend="perspective")
