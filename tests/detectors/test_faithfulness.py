"""Faithfulness: the offline checker on real models (shared encoder, spaCy), the NLI backend's loading code on a tiny
model built here, and the reproducibility of the committed head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorContext, ModelUnavailableError
from detectors.faithfulness import RECOMMENDED_THRESHOLDS, FaithfulnessDetector
from detectors.faithfulness.claims import split_claims
from detectors.faithfulness.head import WEIGHTS_DIR, OfflineHead, aggregate
from detectors.faithfulness.numbers import extract_quantities, supported
from detectors.models import EmbeddingCache
from detectors.models.spec import ModelSource, ModelSpec, file_sha256

ESCALATE = RECOMMENDED_THRESHOLDS["escalate_above"]

REPORT = [
    "Northwind Traders reported revenue of $48.2 million for the second quarter of 2024, up 9% from a year "
    "earlier. Chief executive Maria Okafor said the company would open three distribution centres in Ghana "
    "and Kenya next year. The board did not raise the annual dividend. Net profit fell to $3.1 million "
    "because of higher shipping costs, and the shares closed 2% lower in Lagos on Thursday."
]


@pytest.fixture(scope="module")
def detector() -> FaithfulnessDetector:
    return FaithfulnessDetector()


def check(detector: FaithfulnessDetector, answer: str, documents: list[str] | None = None) -> tuple[float, dict]:
    detection = detector.detect(answer, DetectorContext(context_documents=documents or REPORT))
    assert detection.skipped is None
    return detection.score, detection.details


def test_hallucinated_number_is_flagged_and_the_faithful_paraphrase_is_not(detector: FaithfulnessDetector) -> None:
    faithful, _ = check(
        detector, "Northwind's second-quarter revenue was $48.2 million in 2024, 9 percent more than a year before."
    )
    invented, details = check(
        detector, "Northwind's second-quarter revenue was $61.5 million in 2024, 9 percent more than a year before."
    )
    assert faithful < ESCALATE <= invented
    assert invented - faithful > 0.3
    [claim] = details["unsupported"]
    assert any("$61.5 million" in reason for reason in claim["reasons"])
    assert "48.2" in claim["evidence"]  # the evidence it should have matched is reported


def test_written_numbers_and_units_are_compared_by_value(detector: FaithfulnessDetector) -> None:
    same, _ = check(detector, "Maria Okafor said the company would open three distribution centres in Ghana and Kenya.")
    other, _ = check(
        detector, "Maria Okafor said the company would open seven distribution centres in Ghana and Kenya."
    )
    assert same < ESCALATE <= other


def test_negation_flip_is_flagged(detector: FaithfulnessDetector) -> None:
    kept, _ = check(detector, "The board did not raise the annual dividend.")
    flipped, details = check(detector, "The board raised the annual dividend.")
    assert kept < ESCALATE <= flipped
    assert any("negation" in r or "opposite" in r for r in details["unsupported"][0]["reasons"])


def test_wrong_entity_is_flagged(detector: FaithfulnessDetector) -> None:
    right, _ = check(detector, "Maria Okafor said Northwind would open distribution centres in Ghana and Kenya.")
    wrong, details = check(detector, "Maria Okafor said Northwind would open distribution centres in Ghana and Peru.")
    assert right < ESCALATE <= wrong
    assert any("peru" in r for r in details["unsupported"][0]["reasons"])


def test_antonym_flip_is_flagged(detector: FaithfulnessDetector) -> None:
    same, _ = check(detector, "Net profit fell to $3.1 million because of higher shipping costs.")
    flipped, _ = check(detector, "Net profit rose to $3.1 million because of higher shipping costs.")
    assert same < ESCALATE <= flipped


def test_one_invented_sentence_makes_a_long_answer_unfaithful(detector: FaithfulnessDetector) -> None:
    good = (
        "Northwind Traders reported second-quarter revenue of $48.2 million, up 9% on the year. "
        "The board did not raise the annual dividend. Net profit fell to $3.1 million because of shipping costs."
    )
    bad = good + " The company also announced a merger with Contoso Pharmaceuticals worth $900 million."
    good_score, _ = check(detector, good)
    bad_score, details = check(detector, bad)
    assert good_score < ESCALATE <= bad_score
    assert [c["text"] for c in details["unsupported"]] == [bad.split(". ")[-1]]


def test_no_context_is_skipped_with_a_reason_never_unsupported(detector: FaithfulnessDetector) -> None:
    for documents in ([], ["", "   \n"]):
        detection = detector.detect("The company made $5 million.", DetectorContext(context_documents=documents))
        assert detection.skipped and "no context" in detection.skipped
        assert detection.score == 0.0


def test_an_answer_without_claims_is_not_unfaithful(detector: FaithfulnessDetector) -> None:
    detection = detector.detect("Sure! What else would you like to know?", DetectorContext(context_documents=REPORT))
    assert detection.skipped is None and detection.score == 0.0
    assert detection.details["claims"] == []


def test_unsupported_claims_are_spans_of_the_answer(detector: FaithfulnessDetector) -> None:
    answer = "Sure!\n- The board did not raise the annual dividend.\n- Shares closed 12% higher in Accra on Monday."
    detection = detector.detect(answer, DetectorContext(context_documents=REPORT))
    [span] = detection.spans
    assert answer[span.start : span.end] == "Shares closed 12% higher in Accra on Monday."
    assert detection.labels["support"] == pytest.approx(1 - detection.score, abs=1e-4)
    assert detection.details["set_aside"] == ["Sure!"]


def test_the_request_embedding_cache_is_used(detector: FaithfulnessDetector) -> None:
    cache = EmbeddingCache()
    detector.detect(
        "The board did not raise the annual dividend.", DetectorContext(context_documents=REPORT, embeddings=cache)
    )
    first = cache.computed
    # Streaming: the next window is checked against the same context; only the new claim is embedded.
    detector.detect("Net profit fell to $3.1 million.", DetectorContext(context_documents=REPORT, embeddings=cache))
    assert first > 3 and cache.computed == first + 1


def test_long_contexts_keep_the_sentences_the_answer_is_about(detector: FaithfulnessDetector) -> None:
    filler = [f"Warehouse {i} in the northern region stores spare parts for delivery vans." for i in range(180)]
    documents = [" ".join(filler[:90]), REPORT[0], " ".join(filler[90:])]
    faithful, details = check(detector, "Net profit fell to $3.1 million because of higher shipping costs.", documents)
    invented, _ = check(detector, "Net profit fell to $7.4 million because of higher shipping costs.", documents)
    assert faithful < ESCALATE <= invented
    assert details["claims"][0]["evidence_document"] == 1


def test_context_prepared_before_the_answer_leaves_only_the_claims_to_embed(detector: FaithfulnessDetector) -> None:
    cache = EmbeddingCache()
    context = DetectorContext(context_documents=REPORT, embeddings=cache)
    detector.prepare(context)
    prepared = cache.computed
    detection = detector.detect("Northwind's board did not raise its annual dividend.", context)
    assert prepared >= 4 and cache.computed == prepared + 1
    assert detection.score < ESCALATE


def test_claims_split_lists_abbreviations_and_merge_short_sentences() -> None:
    answer = (
        "Here are the key points:\n"
        "- Dr. J. K. Smith joined the U.S. team in Jan. 2020, e.g. as lead.\n"
        "- Costs fell.\n"
        "1. Revenue rose 5% in 2024 across all regions.\n"
        "Is there anything else? I hope this helps!"
    )
    claims, set_aside = split_claims(answer)
    assert [c.text for c in claims] == [
        "Dr. J. K. Smith joined the U.S. team in Jan. 2020, e.g. as lead. Costs fell.",
        "Revenue rose 5% in 2024 across all regions.",
    ]
    assert [s.text for s in set_aside] == ["Here are the key points:", "Is there anything else?", "I hope this helps!"]
    for claim in claims:
        assert answer[claim.start : claim.end].endswith(claim.text[-10:])


@pytest.mark.parametrize(
    ("claim", "evidence", "agrees"),
    [
        ("$5.3 million", "5,300,000 dollars", True),
        ("5.3m USD", "$5.3 million", True),
        ("twelve", "12", True),
        ("two hundred and five", "205", True),
        ("80 per cent", "80%", True),
        ("about 5 million", "5.3 million", True),
        ("5 million", "5.3 million", False),
        ("three plants", "the third quarter", False),
        ("in May 2009", "in March 2009", False),
        ("on Tuesday", "on Tuesday", True),
    ],
)
def test_quantities_agree_by_value(claim: str, evidence: str, agrees: bool) -> None:
    claimed = extract_quantities(claim)
    found = extract_quantities(evidence)
    assert claimed and found
    assert all(supported(q, found) for q in claimed) is agrees


def test_aggregation_sits_near_the_weakest_claim() -> None:
    head = OfflineHead.load()
    assert head.power < 0
    supports, weights = [0.95, 0.9, 0.05], [10.0, 10.0, 10.0]
    combined = aggregate(supports, weights, head.power)
    assert combined < 0.2 < float(np.mean(supports))
    assert aggregate([0.9], [1.0], head.power) == pytest.approx(0.9)


# ------------------------------------------------------------------------------------------ committed head


def test_recommended_thresholds_are_the_recorded_ones() -> None:
    recorded = json.loads((WEIGHTS_DIR / "validation_metrics.json").read_text())
    assert recorded["thresholds"] == RECOMMENDED_THRESHOLDS
    assert float(recorded["power"]) == OfflineHead.load().power


def test_committed_head_refits_from_the_recorded_development_features() -> None:
    """The committed weights are what train.py fits on the committed feature matrices, and they reproduce the
    recorded validation AUC (the features themselves are rebuilt by `python -m detectors.faithfulness.train`)."""
    from sklearn.metrics import roc_auc_score

    from detectors.faithfulness.train import fit_head

    with np.load(WEIGHTS_DIR / "dev_features.npz") as data:
        train_x, train_y = data["train_x"].astype(np.float64), data["train_y"]
        validation_x, validation_y = data["validation_x"].astype(np.float64), data["validation_y"]
    committed = OfflineHead.load()
    refit = fit_head(train_x, train_y, committed.power)
    np.testing.assert_allclose(refit.coefficients, committed.coefficients, atol=2e-3)
    assert refit.intercept == pytest.approx(committed.intercept, abs=2e-3)
    recorded = json.loads((WEIGHTS_DIR / "validation_metrics.json").read_text())
    auc = roc_auc_score(validation_y, committed.support(validation_x))
    assert auc == pytest.approx(recorded["validation"]["claim_roc_auc"], abs=1e-3)
    assert auc > recorded["validation"]["claim_roc_auc_similarity_only"] + 0.05  # better than similarity alone


def test_recorded_test_figures_reproduce(shared_data, detector: FaithfulnessDetector) -> None:
    """Re-score a fixed sample of the recorded SummaC items and recompute the recorded AUCs from the recorded
    scores (the full run is `railguard eval faithfulness --data ...`, minutes on a laptop)."""
    from sklearn.metrics import roc_auc_score

    recorded = json.loads((WEIGHTS_DIR / "test_scores.json").read_text())
    for name, entry in recorded.items():
        data = json.loads(shared_data(f"faithfulness/summac/{name}.json").read_text())
        ids = sorted(entry["unfaithful"])
        labels = [int(data[i]["label"]) for i in ids]
        scores = [entry["unfaithful"][i] for i in ids]
        assert roc_auc_score(labels, [-s for s in scores]) == pytest.approx(entry["roc_auc"], abs=1e-4)
        for item_id in ids[:: max(1, len(ids) // 6)][:6]:
            item = data[item_id]
            score, _ = check(detector, item["claim"], [item["document"]])
            assert score == pytest.approx(entry["unfaithful"][item_id], abs=2e-3)


# ------------------------------------------------------------------------------------------ NLI backend


def _tiny_nli_model(directory: Path, labels: dict[int, str]) -> None:
    """A randomly initialised DeBERTa-v2 classifier and a SentencePiece tokenizer trained here, saved like a hub
    snapshot: the production loading code runs on it exactly as on the real one."""
    import sentencepiece as spm
    import torch
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification, DebertaV2Tokenizer

    sentences = [
        "The board did not raise the annual dividend.",
        "Revenue rose nine percent in the second quarter.",
        "Maria Okafor leads the company from Lagos.",
    ] * 40
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_prefix=str(directory / "spm"),
        vocab_size=48,
        model_type="unigram",
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        minloglevel=2,
    )
    tokenizer = DebertaV2Tokenizer(vocab_file=str(directory / "spm.model"))
    tokenizer.save_pretrained(directory)
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        relative_attention=True,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        type_vocab_size=0,
        id2label=labels,
        label2id={name: i for i, name in labels.items()},
    )
    torch.manual_seed(0)
    DebertaV2ForSequenceClassification(config).save_pretrained(directory)


def _local_spec(directory: Path, name: str = "tiny-nli") -> ModelSpec:
    return ModelSpec(
        name=name,
        kind="nli-cross-encoder",
        source=ModelSource.LOCAL,
        location=str(directory),
        sha256={"model.safetensors": file_sha256(directory / "model.safetensors")},
    )


def test_nli_backend_loads_a_local_model_and_scores_claims(tmp_path: Path) -> None:
    from detectors.faithfulness.nli import NliChecker
    from detectors.models.runtime import ModelRuntime

    _tiny_nli_model(tmp_path, {0: "entailment", 1: "neutral", 2: "contradiction"})
    spec = _local_spec(tmp_path)
    checker = NliChecker(spec, models=ModelRuntime(workers=1))
    probabilities = checker.probabilities([("The board met.", "The board met."), ("A premise.", "A hypothesis.")])
    assert probabilities.shape == (2, 2)
    assert np.all((probabilities > 0) & (probabilities < 1))

    detector = FaithfulnessDetector(backend="nli", nli_model=spec)
    detector.nli = checker  # the same runtime-cached model
    detection = detector.detect(
        "The board did not raise the annual dividend. Net profit fell to $3.1 million.",
        DetectorContext(context_documents=REPORT),
    )
    assert detection.details["backend"] == "nli"
    assert len(detection.details["claims"]) == 2
    assert 0.0 <= detection.score <= 1.0
    assert all(0.0 <= c["support"] <= 1.0 for c in detection.details["claims"])


def test_nli_model_that_was_not_pulled_is_unavailable_not_downgraded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAILGUARD_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="railguard models pull"):
        FaithfulnessDetector(backend="nli")
    assert not any(tmp_path.iterdir())


def test_nli_model_with_other_weights_or_labels_is_refused(tmp_path: Path) -> None:
    from detectors.faithfulness.nli import NliChecker
    from detectors.models.runtime import ModelRuntime

    _tiny_nli_model(tmp_path, {0: "positive", 1: "negative", 2: "neutral"})
    tampered = ModelSpec("tiny", "nli", ModelSource.LOCAL, str(tmp_path), sha256={"model.safetensors": "0" * 64})
    with pytest.raises(ModelUnavailableError, match="sha256"):
        NliChecker(tampered, models=ModelRuntime(workers=1)).probabilities([("a", "b")])
    with pytest.raises(ModelUnavailableError, match="entailment"):
        NliChecker(_local_spec(tmp_path), models=ModelRuntime(workers=1)).probabilities([("a", "b")])


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        FaithfulnessDetector(backend="vibes")
