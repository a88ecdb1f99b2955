"""Latency of the PII detector per text of a given length (default 300 characters).

    python -m detectors.pii.bench [--chars 300] [--n 300] [--model spacy-en-core-web-md]

Texts are cut from the sentences of ``pii/synth_dataset_v2.json`` (joined until long enough, cut at a word
boundary), or from a few built-in support-chat messages when the shared data is absent. Prints the p50/p90
of the whole detector and of the spaCy pass alone; the last line is JSON. Timings on a shared machine are noisy:
compare runs made at the same time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator

from detectors.data import shared_data
from detectors.pii.detector import DEFAULT_MODEL, PiiDetector
from detectors.pii.engine import LANGUAGE

FALLBACK_MESSAGES = (
    "Hi, this is Maria Gonzalez. I moved last month, please update my address to 41 Harbour Road, Apt 3, "
    "Dublin 4, Ireland and send the new card there.",
    "My card 4111 1111 1111 1111 was charged twice on 3/14/2024. You can reach me on +44 20 7946 0958 or at "
    "maria.gonzalez@example.com between 9 and 5.",
    "Our CTO, Dr. Henrik Larsen, will visit the Oslo office on Thursday with two colleagues from Acme Holdings "
    "Ltd. He is 54 and travels with his assistant Sophie.",
    "Can you check why the transfer to IBAN GB82 WEST 1234 5698 7654 32 failed? The reference was my employee "
    "number and my SSN ends in 4399.",
)


def texts_of_length(chars: int, count: int) -> list[str]:
    return list(_cut(_sentences(), chars, count))


def _sentences() -> Iterator[str]:
    try:
        path = shared_data("pii/synth_dataset_v2.json")
    except FileNotFoundError:
        while True:
            yield from FALLBACK_MESSAGES
    records = json.loads(path.read_text(encoding="utf-8"))
    while True:
        for record in records:
            yield " ".join(record["full_text"].split())


def _cut(sentences: Iterator[str], chars: int, count: int) -> Iterator[str]:
    buffer = ""
    produced = 0
    for sentence in sentences:
        buffer = f"{buffer} {sentence}".strip()
        if len(buffer) < chars:
            continue
        cut = buffer.rfind(" ", 0, chars + 1)
        yield buffer[: cut if cut > chars // 2 else chars]
        buffer = ""
        produced += 1
        if produced == count:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detectors.pii.bench", description=__doc__)
    parser.add_argument("--chars", type=int, default=300)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)

    detector = PiiDetector(model=args.model)
    detector.warm_up()
    texts = texts_of_length(args.chars, args.n)
    for text in texts[:10]:
        detector.find(text)
    nlp_engine = detector.analysis.analyzers.nlp_engine

    def timings(fn: Callable[[str], object]) -> tuple[list[float], list[float]]:
        wall, cpu = [], []
        for text in texts:
            started, started_cpu = time.perf_counter(), time.process_time()
            fn(text)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        return wall, cpu

    whole, whole_cpu = timings(detector.find)
    spacy_only, _ = timings(lambda text: nlp_engine.process_text(text, LANGUAGE))
    result = {
        "model": args.model,
        "chars": round(statistics.mean(len(t) for t in texts), 1),
        "n": len(texts),
        "p50_ms": round(statistics.median(whole), 2),
        "p90_ms": round(statistics.quantiles(whole, n=10)[-1], 2),
        # CPU time of the process: close to what the wall time would be on an idle core (the work is single-threaded)
        "cpu_p50_ms": round(statistics.median(whole_cpu), 2),
        "spacy_p50_ms": round(statistics.median(spacy_only), 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"{result['n']} texts of ~{result['chars']} chars, model {args.model}: p50 {result['p50_ms']} ms wall, "
        f"{result['cpu_p50_ms']} ms CPU, p90 {result['p90_ms']} ms (spaCy alone p50 {result['spacy_p50_ms']} ms; "
        f"load average {result['load_average_1m']})"
    )
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
