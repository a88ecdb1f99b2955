"""`python -m detectors.injection.tune`: fine-tune LoRA adapters on the shared encoder for the injection heads' data.

The ceiling measurement (ceiling.py, MODEL_CARD "What the frozen encoder costs") found that only a fine-tuned encoder
reaches the S-Labs target, and that training on S-Labs alone wrecks ordinary queries. This script fine-tunes on the
user head's **full** training data (``train.training_samples``: every text the detector would classify, i.e. the
windows of the normalised text and the decoded payloads) and measures the result the way the shipped head is
measured:

- model: a copy of the shared MiniLM with a LoRA adapter (peft; rank ``--rank`` on the query, key, value and dense
  projections of every layer), mean pooling, L2 normalisation and a perceptron (384 -> 256 -> 1). Each window is
  encoded on its own (at most 256 word pieces), so serving would cost one more encoder pass per window;
- batches of texts of similar length (less padding), the batch order shuffled each epoch; AdamW with linear decay;
  the epoch with the best S-Labs validation ROC AUC is kept;
- thresholds chosen on validation by the shipped head's rules (``train.user_thresholds``: review ``user``, FPR
  <= 2% on S-Labs validation and <= 0.4% on CLINC150 validation; ``block``: <= 1% and <= 0.2%), on the *classifier*
  score alone (no fusion with the rules; the highest window counts, as in the detector);
- reported at both thresholds: the de-duplicated S-Labs test split, and the false-positive rates on self-instruct and
  CLINC150 test + out-of-scope test.

``--limit N`` trains on N rows (a quick check). Writes the adapter and the head to ``--out`` (default: the
shipped ``weights/tuned/``; about 30 minutes for 3 epochs on two cores). Then ``--fit-fusion`` fits the ensemble's
fusion with the rules and chooses its thresholds (``weights/tuned/fusion.json``, the ``backend: tuned`` defaults),
and ``--compare`` reports the head, the tuned encoder and their ensemble side by side (classifiers alone).

``--full`` fine-tunes every projection matrix of the encoder instead of an adapter (lr 5e-5, the perceptron at 1e-3,
no weight decay on the encoder), then keeps the change as an adapter of ``--rank`` (each matrix's change truncated to
its largest singular directions, ``low_rank_adapter``) and reports the full model beside it: a measurement (MODEL_CARD
"The whole encoder on the full data"), about 12 minutes an epoch on two cores.

``--documents`` trains the documents adapter instead (``weights/tuned_documents/``): the user adapter trained on for
one more epoch on the document rows of the documents head's data and 8,000 of its other rows (``run_documents``,
about 10 minutes); ``--fit-fusion --documents`` then fits the documents ensemble's fusion, its ``context`` threshold
and its gate on the documents' development set. Last line: JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import save_file

from detectors.base import DetectorContext, TextRole
from detectors.data import shared_data
from detectors.evaluation import binary_metrics
from detectors.injection.analysis import Evidence, analyse, classifier_score, per_evidence
from detectors.injection.ceiling import ORDINARY
from detectors.injection.detector import DOCUMENT_ROLES, InjectionDetector
from detectors.injection.evaluate import load_samples
from detectors.injection.head import fused_scores, fusion_features
from detectors.injection.rules import RuleSet, builtin_rules
from detectors.injection.train import (
    SLABS,
    Sample,
    classifier_rows,
    clinc_queries,
    development_documents,
    development_report,
    documents_development,
    documents_training_samples,
    logistic_fusion,
    select_threshold,
    training_samples,
    user_thresholds,
    validation_samples,
)
from detectors.injection.tuned import (
    DOCUMENTS_FUSION_FILE,
    FUSION_FILE,
    MAX_TOKENS,
    TUNED_ADAPTER,
    TUNED_DIR,
    TUNED_DOCUMENTS_ADAPTER,
    TUNED_DOCUMENTS_DIR,
    TunedInjectionClassifier,
    ensemble,
    tuned_module,
)
from detectors.models.embeddings import EmbeddingCache
from detectors.models.encoder import SharedEncoder, use_reference_precision

LORA_TARGETS = ["query", "key", "value", "dense"]
# The documents adapter's data: the document kinds of train.documents_training_samples, and this many of its other
# rows (user turns and ordinary queries, drawn at random) so that it does not forget them.
DOCUMENT_SOURCES = frozenset(
    {"indirect", "benign_documents", "structured_indirect", "tool_results", "benign_tool_results", "repository",
     "benign_repository", "long_tool_results"}
)  # fmt: skip
DOCUMENTS_OTHER_ROWS = 8000
FULL_HEAD_LR = 1e-3  # the perceptron's learning rate in a full fine-tune (ceiling.py's); the encoder's is --lr
TOKENS_PER_BATCH = 4096  # batches hold about this many word pieces (padding included)
MAX_BATCH = 64


class Texts:
    """Classifier texts tokenised once, and batches of similar lengths."""

    def __init__(self, tokenizer: Any, texts: Sequence[str], labels: Sequence[int]) -> None:
        encoded = tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)["input_ids"]
        self.ids: list[list[int]] = [list(ids) for ids in encoded]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.pad = int(tokenizer.pad_token_id)

    def batches(self, rng: random.Random | None = None) -> list[list[int]]:
        order = sorted(range(len(self.ids)), key=lambda i: len(self.ids[i]))
        result: list[list[int]] = []
        current: list[int] = []
        for index in order:
            width = len(self.ids[index])
            if (current and (len(current) + 1) * width > TOKENS_PER_BATCH) or len(current) == MAX_BATCH:
                result.append(current)
                current = []
            current.append(index)
        if current:
            result.append(current)
        if rng is not None:
            rng.shuffle(result)
        return result

    def tensors(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(self.ids[i]) for i in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, index in enumerate(rows):
            ids[row, : len(self.ids[index])] = torch.tensor(self.ids[index])
            mask[row, : len(self.ids[index])] = 1
        return ids, mask, torch.tensor(self.labels[list(rows)], dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.ids)


def predict(model: Any, data: Texts) -> npt.NDArray[np.float64]:
    model.eval()
    scores = np.zeros(len(data))
    with torch.inference_mode():
        for rows in data.batches():
            ids, mask, _ = data.tensors(rows)
            scores[rows] = torch.sigmoid(model(ids, mask)).double().numpy()
    model.train()
    return scores


class SampleScorer:
    """Per-sample classifier scores as the detector reads them: every classifier text of the sample, the highest
    trusted one counts (analysis.classifier_score)."""

    def __init__(self, tokenizer: Any, samples: Sequence[Sample], rules: RuleSet) -> None:
        self.evidence = [analyse(s.text, rules) for s in samples]
        self.labels = np.asarray([s.label for s in samples], dtype=np.int64)
        texts = [text for e in self.evidence for text in e.classifier_texts]
        self.texts = Texts(tokenizer, texts, [0] * len(texts))

    def scores(self, model: Any) -> npt.NDArray[np.float64]:
        return per_sample(self.evidence, predict(model, self.texts))


def build(rank: int, seed: int) -> tuple[Any, Any]:
    """A fresh copy of the packaged MiniLM with an untrained adapter and perceptron (the shared encoder is never
    touched), and its tokenizer."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    encoder = SharedEncoder(precision="float32")
    transformer = copy.deepcopy(encoder.model[0].auto_model)  # type: ignore[index]
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=LORA_TARGETS, bias="none")
    model = tuned_module(get_peft_model(transformer, config), encoder.dimension)
    return model, encoder.model.tokenizer  # type: ignore[attr-defined]


