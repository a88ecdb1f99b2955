"""`python -m detectors.injection.bench`: median latency of the injection check on this machine.

Prints, for a 1,000-character prompt: the heuristics alone (normalisation and rules, no model) and the whole
``detect`` call (encoder included, a fresh per-request embedding cache each time), plus a 5,000-character document
(several windows). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from detectors.base import DetectorContext, TextRole
from detectors.injection import InjectionDetector
from detectors.models.embeddings import EmbeddingCache

PROMPT = (
    "I'm planning a two-week trip to Japan in April with my partner. We want to see Tokyo, Kyoto and Osaka, and "
    "maybe Hiroshima for a day. We like food markets, temples, and quiet neighbourhoods more than nightlife. "
    "Could you suggest an itinerary that keeps train rides reasonable, tell us whether the rail pass is worth it, "
    "and recommend a few places to stay in each city in the mid-range price bracket? "
) * 4


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--torch-threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    detector = InjectionDetector()
    detector.warm_up()
    prompt = PROMPT[:1000]
    document = (PROMPT * 5)[:5000]
    result = {
        "prompt_chars": len(prompt),
        "heuristics_p50_ms": median_ms(lambda: detector.heuristics(prompt), args.repeat * 4),
        "detect_p50_ms": median_ms(
            lambda: detector.detect(prompt, DetectorContext(embeddings=EmbeddingCache())), args.repeat
        ),
        "document_chars": len(document),
        "document_detect_p50_ms": median_ms(
            lambda: detector.detect(document, DetectorContext(role=TextRole.CONTEXT, embeddings=EmbeddingCache())),
            max(5, args.repeat // 5),
        ),
        "torch_threads": args.torch_threads,
    }
    print(f"heuristics alone, {len(prompt)} chars: {result['heuristics_p50_ms']} ms")
    print(f"detect (encoder included), {len(prompt)} chars: {result['detect_p50_ms']} ms")
    print(f"detect, {len(document)}-char document: {result['document_detect_p50_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
