"""Embedding a labelled dataset once, so evaluations time the classifier rather than the encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.models.embeddings import Span, group_spans
from detectors.models.encoder import TOPICAL_DIMENSION, SharedEncoder, Vectors, shared_encoder


class PrecomputedEncoder(SharedEncoder):
    """The shared encoder's vectors for a known set of texts (and spans of texts), looked up instead of recomputed.

    Texts and spans it was not given are encoded by the real encoder (and counted in ``misses``).
    """

    def __init__(
        self,
        texts: Sequence[str],
        vectors: Vectors,
        topical: Vectors,
        encoder: SharedEncoder | None = None,
        spans: dict[Span, Vectors] | None = None,
    ) -> None:
        base = encoder or shared_encoder()
        super().__init__(base.spec, precision=base.precision)
        self._base = base
        self._table = dict(zip(texts, vectors, strict=True))
        self._topical = dict(zip(texts, topical, strict=True))
        self._spans = dict(spans or {})
        self.misses = 0

    def encode_views(self, texts: Sequence[str], batch_size: int = 32) -> tuple[Vectors, Vectors]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._table]
        if missing:
            self.misses += len(missing)
            sentence, topical = self._base.encode_views(missing, batch_size)
            self._table.update(zip(missing, sentence, strict=True))
            self._topical.update(zip(missing, topical, strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), np.zeros((0, TOPICAL_DIMENSION), dtype=np.float32)
        return (
            np.stack([self._table[t] for t in texts]).astype(np.float32),
            np.stack([self._topical[t] for t in texts]).astype(np.float32),
        )

    def encode_spans(
        self,
        items: Sequence[tuple[str, Sequence[tuple[int, int]]]],
        with_text: bool = False,
        topical: dict[int, Vectors] | None = None,
    ) -> list[Vectors]:
        missing = group_spans(
            [(text, a, b) for text, bounds in items for a, b in bounds if (text, a, b) not in self._spans]
        )
        if missing:
            self.misses += sum(len(bounds) for _, bounds in missing)
            for (text, bounds), vectors in zip(missing, self._base.encode_spans(missing), strict=True):
                self._spans.update(((text, a, b), v) for (a, b), v in zip(bounds, vectors, strict=True))
        rows = [[self._spans[(text, a, b)] for a, b in bounds] for text, bounds in items]
        if topical is not None:
            topical.update({item: self._topical[text] for item, (text, _) in enumerate(items) if text in self._topical})
        if with_text:  # the text's own vector where it is in the table (zeros otherwise, as for a text too long)
            for row, (text, _) in zip(rows, items, strict=True):
                row.append(self._table.get(text, np.zeros(self.dimension, dtype=np.float32)))
        return [
            np.stack(row).astype(np.float32) if row else np.zeros((0, self.dimension), dtype=np.float32) for row in rows
        ]

    @classmethod
    def for_texts(
        cls, texts: Sequence[str], cache_file: Path | None = None, spans: Sequence[Span] = ()
    ) -> PrecomputedEncoder:
        """Embed ``texts`` (batched) and ``spans`` of texts (``SharedEncoder.encode_spans``), reusing ``cache_file``
        (an .npz) when it was made by the same weights."""
        unique = sorted(set(texts))
        base = shared_encoder()
        identity = base.identity
        known: dict[str, Vectors] = {}
        known_topical: dict[str, Vectors] = {}
        known_spans: dict[Span, Vectors] = {}
        if cache_file is not None and cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as stored:
                # A cache from before the topical view is made again (both views come from one pass).
                if str(stored["encoder"]) == identity and "topical" in stored:
                    names = stored["texts"].tolist()
                    known = dict(zip(names, stored["vectors"], strict=True))
                    known_topical = dict(zip(names, stored["topical"], strict=True))
                    if "span_texts" in stored:
                        bounds = zip(stored["span_texts"].tolist(), stored["span_bounds"].tolist(), strict=True)
                        spans_stored = [(text, int(a), int(b)) for text, (a, b) in bounds]
                        known_spans = dict(zip(spans_stored, stored["span_vectors"], strict=True))
        missing = [t for t in unique if t not in known]
        if missing:
            sentence, topical = base.encode_views(missing, batch_size=64)
            known.update(zip(missing, sentence, strict=True))
            known_topical.update(zip(missing, topical, strict=True))
        items = group_spans([span for span in spans if span not in known_spans])
        for start in range(0, len(items), 32):
            batch = items[start : start + 32]
            for (text, ranges), vectors in zip(batch, base.encode_spans(batch), strict=True):
                known_spans.update(((text, a, b), v) for (a, b), v in zip(ranges, vectors, strict=True))
        if (missing or items) and cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            names, keys = sorted(known), sorted(known_spans)
            np.savez(
                cache_file,
                encoder=identity,
                texts=np.array(names),
                vectors=np.stack([known[t] for t in names]),
                topical=np.stack([known_topical[t] for t in names]),
                span_texts=np.array([text for text, _, _ in keys]),
                span_bounds=np.array([(a, b) for _, a, b in keys], dtype=np.int64).reshape(-1, 2),
                span_vectors=np.stack([known_spans[k] for k in keys]) if keys else np.zeros((0, base.dimension)),
            )
        return cls(
            unique,
            np.stack([known[t] for t in unique]),
            np.stack([known_topical[t] for t in unique]),
            base,
            known_spans,
        )