def build_full(seed: int) -> tuple[Any, Any]:
    """A fresh copy of the packaged MiniLM whose transformer layers' projection weights (the matrices a LoRA adapter
    would adapt: ``LORA_TARGETS`` in every layer) are all trainable, and an untrained perceptron. Embeddings, biases
    and layer norms stay frozen, so that what training changes can be written as an adapter (``low_rank_adapter``)."""
    torch.manual_seed(seed)
    encoder = SharedEncoder(precision="float32")
    transformer = copy.deepcopy(encoder.model[0].auto_model)  # type: ignore[index]
    adapted = adapted_weights(transformer)
    for name, parameter in transformer.named_parameters():
        parameter.requires_grad = name in adapted
    return tuned_module(transformer, encoder.dimension), encoder.model.tokenizer  # type: ignore[attr-defined]


def adapted_weights(transformer: Any) -> dict[str, Any]:
    """The weight matrices of the encoder layers' projections a LoRA adapter on ``LORA_TARGETS`` adapts, by
    parameter name (the pooler, which mean pooling never reads, left out)."""
    return {
        f"{name}.weight": module.weight
        for name, module in transformer.named_modules()
        if name.startswith("encoder.layer.") and name.rsplit(".", 1)[-1] in LORA_TARGETS
    }


def low_rank_adapter(model: Any, rank: int) -> tuple[Any, dict[str, float]]:
    """The fully fine-tuned ``model`` (``build_full``) as an adapter of ``rank`` (``build``'s, so that serving loads
    and merges it like a trained one): each adapted matrix's change from the packaged MiniLM (the adapter's frozen base
    layer), truncated to its ``rank`` largest singular directions (B·A·scaling = U·S·Vᵀ). Also the share of each
    change's energy (squared Frobenius norm) the truncation keeps, lowest and mean."""
    adapter, _ = build(rank, 0)
    adapter.head.load_state_dict(model.head.state_dict())
    modules = dict(adapter.transformer.named_modules())
    kept = []
    with torch.no_grad():
        for name, weight in adapted_weights(model.transformer).items():
            lora = modules[f"base_model.model.{name.removesuffix('.weight')}"]
            u, s, vh = torch.linalg.svd((weight - lora.base_layer.weight).double(), full_matrices=False)
            kept.append(float((s[:rank] ** 2).sum() / (s**2).sum().clamp(min=1e-30)))
            lora.lora_B["default"].weight.copy_((u[:, :rank] * s[:rank] / lora.scaling["default"]).float())
            lora.lora_A["default"].weight.copy_(vh[:rank].float())
    return adapter, {"lowest": round(min(kept), 4), "mean": round(float(np.mean(kept)), 4)}


