"""Per-request embedding cache: each text is embedded once per request, whichever detectors need it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from detectors.models.encoder import TOPICAL_DIMENSION, SharedEncoder, Vectors, shared_encoder

Span = tuple[str, int, int]  # a text and a character range of it: (text, start, end)


def is_whole(span: Span) -> bool:
    """Whether the span is its whole text (its vector is the text's own, ``SharedEncoder.encode``)."""
    text, start, end = span
    return start == 0 and end == len(text)


def group_spans(spans: Sequence[Span]) -> list[tuple[str, list[tuple[int, int]]]]:
    """``(text, [(start, end), ...])`` per text, in first-seen order, each span once: ``encode_spans``'s input."""
    grouped: dict[str, list[tuple[int, int]]] = {}
    for text, start, end in dict.fromkeys(spans):
        grouped.setdefault(text, []).append((start, end))
    return list(grouped.items())


class EmbeddingCache:
    """Lives for one request. Detectors ask for vectors; missing ones are computed in one batch."""

    def __init__(self, encoder: SharedEncoder | None = None) -> None:
        self._encoder = encoder
        self._vectors: dict[str, Vectors] = {}
        self._topical: dict[str, Vectors] = {}
        self._lexical: dict[str, Vectors] = {}
        self._spans: dict[Span, Vectors] = {}
        self._lock = threading.Lock()
        self.computed = 0  # how many texts this request actually encoded (tests and metrics read it)

    @property
    def encoder(self) -> SharedEncoder:
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Sentence vectors for ``texts`` in order, computing only those this request has not embedded yet."""
        return self._views(texts, self._vectors, self.encoder.dimension)

    def embed_topical(self, texts: Sequence[str]) -> Vectors:
        """Topical vectors (``SharedEncoder.encode_views``) for ``texts`` in order. A text is encoded once for both
        views: embedding it for either keeps the other."""
        return self._views(texts, self._topical, TOPICAL_DIMENSION)

    def _views(self, texts: Sequence[str], store: dict[str, Vectors], dimension: int) -> Vectors:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in store))
            if missing:
                sentence, topical = self.encoder.encode_views(missing)
                for text, own, topic in zip(missing, sentence, topical, strict=True):
                    self._vectors.setdefault(text, own)  # a vector read from a span pass stays as it was
                    self._topical[text] = topic
                self.computed += len(missing)
            if not texts:
                return np.zeros((0, dimension), dtype=np.float32)
            stacked: Vectors = np.stack([store[t] for t in texts])
            return stacked

    def embed_lexical(self, texts: Sequence[str]) -> Vectors:
        """Lexical vectors (``SharedEncoder.encode_lexical``) for ``texts`` in order, each computed once a request."""
        return self._cached(self._lexical, texts, self.encoder.encode_lexical)

    def _cached(
        self, store: dict[str, Vectors], texts: Sequence[str], compute: Callable[[Sequence[str]], Vectors]
    ) -> Vectors:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in store))
            if missing:
                store.update(zip(missing, compute(missing), strict=True))
            if not texts:
                return np.zeros((0, self.encoder.dimension), dtype=np.float32)
            stacked: Vectors = np.stack([store[t] for t in texts])
            return stacked

    def embed_spans(self, spans: Sequence[Span]) -> Vectors:
        """Vectors for character spans ``(text, start, end)``, in order (``SharedEncoder.encode_spans``: the spans of
        one text are read from one pass over it). A span that is a whole text gets the text's own vector, shared
        with every detector; the others are computed once a request. Where that pass read all of a text (up to ~250
        word pieces), the text's own vector comes from it too, for the detectors that read the whole text."""
        self.embed([span[0] for span in spans if is_whole(span)])
        with self._lock:
            items = group_spans([span for span in spans if not is_whole(span) and span not in self._spans])
            if items:
                topical: dict[int, Vectors] = {}
                encoded = self.encoder.encode_spans(items, with_text=True, topical=topical)
                for item, ((text, bounds), vectors) in enumerate(zip(items, encoded, strict=True)):
                    self._spans.update(((text, a, b), v) for (a, b), v in zip(bounds, vectors[:-1], strict=True))
                    if text not in self._vectors and vectors[-1].any():  # the pass read all of the text
                        self._vectors[text] = vectors[-1]
                    if text not in self._topical and item in topical:
                        self._topical[text] = topical[item]
                self.computed += len(items)
            if not spans:
                return np.zeros((0, self.encoder.dimension), dtype=np.float32)
            rows = [self._vectors[span[0]] if is_whole(span) else self._spans[span] for span in spans]
            stacked: Vectors = np.stack(rows)
            return stacked

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector
