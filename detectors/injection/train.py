"""Train the injection heads: ``python -m detectors.injection.train`` (reproducible; seeds fixed; minutes).

Two heads of one shape (head.py): the **user** head for user turns and the **documents** head for documents and tool
results.

1. Training data (user head): S-Labs train plus generated data (augment.py, seed 0, pool half 0): obfuscated
   attacks, role-play jailbreaks, multilingual overrides, documents with hidden instructions, benign documents,
   benign texts in encodings, generated benign instructions, the self-instruct seed tasks as prompts (and variants
   of them), benign messages full of personal data (Faker), prompts carrying pasted data (tables, JSON, code, grids,
   markup, transcripts, logs; some with an instruction hidden inside), ordinary requests in the twelve languages of
   the multilingual attacks and spaCy's example sentences in ~60 languages, and every CLINC150 train and
   out-of-scope train query as ordinary benign input. The documents head: the same, then generated tool results
   and repository files (tool_results.py, seed 7), benign and with a planted instruction. ``training_data_sha256``
   in each head's metrics file fingerprints its data.
2. Classifier: two one-hidden-layer perceptrons (256 units, early stopping, seed 0), one on the MiniLM sentence
   embedding ("meaning"), one on the sentence embedding and the lexical vector ("wording"), of every text the
   detector would read (windows of the normalised text and decoded payloads); the head averages their logits.
3. Fusion: logistic regression on (logit of the classifier score, heuristic score, obfuscation count), fitted on
   data the classifier never saw: S-Labs validation plus generated development documents (seed 2); for the
   documents head also development tool results and repository files (seed 8).
4. Thresholds on validation only. User head: the review threshold maximises F1 on S-Labs validation (rows also in
   train dropped) with false-positive rate <= 2% there and <= 0.4% on CLINC150 validation; the block threshold the
   same with <= 1% and <= 0.2%. Documents head: the context threshold is the lowest one keeping the false-positive
   rate on its development documents <= 1% (best recall).

Writes weights/injection_head.npz with weights/validation_metrics.json, and weights/injection_documents_head.npz
with weights/documents_validation_metrics.json (``--head user|documents`` trains one). See MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.data import shared_data
from detectors.evaluation import binary_metrics
from detectors.injection import augment
from detectors.injection.analysis import Evidence, analyse, classifier_score
from detectors.injection.head import (
    DEFAULT_DOCUMENTS_HEAD,
    DEFAULT_HEAD,
    InjectionHead,
    Perceptron,
    fusion_features,
    head_features,
)
from detectors.injection.rules import RuleSet, builtin_rules
from detectors.injection.tool_results import long_tool_results, repository_files, tool_results
from detectors.models.embeddings import EmbeddingCache, Span, is_whole
from detectors.models.encoder import use_reference_precision
from detectors.topic.precomputed import PrecomputedEncoder

SLABS = "injection/s-labs"
CLINC = "topic/clinc150/data_full.json"
SEED_TASKS = "benign/self-instruct/seed_tasks.jsonl"
TRAIN_SEED, DEV_SEED = 0, 2  # the held-out evaluation set uses seed 1 (evaluate.py)
VARIANTS_SEED, PERSONAL_DATA_SEED, STRUCTURED_SEED, MULTILINGUAL_SEED = 3, 4, 5, 6
TOOL_RESULTS_SEED, DEV_TOOL_RESULTS_SEED = 7, 8
TOOL_RESULTS = 1200  # benign tool results and repository files each (half of them also with an instruction)
DEVELOPMENT_TOOL_RESULTS = 500
MULTILINGUAL_BENIGN = 600
# Development documents per class (hidden instruction / benign), for the fusion and the context threshold. At 300 the
# threshold (at most 1% of benign documents above it: 3 documents) moved between 0.695 and 0.825 from one retraining
# to the next; 1,000 put it on 10 documents.
DEVELOPMENT_DOCUMENTS = 1000
PERSONAL_DATA_MESSAGES = 1500
MAX_HOST_CHARS = 500  # hosts stay one window long, so a window's label is its document's
SEED_TASK_VARIANTS = 1500
STRUCTURED_TASKS, STRUCTURED_INDIRECT = 750, 500


@dataclass
class Sample:
    text: str
    label: int
    source: str


def read_csv(path: Path) -> list[Sample]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [Sample(row["text"], int(row["label"]), path.stem) for row in csv.DictReader(handle)]


def seed_tasks() -> list[dict[str, Any]]:
    """The self-instruct seed tasks (not the user-oriented set, which is test-only), in file order."""
    with shared_data(SEED_TASKS).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def seed_instructions() -> list[str]:
    return [task["instruction"] for task in seed_tasks()]


def seed_documents(part: int) -> list[str]:
    """Self-instruct seed task inputs, split in halves."""
    inputs = [t["instances"][0]["input"] for t in seed_tasks() if t["instances"][0]["input"].strip()]
    return [d for d in augment.half(inputs, part) if 30 <= len(d) <= MAX_HOST_CHARS]


def seed_prompts() -> list[str]:
    """The self-instruct seed tasks as prompts (instruction, then input): ordinary benign instructions."""
    prompts = []
    for task in seed_tasks():
        extra = task["instances"][0]["input"]
        prompts.append(task["instruction"] + ("\n\n" + extra if extra.strip() else ""))
    return prompts


def seed_task_variants(rng: random.Random, inputs: Sequence[str], n: int) -> list[str]:
    """The seed tasks' instructions with other inputs: a seed instruction alone, or followed by another task's input,
    a benign document or a benign S-Labs row (``inputs``). Ordinary task prompts ("You are given a ...", "Classify
    the following ...") share words with attacks; these teach the head that wording plus an input is not one."""
    instructions = seed_instructions()
    texts = []
    for _ in range(n):
        text = rng.choice(instructions)
        if rng.random() < 0.8:
            text += "\n\n" + rng.choice(inputs)
        texts.append(text)
    return texts


def structured_samples(rng: random.Random, lines: Sequence[str]) -> list[Sample]:
    """Prompts carrying pasted data (tables, JSON, code, grids, markup, transcripts, logs): benign with a task
    instruction, and, so that pasted data does not read as benign in itself, some with an instruction to the AI
    hidden inside (pool half 0)."""
    instructions = seed_instructions()
    blocks = augment.structured_inputs(rng, STRUCTURED_TASKS + STRUCTURED_INDIRECT, lines)
    benign = augment.structured_tasks(blocks[:STRUCTURED_TASKS], instructions, rng)
    hosts = [block for _, block in blocks[STRUCTURED_TASKS:] if len(block) <= MAX_HOST_CHARS]
    hidden = augment.indirect(hosts, rng, STRUCTURED_INDIRECT, 0)
    return [Sample(t, 0, "structured_tasks") for t in benign] + [Sample(t, 1, "structured_indirect") for t in hidden]


def host_documents(benign_rows: Sequence[str], part: int, rng: random.Random, joined: int = 150) -> list[str]:
    """Benign documents to hide instructions in: seed inputs, the hand-written documents, and runs of benign rows."""
    hosts = seed_documents(part) + augment.half(augment.BENIGN_DOCUMENTS, part)
    for _ in range(joined):
        hosts.append(" ".join(rng.sample(list(benign_rows), k=rng.randint(3, 6)))[:MAX_HOST_CHARS])
    return hosts


def clinc_queries(split: str) -> list[str]:
    data = json.loads(shared_data(CLINC).read_text(encoding="utf-8"))
    return [query for query, _ in data[split]]


def generated(
    rng: random.Random, attacks: Sequence[str], benign: Sequence[str], part: int, scale: float
) -> list[Sample]:
    """One draw of every generator (``scale`` 1.0 is the training size)."""

    def n(count: int) -> int:
        return max(1, int(count * scale))

    hosts = host_documents(benign, part, rng)
    samples = [Sample(t, 1, "obfuscated") for t in augment.obfuscated(attacks, rng, n(1500))]
    samples += [Sample(t, 1, "roleplay") for t in augment.roleplay(rng, n(600), part)]
    samples += [Sample(t, 1, "multilingual") for t in augment.multilingual(rng, n(600), part)]
    samples += [Sample(t, 1, "indirect") for t in augment.indirect(hosts, rng, n(900), part)]
    samples += [Sample(t, 0, "benign_documents") for t in augment.benign_documents(hosts, rng, n(900))]
    encoders = [augment.b64, augment.hexed, augment.rot13, augment.homoglyphs, augment.fullwidth, augment.url_quoted]
    samples += [Sample(rng.choice(encoders)(rng.choice(benign), rng), 0, "benign_encoded") for _ in range(n(250))]
    samples += [Sample(t, 0, "benign_tasks") for t in augment.benign_tasks(hosts, rng, n(1500), part)]
    return samples


def training_samples() -> list[Sample]:
    rng = random.Random(TRAIN_SEED)
    train = read_csv(shared_data(f"{SLABS}/train.csv"))
    attacks = [s.text for s in train if s.label == 1]
    benign = [s.text for s in train if s.label == 0]
    clinc = clinc_queries("train") + clinc_queries("oos_train")
    seeds = [Sample(p, 0, "seed_tasks") for p in seed_prompts()]
    variants = random.Random(VARIANTS_SEED)  # its own generator, so the other draws stay as they were
    inputs = host_documents(benign, 0, variants) + benign  # pool half 0 only: half 1 hosts the held-out set
    seeds += [Sample(p, 0, "seed_task_variants") for p in seed_task_variants(variants, inputs, SEED_TASK_VARIANTS)]
    personal = augment.personal_data(random.Random(PERSONAL_DATA_SEED), PERSONAL_DATA_MESSAGES)
    seeds += [Sample(p, 0, "personal_data") for p in personal]
    seeds += structured_samples(random.Random(STRUCTURED_SEED), benign + clinc_queries("train"))
    ordinary = augment.multilingual_benign(random.Random(MULTILINGUAL_SEED), MULTILINGUAL_BENIGN, 0)
    seeds += [Sample(t, 0, "multilingual_benign") for t in ordinary]
    seeds += [Sample(t, 0, "multilingual_sentences") for t in augment.spacy_example_sentences(0)]
    return train + generated(rng, attacks, benign, 0, 1.0) + [Sample(q, 0, "clinc_train") for q in clinc] + seeds


def documents_training_samples() -> list[Sample]:
    """The documents head's data: the user head's, then tool results and repository files (seed 7, pool half 0)."""
    return training_samples() + tool_result_samples(random.Random(TOOL_RESULTS_SEED), TOOL_RESULTS, 0)


def tool_result_samples(rng: random.Random, n: int, part: int) -> list[Sample]:
    """Tool results and repository files (tool_results.py): ``n`` of each kind untouched, every other one of them
    again with a planted instruction (benign tool output is the common case), and ``n / 2`` long benign results."""
    samples = []
    for pairs, kind in ((tool_results(rng, n, part), "tool_results"), (repository_files(rng, n, part), "repository")):
        samples += [Sample(b, 0, f"benign_{kind}") for b, _ in pairs]
        samples += [Sample(a, 1, kind) for _, a in pairs[::2]]
    return samples + [Sample(t, 0, "long_tool_results") for t in long_tool_results(rng, n // 2, part)]


def training_data_digest(samples: Sequence[Sample]) -> str:
    """sha256 of the training rows in order (source, label, text): recorded beside the head, so a test can tell that
    this script still generates exactly the data the committed head was trained on."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(json.dumps([sample.source, sample.label, sample.text]).encode("utf-8"))
    return digest.hexdigest()


def validation_samples() -> list[Sample]:
    """S-Labs validation without the rows that also appear in train (case-insensitive)."""
    train = {s.text.strip().lower() for s in read_csv(shared_data(f"{SLABS}/train.csv"))}
    return [s for s in read_csv(shared_data(f"{SLABS}/validation.csv")) if s.text.strip().lower() not in train]


def development_documents() -> list[Sample]:
    """Generated documents (seed 2, pool half 0): the user head's fusion is fitted on them, beside S-Labs validation."""
    rng = random.Random(DEV_SEED)
    benign = [s.text for s in read_csv(shared_data(f"{SLABS}/validation.csv")) if s.label == 0]
    hosts = host_documents(benign, 0, rng)
    samples = [Sample(t, 1, "indirect") for t in augment.indirect(hosts, rng, DEVELOPMENT_DOCUMENTS, 0)]
    benign_documents = augment.benign_documents(hosts, rng, DEVELOPMENT_DOCUMENTS)
    return samples + [Sample(t, 0, "benign_documents") for t in benign_documents]


def documents_development() -> list[Sample]:
    """The development documents plus tool results and repository files (seed 8, pool half 0): the documents head's
    fusion is fitted on them and its threshold chosen on them."""
    extra = tool_result_samples(random.Random(DEV_TOOL_RESULTS_SEED), DEVELOPMENT_TOOL_RESULTS, 0)
    return development_documents() + extra


# ------------------------------------------------------------------------------------------------ features


def classifier_rows(sample: Sample, evidence: Evidence) -> list[tuple[Span, str, int]]:
    """The (span, text, label) rows a sample contributes to the classifier: each window as a span of its text (for
    the sentence vector) and as text (for the lexical vector). A payload carries the sample's label; the visible text
    of a tag-character smuggle does not (it is innocent on its own)."""
    windows = zip(evidence.classifier_spans, evidence.classifier_texts, strict=True)
    rows = [(span, text, sample.label) for span, text in windows]
    visible = len(evidence.windows)
    if sample.label == 1 and "tag_characters" in evidence.normalized.obfuscations:
        return rows[visible:]
    return rows


def classify(head: InjectionHead, encoder: PrecomputedEncoder, evidence: Evidence) -> npt.NDArray[np.float64]:
    """The head's probability for each classifier text of ``evidence``, read as the detector reads it."""
    sentence = EmbeddingCache(encoder).embed_spans(evidence.classifier_spans)
    return head.classify(sentence, encoder.encode_lexical(evidence.classifier_texts))


class Scorer:
    """Scores samples with a head, reading embeddings from a precomputed table."""

    def __init__(self, head: InjectionHead, encoder: PrecomputedEncoder, rules: RuleSet) -> None:
        self.head, self.encoder, self.rules = head, encoder, rules

    def scores(self, samples: Sequence[Sample]) -> tuple[list[float], list[float]]:
        """(fused score, classifier score) per sample."""
        fused, classifier = [], []
        for sample in samples:
            evidence = analyse(sample.text, self.rules)
            probability = classifier_score(evidence, classify(self.head, self.encoder, evidence))
            classifier.append(probability)
            fused.append(self.head.fuse(probability, evidence.heuristic, len(evidence.normalized.suspicious)))
        return fused, classifier


def select_threshold(
    labels: Sequence[int],
    scores: Sequence[float],
    max_fpr: float,
    benign_scores: Sequence[float] = (),
    max_benign_fpr: float = 1.0,
    objective: str = "f1",
) -> float:
    """The threshold (3 decimals) with the best F1 (or recall) whose false-positive rates stay within the limits."""
    best = (-1.0, 0.5)
    benign = np.asarray(benign_scores, dtype=float)
    for threshold in np.round(np.arange(0.05, 0.995, 0.005), 3):
        metrics = binary_metrics(labels, scores, float(threshold))
        benign_fpr = float((benign >= threshold).mean()) if len(benign) else 0.0
        if metrics["fpr"] <= max_fpr and benign_fpr <= max_benign_fpr and metrics[objective] > best[0]:
            best = (metrics[objective], float(threshold))
    return best[1]


def validation_report(head: InjectionHead, encoder: PrecomputedEncoder, rules: RuleSet) -> dict[str, Any]:
    """Metrics of the user head at its own thresholds on every validation set (the slow test recomputes this)."""
    scorer = Scorer(head, encoder, rules)
    validation = validation_samples()
    labels = [s.label for s in validation]
    fused, classifier = scorer.scores(validation)
    clinc, _ = scorer.scores([Sample(q, 0, "clinc_val") for q in clinc_queries("val") + clinc_queries("oos_val")])
    user, block = head.thresholds["user"], head.thresholds["block"]
    return {
        "s_labs_validation": {"n": len(validation), **binary_metrics(labels, fused, user)},
        "s_labs_validation_at_block": binary_metrics(labels, fused, block),
        "s_labs_validation_classifier_only": binary_metrics(labels, classifier, user),
        "clinc_validation_fpr": round(float((np.asarray(clinc) >= user).mean()), 4),
        "clinc_validation_fpr_at_block": round(float((np.asarray(clinc) >= block).mean()), 4),
    }


def documents_validation_report(head: InjectionHead, encoder: PrecomputedEncoder, rules: RuleSet) -> dict[str, Any]:
    """Metrics of the documents head at its threshold on the development documents, overall and per kind."""
    documents = documents_development()
    scores, _ = Scorer(head, encoder, rules).scores(documents)
    return development_report(documents, scores, head.thresholds["context"])


def development_report(documents: Sequence[Sample], scores: Sequence[float], context: float) -> dict[str, Any]:
    """Metrics at the document threshold ``context`` on the development documents, overall and per kind."""
    grouped: dict[tuple[str, int], list[float]] = {}
    for sample, score in zip(documents, scores, strict=True):
        grouped.setdefault((sample.source, sample.label), []).append(score)
    by_source = {
        source: {
            "n": len(chosen),
            "recall" if label else "fpr": round(float((np.asarray(chosen) >= context).mean()), 4),
        }
        for (source, label), chosen in grouped.items()
    }
    return {
        "development_documents": {"n": len(documents), **binary_metrics([s.label for s in documents], scores, context)},
        "development_documents_by_source": by_source,
    }


def user_thresholds(labels: Sequence[int], scores: Sequence[float], clinc: Sequence[float]) -> dict[str, float]:
    """The user-turn thresholds from S-Labs validation scores and CLINC150 validation scores: ``user`` (review) with
    false-positive rates <= 2% and <= 0.4%, ``block`` with <= 1% and <= 0.2%. Blocking needs more certainty than
    review: long benign instructions can score between the two."""
    return {
        "user": select_threshold(labels, scores, 0.02, clinc, 0.004),
        "block": select_threshold(labels, scores, 0.01, clinc, 0.002),
    }


def embed_all(spans: Sequence[Span], cache: Path | None) -> PrecomputedEncoder:
    """Sentence vectors for every classifier span (a whole text is embedded as a text), kept in ``cache``."""
    whole = [span[0] for span in spans if is_whole(span)]
    return PrecomputedEncoder.for_texts(whole, cache, spans=[span for span in spans if not is_whole(span)])


def fusion_rows(
    head: InjectionHead, encoder: PrecomputedEncoder, rules: RuleSet, samples: Sequence[Sample]
) -> npt.NDArray[np.float64]:
    rows = []
    for sample in samples:
        evidence = analyse(sample.text, rules)
        probability = classifier_score(evidence, classify(head, encoder, evidence))
        rows.append(fusion_features(probability, evidence.heuristic, len(evidence.normalized.suspicious)))
    return np.stack(rows)


def fit_head(
    samples: Sequence[Sample],
    fusion_samples: Sequence[Sample],
    encoder: PrecomputedEncoder,
    rules: RuleSet,
    hidden: int,
) -> InjectionHead:
    """The two perceptrons fitted on ``samples``, and the fusion on ``fusion_samples`` (which they never saw)."""
    from sklearn.neural_network import MLPClassifier

    rows = [classifier_rows(s, analyse(s.text, rules)) for s in samples]
    spans = [span for r in rows for span, _, _ in r]
    labels = [label for r in rows for _, _, label in r]
    sentence = EmbeddingCache(encoder).embed_spans(spans)
    lexical = encoder.encode_lexical([text for r in rows for _, text, _ in r])

    def fit(features: npt.NDArray[np.float64]) -> Perceptron:
        mlp = MLPClassifier(
            (hidden,), alpha=1e-3, max_iter=60, early_stopping=True, validation_fraction=0.1, random_state=0
        )
        return Perceptron.from_mlp(mlp.fit(features, labels))

    classifier = InjectionHead(
        meaning=fit(sentence.astype(np.float64)),
        wording=fit(head_features(sentence, lexical)),
        fusion_coefficients=np.array([1.0, 0.0, 0.0]),
        fusion_intercept=0.0,
        thresholds={},
    )
    return fit_fusion(classifier, fusion_samples, encoder, rules)


def fit_fusion(
    head: InjectionHead, fusion_samples: Sequence[Sample], encoder: PrecomputedEncoder, rules: RuleSet
) -> InjectionHead:
    """``head``'s perceptrons with the fusion fitted on ``fusion_samples`` (thresholds left to the caller)."""
    coefficients, intercept = logistic_fusion(
        fusion_rows(head, encoder, rules, fusion_samples), [s.label for s in fusion_samples]
    )
    return replace(head, fusion_coefficients=coefficients, fusion_intercept=intercept, thresholds={})


def logistic_fusion(features: npt.NDArray[np.float64], labels: Sequence[int]) -> tuple[npt.NDArray[np.float64], float]:
    """Coefficients and intercept of a fusion: logistic regression on ``fusion_features`` rows (every fusion, the
    heads' here and the tuned ensembles' in tune.py, is fitted by this one)."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(features, labels)
    return fitted.coef_[0].astype(np.float64), float(fitted.intercept_[0])


def _report(head: InjectionHead, samples: Sequence[Sample], command: str) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.source] = counts.get(s.source, 0) + 1
    return {
        "what": "InjectionHead validation metrics at the thresholds chosen on validation (see train.py)",
        "command": command,
        "hidden_units": len(head.meaning.hidden_bias),
        "training_samples": counts,
        "training_data_sha256": training_data_digest(samples),
        "thresholds": head.thresholds,
        "fusion": {
            "features": ["logit(classifier)", "heuristic", "obfuscations"],
            "coefficients": [round(float(x), 4) for x in head.fusion_coefficients],
            "intercept": round(head.fusion_intercept, 4),
        },
    }


def train(
    cache: Path | None,
    hidden: int,
    out: Path,
    documents_out: Path,
    heads: Sequence[str] = ("user", "documents"),
    refit: bool = False,
) -> dict[str, dict[str, Any]]:
    """Train the user head (written to ``out``) and the documents head (``documents_out``); each gets its
    ``validation_metrics.json`` / ``documents_validation_metrics.json`` beside it. With ``refit`` the perceptrons
    are the ones already in ``out`` / ``documents_out`` and only the fusion and thresholds are fitted again: after a
    change to the rules, the normaliser or how the classifier's say is read, which the perceptrons never see
    (retraining them on another CPU would also move their weights a little: see the model card)."""
    rules = builtin_rules()
    samples = {"user": training_samples, "documents": documents_training_samples}
    chosen = {name: samples[name]() for name in heads}
    validation, documents = validation_samples(), documents_development()
    clinc_val = clinc_queries("val") + clinc_queries("oos_val")
    texts = [s.text for s in [*validation, *documents]] + clinc_val
    if not refit:
        texts = [s.text for rows in chosen.values() for s in rows] + texts
    spans = [span for text in dict.fromkeys(texts) for span in analyse(text, rules).classifier_spans]
    encoder = embed_all(spans, cache)

    def fitted(name: str, path: Path, fusion_samples: Sequence[Sample]) -> InjectionHead:
        if refit:
            return fit_fusion(InjectionHead.load(path), fusion_samples, encoder, rules)
        return fit_head(chosen[name], fusion_samples, encoder, rules, hidden)

    reports: dict[str, dict[str, Any]] = {}
    if "user" in chosen:
        # The user head's fusion is fitted on S-Labs validation and the development documents (a user may paste a
        # document with an instruction hidden in it).
        fusion_samples = [*validation, *development_documents()]
        head = fitted("user", out, fusion_samples)
        scorer = Scorer(head, encoder, rules)
        fused, _ = scorer.scores(validation)
        clinc_scores, _ = scorer.scores([Sample(q, 0, "clinc_val") for q in clinc_val])
        thresholds = user_thresholds([s.label for s in validation], fused, clinc_scores)
        head = replace(head, thresholds=thresholds)
        head.save(out)
        head = InjectionHead.load(out)
        report = _report(head, chosen["user"], "python -m detectors.injection.train --head user")
        reports["user"] = {**report, **validation_report(head, encoder, rules)}
        (out.parent / "validation_metrics.json").write_text(json.dumps(reports["user"], indent=1) + "\n")
    if "documents" in chosen:
        head = fitted("documents", documents_out, [*validation, *documents])
        scores, _ = Scorer(head, encoder, rules).scores(documents)
        # The lowest threshold within the false-positive limit (best recall). The development documents are easy for
        # the classifier, so their F1 optimum sits near 1.0 and would miss hidden instructions phrased unlike the
        # generators'.
        context = select_threshold([s.label for s in documents], scores, 0.01, objective="recall")
        head = replace(head, thresholds={"context": context})
        head.save(documents_out)
        head = InjectionHead.load(documents_out)
        report = _report(head, chosen["documents"], "python -m detectors.injection.train --head documents")
        reports["documents"] = {**report, **documents_validation_report(head, encoder, rules)}
        text = json.dumps(reports["documents"], indent=1) + "\n"
        (documents_out.parent / "documents_validation_metrics.json").write_text(text)
    return reports


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=None, help=".npz to keep embeddings in between runs")
    parser.add_argument("--hidden", type=int, default=256, help="hidden units of the classifier")
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD, help="the user head")
    parser.add_argument("--documents-out", type=Path, default=DEFAULT_DOCUMENTS_HEAD, help="the documents head")
    parser.add_argument("--head", choices=["user", "documents", "both"], default="both", help="which head to train")
    parser.add_argument(
        "--refit-fusion",
        action="store_true",
        help="keep the committed perceptrons; fit only the fusion and thresholds again (after a change to the rules, "
        "the normaliser or the scoring)",
    )
    args = parser.parse_args(argv)
    use_reference_precision()
    import torch

    torch.set_num_threads(2)
    heads = ("user", "documents") if args.head == "both" else (args.head,)
    reports = train(args.cache, args.hidden, args.out, args.documents_out, heads, refit=args.refit_fusion)
    if "user" in reports:
        user = reports["user"]
        print(json.dumps({k: user[k] for k in ("thresholds", "s_labs_validation", "clinc_validation_fpr")}))
    if "documents" in reports:
        documents = reports["documents"]
        print(json.dumps({"thresholds": documents["thresholds"], **documents["development_documents"]}))


if __name__ == "__main__":
    main()