def resumed(directory: Path, seed: int) -> tuple[Any, Any]:
    """A fresh copy of the packaged MiniLM with a trained adapter and perceptron (``directory``), to train on."""
    from peft import PeftModel
    from safetensors.torch import load_file

    torch.manual_seed(seed)
    encoder = SharedEncoder(precision="float32")
    transformer = copy.deepcopy(encoder.model[0].auto_model)  # type: ignore[index]
    model = tuned_module(PeftModel.from_pretrained(transformer, str(directory), is_trainable=True), encoder.dimension)
    model.head.load_state_dict(load_file(str(directory / "head.safetensors")))
    return model, encoder.model.tokenizer  # type: ignore[attr-defined]


def training_texts(tokenizer: Any, samples: Sequence[Sample], rules: RuleSet) -> Texts:
    """Every distinct classifier text of the samples (windows and decoded payloads), labelled as its sample."""
    rows = [row for s in samples for row in classifier_rows(s, analyse(s.text, rules))]
    unique = dict.fromkeys((text, label) for _, text, label in rows)
    return Texts(tokenizer, [t for t, _ in unique], [label for _, label in unique])


def train_epochs(
    model: Any,
    train: Texts,
    epochs: int,
    lr: float,
    rng: random.Random,
    head_lr: float | None = None,
    encoder_weight_decay: float = 0.01,
) -> Iterator[int]:
    """Train the encoder's trainable parameters (the adapter, or with ``build_full`` the projection weights) at
    ``lr`` and the perceptron at ``head_lr`` (default ``lr``) (AdamW, linear decay to 0, batches of similar lengths in
    a shuffled order); yields after each epoch (its index). A full fine-tune uses no weight decay on the encoder: it
    would add a full-rank shrinking of every matrix to the change ``low_rank_adapter`` truncates."""
    model.train()
    encoder = [p for p in model.transformer.parameters() if p.requires_grad]
    groups = [
        {"params": encoder, "lr": lr, "weight_decay": encoder_weight_decay},
        {"params": list(model.head.parameters()), "lr": head_lr or lr, "weight_decay": 0.01},
    ]
    optimiser = torch.optim.AdamW(groups)
    steps = epochs * len(train.batches())
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(0.0, 1.0 - step / max(1, steps)))
    for epoch in range(epochs):
        for rows in train.batches(rng):
            ids, mask, labels = train.tensors(rows)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(ids, mask), labels)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
        yield epoch


