"""Embedding a labelled dataset once, so evaluations time the classifier rather than the encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.models.encoder import SharedEncoder, Vectors, shared_encoder


class PrecomputedEncoder(SharedEncoder):
    """The shared encoder's vectors for a known set of texts, looked up instead of recomputed.

    Texts it was not given are encoded by the real encoder (and counted in ``misses``).
    """

    def __init__(self, texts: Sequence[str], vectors: Vectors, encoder: SharedEncoder | None = None) -> None:
        base = encoder or shared_encoder()
        super().__init__(base.spec, precision=base.precision)
        self._base = base
        self._table = dict(zip(texts, vectors, strict=True))
        self.misses = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._table]
        if missing:
            self.misses += len(missing)
            self._table.update(zip(missing, self._base.encode(missing, batch_size), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._table[t] for t in texts]).astype(np.float32)

    @classmethod
    def for_texts(cls, texts: Sequence[str], cache_file: Path | None = None) -> PrecomputedEncoder:
        """Embed ``texts`` (batched), reusing ``cache_file`` (an .npz) when it was made by the same weights."""
        unique = sorted(set(texts))
        base = shared_encoder()
        identity = base.identity
        known: dict[str, Vectors] = {}
        if cache_file is not None and cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as stored:
                if str(stored["encoder"]) == identity:
                    known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
        missing = [t for t in unique if t not in known]
        if missing:
            known.update(zip(missing, base.encode(missing, batch_size=64), strict=True))
            if cache_file is not None:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                names = sorted(known)
                np.savez(
                    cache_file, encoder=identity, texts=np.array(names), vectors=np.stack([known[t] for t in names])
                )
        return cls(unique, np.stack([known[t] for t in unique]), base)
