"""The offline toxicity model: per label, a logistic model on hashed n-grams and one on the shared encoder's
embedding, their logits mixed with a weight chosen on the development split (train.py), applied here in numpy.

Labels use detoxify's names so that policies read the same for both backends:

* ``toxicity``  — hate speech or offensive language (the corpus's classes 0 and 1) vs neither;
* ``identity_attack`` — hate speech (class 0) vs the rest: language that attacks a group;
* ``insult`` — offensive but not hate (class 1) vs the rest: profanity and insults aimed at a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]

from detectors.toxicity.lexical import WIDTH, weigh

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_HEAD = WEIGHTS_DIR / "offline_head.npz"
LABELS = ("toxicity", "identity_attack", "insult")

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ToxicityHead:
    labels: tuple[str, ...]
    # Lexical part, stored sparse: only features seen often enough in training have an idf (and a weight).
    feature_index: npt.NDArray[np.int64]
    idf: Floats
    lexical_coef: Floats  # labels x len(feature_index)
    lexical_intercept: Floats  # labels
    embedding_coef: Floats  # labels x 384
    embedding_intercept: Floats  # labels
    mix: Floats  # labels: weight of the lexical logit (1 - mix for the embedding's)

    def dense_idf(self) -> Floats:
        idf = np.zeros(WIDTH, dtype=np.float32)
        idf[self.feature_index] = self.idf
        return idf

    def logits(self, raw_counts: sp.csr_matrix, embeddings: Floats) -> Floats:
        """Per row, per label logits. ``raw_counts`` from lexical.counts, ``embeddings`` from the shared encoder."""
        x = weigh(raw_counts, self.dense_idf())[:, self.feature_index]
        lexical = np.asarray(x @ self.lexical_coef.T, dtype=np.float32) + self.lexical_intercept
        semantic = np.asarray(embeddings, dtype=np.float32) @ self.embedding_coef.T + self.embedding_intercept
        mixed: Floats = (self.mix * lexical + (1.0 - self.mix) * semantic).astype(np.float32)
        return mixed

    def scores(self, raw_counts: sp.csr_matrix, embeddings: Floats) -> Floats:
        result: Floats = (1.0 / (1.0 + np.exp(-self.logits(raw_counts, embeddings)))).astype(np.float32)
        return result

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            labels=np.array(self.labels),
            feature_index=self.feature_index.astype(np.int32),
            idf=self.idf.astype(np.float32),
            lexical_coef=self.lexical_coef.astype(np.float32),
            lexical_intercept=self.lexical_intercept.astype(np.float32),
            embedding_coef=self.embedding_coef.astype(np.float32),
            embedding_intercept=self.embedding_intercept.astype(np.float32),
            mix=self.mix.astype(np.float32),
        )

    @classmethod
    def load(cls, path: Path = DEFAULT_HEAD) -> ToxicityHead:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                labels=tuple(str(label) for label in data["labels"]),
                feature_index=np.asarray(data["feature_index"], dtype=np.int64),
                idf=np.asarray(data["idf"], dtype=np.float32),
                lexical_coef=np.asarray(data["lexical_coef"], dtype=np.float32),
                lexical_intercept=np.asarray(data["lexical_intercept"], dtype=np.float32),
                embedding_coef=np.asarray(data["embedding_coef"], dtype=np.float32),
                embedding_intercept=np.asarray(data["embedding_intercept"], dtype=np.float32),
                mix=np.asarray(data["mix"], dtype=np.float32),
            )