def save(model: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.transformer.save_pretrained(str(out))
    save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, str(out / "head.safetensors"))
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model card template; ours is MODEL_CARD.md


def run_documents(epochs: int, seed: int, lr: float, out: Path | None, limit: int | None = None) -> dict[str, Any]:
    """The documents adapter: the user adapter (``weights/tuned``) trained on, for ``epochs`` more, on the document
    rows of the documents head's data (hidden instructions in prose, tool results, repository files, long results
    and their benign twins) and ``DOCUMENTS_OTHER_ROWS`` of its other rows, so that it keeps what it knew. No epoch
    selection: the thresholds, fusion and gate come from ``--fit-fusion --documents``."""
    started = time.perf_counter()
    model, tokenizer = resumed(TUNED_DIR, seed)
    rng = random.Random(seed)
    samples = documents_training_samples()
    documents = [s for s in samples if s.source in DOCUMENT_SOURCES]
    others = rng.sample([s for s in samples if s.source not in DOCUMENT_SOURCES], DOCUMENTS_OTHER_ROWS)
    if limit is not None:  # a quick check: ``limit`` rows of each
        documents, others = rng.sample(documents, limit), others[:limit]
    train = training_texts(tokenizer, documents + others, builtin_rules())
    history = []
    for epoch in train_epochs(model, train, epochs, lr, rng):
        history.append({"epoch": epoch + 1, "minutes": _minutes(started)})
        print(json.dumps(history[-1]), flush=True)
    if out is not None:
        save(model, out)
    return {
        "epochs": epochs,
        "lr": lr,
        "seed": seed,
        "documents": len(documents),
        "other_rows": len(others),
        "training_texts": len(train),
        "history": history,
        "minutes": _minutes(started),
    }


def run(
    epochs: int, rank: int, seed: int, lr: float, limit: int | None, out: Path | None, full: bool = False
) -> dict[str, Any]:
    """Train the user adapter (``full``: fine-tune every projection of the encoder, then keep the change as an adapter
    of ``rank``, ``low_rank_adapter``), keep the epoch with the best S-Labs validation ROC AUC, write it to ``out``
    and report its classifier alone at validation-chosen thresholds (``full``: also the full model's, to show what
    the truncation costs)."""
    started = time.perf_counter()
    rules = builtin_rules()
    model, tokenizer = build_full(seed) if full else build(rank, seed)
    rng = random.Random(seed)
    samples = training_samples()
    if limit is not None:
        samples = rng.sample(samples, limit)
    train = training_texts(tokenizer, samples, rules)
    validation = SampleScorer(tokenizer, validation_samples(), rules)
    prepared = round(time.perf_counter() - started, 1)

    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    best_auc, best_state, history = -1.0, None, []
    optimiser_settings = {"head_lr": FULL_HEAD_LR, "encoder_weight_decay": 0.0} if full else {}
    for epoch in train_epochs(model, train, epochs, lr, rng, **optimiser_settings):
        auc = binary_metrics(validation.labels.tolist(), validation.scores(model).tolist(), 0.5)["roc_auc"]
        history.append({"epoch": epoch + 1, "validation_roc_auc": auc, "minutes": _minutes(started)})
        print(json.dumps(history[-1]), flush=True)
        if auc > best_auc:
            best_auc = auc
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in trainable}
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    report: dict[str, Any] = {"rank": rank, "full": full, "epochs": epochs, "lr": lr, "seed": seed}
    if full:
        full_model, (model, report["truncation_keeps"]) = model, low_rank_adapter(model, rank)
        report["full_model"] = measure(full_model, tokenizer, validation, rules)
    if out is not None:
        save(model, out)
    return report | {
        "training_texts": len(train),
        "prepare_minutes": round(prepared / 60, 1),
        "history": history,
        **measure(model, tokenizer, validation, rules),
        "minutes": _minutes(started),
    }


