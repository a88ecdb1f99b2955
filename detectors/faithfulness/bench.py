"""Latency of the offline checker on ~300-word contexts and 3-sentence answers.

    python -m detectors.faithfulness.bench [--wiki /tmp/faithfulness/wiki] [--threads 1]

Three figures, each a median over the passages: a cold request (context and answer analysed and embedded in the
request), an answer whose context was ``prepare``-d while the upstream generated, and a later streamed window of the
same answer. Wall-clock and CPU milliseconds both, since wall time on a shared machine mostly measures the neighbours.
The answers are three context sentences with a word added, so that they are not verbatim (and already embedded).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detectors.base import DetectorContext
from detectors.faithfulness.detector import FaithfulnessDetector
from detectors.faithfulness.devset import load_corpus
from detectors.faithfulness.segment import split_sentences
from detectors.models.embeddings import EmbeddingCache


def _timed(
    detect: Callable[[str, DetectorContext], object], text: str, context: DetectorContext
) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    detect(text, context)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wiki", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passages", type=int, default=30)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    passages = [p for p in load_corpus(args.wiki) if 250 <= len(p.text.split()) <= 360][: args.passages]
    detector = FaithfulnessDetector()
    detector.warm_up()
    rng = random.Random(0)
    figures: dict[str, list[tuple[float, float]]] = {"cold": [], "prepared": [], "next_window": []}
    for passage in passages:
        sentences = [s.text for s in split_sentences(passage.text) if len(s.text.split()) >= 6]
        if len(sentences) < 4:
            continue
        picked = rng.sample(sentences, 4)
        answer = " ".join(s.rstrip(".") + ", reportedly." for s in picked[:3])
        window = picked[3].rstrip(".") + ", reportedly."
        # A fresh copy of the text per measurement so the per-process context cache does not help the cold case.
        for key, suffix in (("cold", " "), ("prepared", "  ")):
            context = DetectorContext(context_documents=[passage.text + suffix], embeddings=EmbeddingCache())
            if key == "prepared":
                detector.prepare(context)
            figures[key].append(_timed(detector.detect, answer, context))
            if key == "prepared":
                figures["next_window"].append(_timed(detector.detect, window, context))
    result: dict[str, Any] = {
        "passages": len(figures["cold"]),
        "context_words_p50": statistics.median(len(p.text.split()) for p in passages),
        "threads": args.threads,
    }
    for key, values in figures.items():
        result[f"{key}_p50_ms"] = round(statistics.median(v[0] for v in values), 1)
        result[f"{key}_cpu_p50_ms"] = round(statistics.median(v[1] for v in values), 1)
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
