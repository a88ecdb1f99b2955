"""Character and word n-gram features of the normalised text (see text.lexical), hashed so no vocabulary ships.

The same function builds the features at training and at run time: raw counts from scikit-learn's stateless
HashingVectorizer, sublinear tf (1 + log count), an idf weight per feature learnt on the training texts, and L2
row normalisation. Features never seen in training have idf 0, so they neither score nor change the norm.
Why n-grams beside the encoder: slurs and obfuscated swearing are exactly what a sentence embedding smooths away,
while character n-grams of "f*ck"/"fck"/"fuck" overlap once text.lexical has undone the masking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import HashingVectorizer

from detectors.toxicity.text import lexical

N_FEATURES = 1 << 20  # per analyser; collisions are rare at this size for ~100k n-grams seen in training

_CHAR = HashingVectorizer(
    analyzer="char_wb", ngram_range=(2, 5), n_features=N_FEATURES, alternate_sign=False, norm=None, lowercase=False
)
_WORD = HashingVectorizer(
    analyzer="word",
    ngram_range=(1, 2),
    n_features=N_FEATURES,
    alternate_sign=False,
    norm=None,
    lowercase=False,
    token_pattern=r"(?u)\b\w+\b",
)
WIDTH = 2 * N_FEATURES


def counts(texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed n-gram counts of the normalised texts (character 2-5 grams, then word 1-2 grams)."""
    normalised = [lexical(t) for t in texts]
    return sp.hstack([_CHAR.transform(normalised), _WORD.transform(normalised)], format="csr")


def weigh(raw: sp.csr_matrix, idf: npt.NDArray[np.float32]) -> sp.csr_matrix:
    """Sublinear tf times idf, rows scaled to unit length."""
    x = raw.astype(np.float32, copy=True)
    x.data = 1.0 + np.log(x.data)
    x = x.multiply(idf[np.newaxis, :]).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


def fit_idf(raw: sp.csr_matrix, min_df: int) -> npt.NDArray[np.float32]:
    """Smoothed idf over the training texts; 0 for features in fewer than ``min_df`` of them."""
    df = np.bincount(raw.indices, minlength=raw.shape[1])
    n = raw.shape[0]
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    idf[df < min_df] = 0.0
    result: npt.NDArray[np.float32] = idf
    return result