def measure(model: Any, tokenizer: Any, validation: SampleScorer, rules: RuleSet) -> dict[str, Any]:
    """The classifier alone at thresholds chosen on validation by the head's rules: the de-duplicated S-Labs test
    split, and the false-positive rates on the issue's ordinary queries."""
    clinc_val = [Sample(q, 0, "clinc_val") for q in clinc_queries("val") + clinc_queries("oos_val")]
    clinc_scores = SampleScorer(tokenizer, clinc_val, rules).scores(model)
    chosen = user_thresholds(validation.labels.tolist(), validation.scores(model).tolist(), clinc_scores.tolist())
    test_samples = load_samples(str(shared_data(f"{SLABS}/test.csv")), dedupe=True)[0]
    test = SampleScorer(tokenizer, test_samples, rules)
    test_scores = test.scores(model)
    ordinary = {
        name: SampleScorer(tokenizer, load_samples(str(shared_data(path)), dedupe=False)[0], rules).scores(model)
        for name, path in ORDINARY.items()
    }
    return {
        "thresholds": chosen,
        "test_roc_auc": binary_metrics(test.labels.tolist(), test_scores.tolist(), 0.5)["roc_auc"],
        "test": {name: binary_metrics(test.labels.tolist(), test_scores.tolist(), t) for name, t in chosen.items()},
        "ordinary_fpr": {
            name: {label: round(float((scores >= t).mean()), 4) for label, t in chosen.items()}
            for name, scores in ordinary.items()
        },
    }


def _minutes(started: float) -> float:
    return round((time.perf_counter() - started) / 60, 1)


GATES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)  # the cascade's candidate gates, lowest first


