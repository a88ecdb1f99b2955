"""`python -m detectors.injection.bench`: median latency of the injection check on this machine.

Prints, for a 1,000-character prompt: the heuristics alone (normalisation and rules, no model) and the whole
``detect`` call (encoder included, a fresh per-request embedding cache each time), plus a 5,000-character document
(several windows), the same calls with ``backend: tuned`` as it runs (the cascade: this ordinary prompt scores below
the gate, so the head alone decides) and with every text sent on to the tuned encoder (one more encoder pass, what a
text at or above the gate costs; for the document, the documents adapter), and the windows' sentence vectors read in
one encoder pass against a pass per window (side by side). ``--precision both`` measures the encoder in float32 and
bfloat16 in the same run, with their ratio and how close bfloat16's vectors stay to float32's. The last line is
JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from detectors.base import DetectorContext, TextRole
from detectors.injection import InjectionDetector
from detectors.injection.tuned import TUNED_DOCUMENTS_ADAPTER, TunedInjectionClassifier
from detectors.injection.windows import windows
from detectors.models.embeddings import EmbeddingCache
from detectors.models.encoder import PRECISIONS, SharedEncoder
from detectors.models.runtime import limit_blas_threads

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


def blas_threaded(measurement: Callable[[], float]) -> float:
    """``measurement`` with numpy's BLAS allowed a thread per core again, as before ``limit_blas_threads``."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=os.cpu_count() or 1, user_api="blas"):
        return measurement()


def measure(detector: InjectionDetector, precision: str, repeat: int) -> dict[str, Any]:
    """Full ``detect`` timings with the encoder at ``precision`` (``median_ms``'s first, untimed call loads it)."""
    encoder = SharedEncoder(precision=precision)
    prompt = PROMPT[:1000]
    document = (PROMPT * 5)[:5000]
    prompt_windows, document_windows = windows(prompt), windows(document)

    def detect_prompt() -> object:
        return detector.detect(prompt, DetectorContext(embeddings=EmbeddingCache(encoder)))

    tuned = InjectionDetector(backend="tuned")
    tuned.tuned = TunedInjectionClassifier(precision=precision)
    tuned.tuned_documents = TunedInjectionClassifier(TUNED_DOCUMENTS_ADAPTER, precision=precision)
    every_text = InjectionDetector(backend="tuned", skip_tuned_below=0.0)
    every_text.tuned, every_text.tuned_documents = tuned.tuned, tuned.tuned_documents

    def document_context() -> DetectorContext:
        return DetectorContext(role=TextRole.CONTEXT, embeddings=EmbeddingCache(encoder))

    cascade = tuned.detect(prompt, DetectorContext(embeddings=EmbeddingCache(encoder))).details["tuned_encoder"]
    return {
        "tuned_encoder_on_prompt": cascade,
        "tuned_encoder_on_document": tuned.detect(document, document_context()).details["tuned_encoder"],
        # The windows' sentence vectors both ways, side by side: one pass over the text (what detect does) against
        # a pass per window (what it did before SharedEncoder.encode_spans).
        "windows_one_pass_p50_ms": median_ms(
            lambda: encoder.encode_spans([(prompt, [(w.start, w.end) for w in prompt_windows])]), repeat
        ),
        "windows_separately_p50_ms": median_ms(lambda: encoder.encode([w.text for w in prompt_windows]), repeat),
        "document_windows_one_pass_p50_ms": median_ms(
            lambda: encoder.encode_spans([(document, [(w.start, w.end) for w in document_windows])]),
            max(5, repeat // 5),
        ),
        "document_windows_separately_p50_ms": median_ms(
            lambda: encoder.encode([w.text for w in document_windows]), max(5, repeat // 5)
        ),
        "detect_p50_ms": median_ms(detect_prompt, repeat),
        "tuned_detect_p50_ms": median_ms(
            lambda: tuned.detect(prompt, DetectorContext(embeddings=EmbeddingCache(encoder))), repeat
        ),
        "tuned_detect_every_text_p50_ms": median_ms(
            lambda: every_text.detect(prompt, DetectorContext(embeddings=EmbeddingCache(encoder))), repeat
        ),
        # What detect cost before the process kept numpy's BLAS on the calling thread (limit_blas_threads): the
        # heads' small products woke OpenBLAS threads that then competed with torch's for the cores.
        "detect_blas_threads_p50_ms": blas_threaded(lambda: median_ms(detect_prompt, repeat)),
        "document_detect_p50_ms": median_ms(lambda: detector.detect(document, document_context()), max(5, repeat // 5)),
        "tuned_document_detect_p50_ms": median_ms(
            lambda: tuned.detect(document, document_context()), max(5, repeat // 5)
        ),
        "tuned_document_detect_every_text_p50_ms": median_ms(
            lambda: every_text.detect(document, document_context()), max(5, repeat // 5)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--precision", choices=[*PRECISIONS, "both"], default="float32")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    limit_blas_threads()  # as the service runs
    prompt = PROMPT[:1000]
    precisions = list(PRECISIONS) if args.precision == "both" else [args.precision]
    detector = InjectionDetector()
    result: dict[str, object] = {
        "prompt_chars": len(prompt),
        "document_chars": 5000,
        "heuristics_p50_ms": median_ms(lambda: detector.heuristics(prompt), args.repeat * 4),
        "torch_threads": args.torch_threads,
    }
    print(f"heuristics alone, {len(prompt)} chars: {result['heuristics_p50_ms']} ms")
    for precision in precisions:
        figures = measure(detector, precision, args.repeat)
        result[precision] = figures
        print(
            f"{precision}: detect (encoder included), {len(prompt)} chars: {figures['detect_p50_ms']} ms "
            f"(with numpy's BLAS on threads of its own, as before: {figures['detect_blas_threads_p50_ms']} ms)"
        )
        print(
            f"{precision}: detect with backend tuned, {len(prompt)} chars: {figures['tuned_detect_p50_ms']} ms "
            f"(below the gate); with the tuned encoder read: {figures['tuned_detect_every_text_p50_ms']} ms"
        )
        print(
            f"{precision}: detect, 5000-char document: {figures['document_detect_p50_ms']} ms; with backend tuned "
            f"{figures['tuned_document_detect_p50_ms']} ms ({figures['tuned_encoder_on_document']}), with the "
            f"documents adapter read: {figures['tuned_document_detect_every_text_p50_ms']} ms"
        )
        print(
            f"{precision}: window vectors, one pass vs a pass per window: {len(prompt)} chars "
            f"{figures['windows_one_pass_p50_ms']} vs {figures['windows_separately_p50_ms']} ms, 5000 chars "
            f"{figures['document_windows_one_pass_p50_ms']} vs {figures['document_windows_separately_p50_ms']} ms"
        )
    if len(precisions) == 2:
        full, half = (result[p] for p in PRECISIONS)
        assert isinstance(full, dict) and isinstance(half, dict)
        result["bfloat16_speedup"] = round(full["detect_p50_ms"] / half["detect_p50_ms"], 2)
        texts = [PROMPT[i : i + 500] for i in range(0, 1000, 250)]
        cosine = (
            SharedEncoder(precision="float32").encode(texts) * SharedEncoder(precision="bfloat16").encode(texts)
        ).sum(1)
        result["bfloat16_min_cosine"] = round(float(cosine.min()), 4)
        speedup, closeness = result["bfloat16_speedup"], result["bfloat16_min_cosine"]
        print(f"bfloat16 is {speedup}x float32; its vectors' cosine to float32's >= {closeness}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