def fit_fusion(out: Path = FUSION_FILE) -> dict[str, Any]:
    """Fit the ensemble's fusion with the rules on S-Labs validation and the development documents (as train.py fits
    the head's), choose its thresholds by the head's rules and the cascade's gate (``choose_gate``), and write them
    with the validation metrics to ``out``."""
    validation = validation_samples()
    fusion_samples = [*validation, *development_documents()]
    clinc_val = [Sample(q, 0, "clinc_val") for q in clinc_queries("val") + clinc_queries("oos_val")]
    inputs = {name: fusion_inputs(rows) for name, rows in (("fit", fusion_samples), ("clinc", clinc_val))}
    features = {name: by_classifier["ensemble"] for name, by_classifier in inputs.items()}
    fused, fusion = fit_logistic(features["fit"], [s.label for s in fusion_samples])
    labels, scores = [s.label for s in validation], fused(features["fit"][: len(validation)]).tolist()
    clinc = fused(features["clinc"]).tolist()
    thresholds = user_thresholds(labels, scores, clinc)
    everything = {k: np.concatenate([fused(inputs[n][k]) for n in ("fit", "clinc")]) for k in ("ensemble", "head")}
    gate = choose_gate(everything["head"], everything["ensemble"], thresholds["user"])
    clinc_alone = fused(inputs["clinc"]["head"])
    report = {
        "what": "the tuned ensemble's fusion and thresholds, chosen on validation (python -m detectors.injection.tune)",
        "command": "python -m detectors.injection.tune --fit-fusion",
        "fusion": fusion,
        "thresholds": thresholds,
        "gate": {
            "skip_tuned_below": gate,
            "rule": "the highest of GATES at which no text of S-Labs validation, the development documents and "
            "CLINC150 validation that the head alone scores below it is at or above the review threshold with the "
            "ensemble",
            "validation_texts_skipping_the_tuned_encoder": round(float(np.mean(everything["head"] < gate)), 4),
            "clinc_validation_skipping_the_tuned_encoder": round(float(np.mean(clinc_alone < gate)), 4),
        },
        "s_labs_validation": binary_metrics(labels, scores, thresholds["user"]),
        "s_labs_validation_at_block": binary_metrics(labels, scores, thresholds["block"]),
        "clinc_validation_fpr": round(float(np.mean(np.asarray(clinc) >= thresholds["user"])), 4),
        "clinc_validation_fpr_at_block": round(float(np.mean(np.asarray(clinc) >= thresholds["block"])), 4),
    }
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def fit_documents_fusion(out: Path = DOCUMENTS_FUSION_FILE) -> dict[str, Any]:
    """The documents ensemble's fusion, fitted as train.py fits the documents head's (S-Labs validation and the
    documents' development set), its ``context`` threshold by the documents head's rule (the lowest with at most 1%
    of the benign development documents above it) and its cascade gate (``choose_gate``, on the same texts)."""
    validation, documents = validation_samples(), documents_development()
    samples = [*validation, *documents]
    inputs = fusion_inputs(samples, TextRole.CONTEXT)
    fused, fusion = fit_logistic(inputs["ensemble"], [s.label for s in samples])
    labels, scores = [s.label for s in documents], fused(inputs["ensemble"][len(validation) :])
    context = select_threshold(labels, scores.tolist(), 0.01, objective="recall")
    gate = choose_gate(fused(inputs["head"]), fused(inputs["ensemble"]), context)
    report = {
        "what": "the documents ensemble's fusion and threshold, chosen on the documents' development set "
        "(python -m detectors.injection.tune)",
        "command": "python -m detectors.injection.tune --fit-fusion --documents",
        "fusion": fusion,
        "thresholds": {"context": context},
        "gate": {
            "skip_tuned_below": gate,
            "rule": "the highest of GATES at which no text of S-Labs validation and the documents' development set "
            "that the documents head alone scores below it is above the context threshold with the ensemble",
            "development_documents_skipping_the_tuned_encoder": round(
                float(np.mean(fused(inputs["head"][len(validation) :]) < gate)), 4
            ),
        },
        **development_report(documents, scores.tolist(), context),
    }
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def fit_logistic(
    features: npt.NDArray[np.float64], labels: Sequence[int]
) -> tuple[Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]], dict[str, Any]]:
    """A fusion fitted as train.py fits the heads' (``logistic_fusion``): the fused score of feature rows, and the
    fusion as fusion.json records it."""
    coefficients, intercept = logistic_fusion(features, labels)

    def fused(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return fused_scores(rows, coefficients, intercept)

    return fused, {
        "features": ["logit(ensemble)", "heuristic", "obfuscations"],
        "coefficients": [round(float(x), 4) for x in coefficients],
        "intercept": round(intercept, 4),
    }


def choose_gate(
    head: npt.NDArray[np.float64], ensemble: npt.NDArray[np.float64], review: float, gates: Sequence[float] = GATES
) -> float:
    """The cascade's gate: the highest candidate below which the head alone never scores a text that the ensemble
    puts at or above ``review``, i.e. at which skipping the tuned encoder changes no decision on these texts (a text
    below the gate is allowed either way, as every gate is below the review threshold). 0 if none qualifies."""
    flagged = head[ensemble >= review]
    lowest = float(flagged.min()) if len(flagged) else 1.0
    return max((g for g in gates if g <= lowest and g < review), default=0.0)


def fusion_inputs(samples: Sequence[Sample], role: TextRole = TextRole.USER) -> dict[str, npt.NDArray[np.float64]]:
    """Per sample, the fusion's inputs (classifier score, heuristic, obfuscations) with the ensemble's classifier
    score (``ensemble``) and with the head's alone (``head``), as the detector reads them in ``role``."""
    evidence, head, alone = classifier_outputs(samples, role)
    rows: dict[str, list[npt.NDArray[np.float64]]] = {"ensemble": [], "head": []}
    for name, probabilities in (("ensemble", ensemble(head, alone)), ("head", head)):
        for found, p in zip(evidence, per_sample(evidence, probabilities), strict=True):
            rows[name].append(fusion_features(float(p), found.heuristic, len(found.normalized.suspicious)))
    return {name: np.stack(found) for name, found in rows.items()}


def classifier_outputs(
    samples: Sequence[Sample], role: TextRole = TextRole.USER
) -> tuple[list[Evidence], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each sample's evidence, and the head's and the tuned encoder's probabilities for all their classifier texts
    (in order): the user head and adapter, or for documents the documents head and adapter. The models are loaded
    once per process (the model runtime caches them)."""
    documents = role in DOCUMENT_ROLES
    head_detector = InjectionDetector()
    tuned = TunedInjectionClassifier(TUNED_DOCUMENTS_ADAPTER if documents else TUNED_ADAPTER)
    evidence = [head_detector.heuristics(s.text) for s in samples]
    context = DetectorContext(role=role, embeddings=EmbeddingCache())
    head = head_detector.classifier_probabilities(evidence, context)
    return evidence, head, tuned.probabilities([t for found in evidence for t in found.classifier_texts])


def compare() -> dict[str, Any]:
    """Classifier scores alone (no rules) of the head, the tuned encoder and their ensemble (per window, the highest
    window counts, as the detector reads them), each thresholded on validation by the head's rules, on the test split
    and the ordinary queries."""
    sets = {
        "validation": validation_samples(),
        "clinc_validation": [Sample(q, 0, "clinc_val") for q in clinc_queries("val") + clinc_queries("oos_val")],
        "test": load_samples(str(shared_data(f"{SLABS}/test.csv")), dedupe=True)[0],
    } | {name: load_samples(str(shared_data(path)), dedupe=False)[0] for name, path in ORDINARY.items()}
    scores: dict[str, dict[str, npt.NDArray[np.float64]]] = {"head": {}, "tuned": {}, "ensemble": {}}
    for name, samples in sets.items():
        evidence, head, alone = classifier_outputs(samples)
        for variant, probabilities in (("head", head), ("tuned", alone), ("ensemble", ensemble(head, alone))):
            scores[variant][name] = per_sample(evidence, probabilities)
    labels = {name: [s.label for s in samples] for name, samples in sets.items()}
    report: dict[str, Any] = {}
    for variant, by_set in scores.items():
        validation, clinc = by_set["validation"].tolist(), by_set["clinc_validation"].tolist()
        chosen = user_thresholds(labels["validation"], validation, clinc)
        report[variant] = {
            "test": {k: binary_metrics(labels["test"], by_set["test"].tolist(), t) for k, t in chosen.items()},
            "ordinary_fpr": {
                name: {k: round(float((by_set[name] >= t).mean()), 4) for k, t in chosen.items()} for name in ORDINARY
            },
        }
    return report


def per_sample(evidence: Sequence[Evidence], probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The classifier's say per text from the probabilities of all their classifier texts (in order)."""
    shares = per_evidence(evidence, probabilities)
    return np.asarray([classifier_score(found, own) for found, own in zip(evidence, shares, strict=True)])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=None, help="default 3 (1 with --documents)")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--lr", type=float, default=None, help="default 5e-4 (2e-4 with --documents)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--full",
        action="store_true",
        help="fine-tune every projection of the encoder (lr 5e-5 unless given), kept as an adapter of --rank",
    )
    parser.add_argument("--limit", type=int, default=None, help="train on N sampled rows only (quick checks)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the adapter and the head (default: "
        "the shipped weights/tuned, or weights/tuned_documents with --documents)",
    )
    parser.add_argument(
        "--documents",
        action="store_true",
        help="the documents adapter (from the user adapter, "
        "1 epoch, lr 2e-4 unless given); with --fit-fusion: the documents fusion",
    )
    parser.add_argument("--fit-fusion", action="store_true", help="fit the ensemble's fusion and thresholds")
    parser.add_argument("--compare", action="store_true", help="head, tuned encoder and ensemble, classifiers alone")
    args = parser.parse_args(argv)
    use_reference_precision()
    if args.fit_fusion or args.compare:
        fitted = fit_documents_fusion if args.documents else fit_fusion
        print(json.dumps(fitted() if args.fit_fusion else compare(), sort_keys=True))
        return
    if args.documents:
        out = args.out or TUNED_DOCUMENTS_DIR
        report = run_documents(args.epochs or 1, args.seed, args.lr or 2e-4, out, args.limit)
    else:
        lr = args.lr or (5e-5 if args.full else 5e-4)
        report = run(args.epochs or 3, args.rank, args.seed, lr, args.limit, args.out or TUNED_DIR, args.full)
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
