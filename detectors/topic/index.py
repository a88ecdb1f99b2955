"""The embedded form of a topic set: local prototypes on the shared encoder, built once per topic set.

Each topic's texts (description and examples) are embedded once. Every example is then replaced by a *local
prototype*: the normalised mean of the example and its nearest neighbours within the same topic. A topic that
covers several sub-subjects ("cards": lost cards, declined cards, card limits) keeps one prototype per region
instead of a single mean that lies between them, while a lone odd example no longer decides on its own. On
CLINC150 validation this beat plain nearest-example matching and matched per-intent prototypes without needing
the examples to be grouped by intent (see detectors/topic/README.md).

A text's similarity to a topic is its cosine similarity to the topic's nearest prototype, on topical vectors
(``SharedEncoder.encode_views``: the sentence vector beside a middle layer's, which keeps more of the wording).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.models.encoder import SharedEncoder, Vectors
from detectors.topic.declarations import TopicDeclaration

# How many same-topic neighbours are averaged into each example's prototype: NEIGHBOURS, but at most one per
# NEIGHBOUR_SPAN texts of the topic, so a small hand-written topic (ten examples, each about something else) keeps
# its examples nearly as they are while a large one is smoothed. Chosen on CLINC150 validation, see README.md.
NEIGHBOURS = 6
NEIGHBOUR_SPAN = 10
# Density calibration (topic view only): a topic's similarities are shifted by DENSITY_WEIGHT * (REFERENCE_DENSITY -
# its density), its density being the median similarity of its texts to their nearest other text. A topic declared
# with few, varied examples (a policy's ten) has a low density, so a query that belongs to it is also less similar to
# its nearest example than a query of a densely exemplified topic (CLINC150's 150 per domain); without the shift one
# threshold cannot serve both. REFERENCE_DENSITY is about the density of the CLINC150 domains with 10 examples per
# intent, on which the threshold is chosen, so the shift is near 0 there; a density is counted as at least
# SPARSEST_DENSITY (a topic of one text, or of examples that share nothing, gets the largest shift, 0.14).
# DENSITY_WEIGHT chosen on CLINC150 validation (README.md).
DENSITY_WEIGHT = 0.5
REFERENCE_DENSITY = 0.78
SPARSEST_DENSITY = 0.5
# Bump when the prototype construction changes, so cached indexes are not reused across versions.
_INDEX_VERSION = 3


@dataclass(frozen=True, slots=True)
class TopicIndex:
    """Prototypes of a topic set. ``prototypes`` rows are grouped by topic; ``starts[i]`` is topic i's first row."""

    names: tuple[str, ...]
    prototypes: Vectors
    starts: npt.NDArray[np.intp]
    offsets: npt.NDArray[np.float32]  # per topic, added to its similarities (density calibration; zeros if none)

    def similarities(self, vectors: Vectors) -> npt.NDArray[np.float32]:
        """Cosine similarity of each (normalised) vector to each topic's nearest prototype, plus the topic's offset:
        shape (texts, topics)."""
        scores: npt.NDArray[np.float32] = np.atleast_2d(vectors) @ self.prototypes.T
        nearest: npt.NDArray[np.float32] = np.maximum.reduceat(scores, self.starts, axis=1) + self.offsets
        return nearest


def local_prototypes(vectors: Vectors, neighbours: int = NEIGHBOURS, span: int = NEIGHBOUR_SPAN) -> Vectors:
    """One prototype per row of ``vectors``: the normalised mean of the row and its nearest rows."""
    k = min(neighbours, len(vectors) // span)
    if k <= 0:
        return vectors
    similarity = vectors @ vectors.T
    # argsort puts the row itself first (similarity 1), then its k nearest neighbours.
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, : k + 1]
    means = vectors[nearest].mean(axis=1)
    prototypes: Vectors = (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)
    return prototypes


def density(vectors: Vectors) -> float:
    """How densely a topic's texts cover it: the median similarity of each text to its nearest other text (at least
    SPARSEST_DENSITY)."""
    if len(vectors) < 2:
        return SPARSEST_DENSITY
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return max(SPARSEST_DENSITY, float(np.median(similarity.max(axis=1))))


def density_offset(vectors: Vectors) -> float:
    return DENSITY_WEIGHT * (REFERENCE_DENSITY - density(vectors))


class TextVectorCache:
    """Process-wide text -> vector memory so that rebuilding a topic set after a policy edit embeds only new texts.

    Holds both views of each text (``SharedEncoder.encode_views``): ``embed`` returns sentence vectors (the everyday
    subjects of conversation.py), ``embed_topical`` topical vectors (topic prototypes)."""

    def __init__(self, capacity: int = 20_000) -> None:
        # Both views take 4.6 kB a text: at most ~92 MB, for topic sets far larger than any policy's.
        self._capacity = capacity
        self._vectors: OrderedDict[tuple[str, str], tuple[Vectors, Vectors]] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, encoder: SharedEncoder, texts: Sequence[str]) -> Vectors:
        return self._views(encoder, texts, 0)

    def embed_topical(self, encoder: SharedEncoder, texts: Sequence[str]) -> Vectors:
        return self._views(encoder, texts, 1)

    def _views(self, encoder: SharedEncoder, texts: Sequence[str], view: int) -> Vectors:
        model = encoder.identity
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if (model, t) not in self._vectors]
        sentence, topical = encoder.encode_views(missing)
        with self._lock:
            for text, own, topic in zip(missing, sentence, topical, strict=True):
                self._vectors[(model, text)] = (own, topic)
            rows = []
            for text in texts:
                rows.append(self._vectors[(model, text)][view])
                self._vectors.move_to_end((model, text))
            while len(self._vectors) > self._capacity:
                self._vectors.popitem(last=False)
        return np.stack(rows).astype(np.float32)


class TopicIndexBuilder:
    """Builds topic indexes, returning the cached one when an identical topic set was built before."""

    def __init__(self, capacity: int = 32) -> None:
        self._capacity = capacity
        self._indexes: OrderedDict[str, TopicIndex] = OrderedDict()
        self._lock = threading.Lock()
        self.texts = TextVectorCache()
        self.builds = 0  # indexes actually built (tests read it)

    def build(
        self, declarations: Sequence[TopicDeclaration], encoder: SharedEncoder, topical: bool = True
    ) -> TopicIndex:
        """The index of ``declarations`` on topical vectors, or on sentence vectors with ``topical=False``."""
        if not declarations:
            raise ValueError("a topic classifier needs at least one topic")
        key = _index_key(declarations, encoder, topical)
        with self._lock:
            cached = self._indexes.get(key)
            if cached is not None:
                self._indexes.move_to_end(key)
                return cached
        per_topic = [d.texts() for d in declarations]
        every_text = [t for texts in per_topic for t in texts]
        vectors = self.texts.embed_topical(encoder, every_text) if topical else self.texts.embed(encoder, every_text)
        prototypes: list[Vectors] = []
        starts: list[int] = []
        offsets: list[float] = []
        offset = rows = 0
        for texts in per_topic:
            own = vectors[offset : offset + len(texts)]
            starts.append(rows)
            prototypes.append(local_prototypes(own))
            offsets.append(density_offset(own) if topical else 0.0)
            offset += len(texts)
            rows += len(prototypes[-1])
        index = TopicIndex(
            names=tuple(d.name for d in declarations),
            prototypes=np.ascontiguousarray(np.concatenate(prototypes), dtype=np.float32),
            starts=np.asarray(starts, dtype=np.intp),
            offsets=np.asarray(offsets, dtype=np.float32),
        )
        with self._lock:
            self._indexes[key] = index
            self.builds += 1
            while len(self._indexes) > self._capacity:
                self._indexes.popitem(last=False)
        return index


def _index_key(declarations: Sequence[TopicDeclaration], encoder: SharedEncoder, topical: bool) -> str:
    payload = json.dumps(
        [
            _INDEX_VERSION,
            topical,
            [DENSITY_WEIGHT, REFERENCE_DENSITY, SPARSEST_DENSITY],
            NEIGHBOURS,
            NEIGHBOUR_SPAN,
            encoder.identity,
            [[d.name, list(d.texts())] for d in declarations],
        ]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


# The process-wide builder: policy reloads with unchanged topics reuse the index, changed ones embed only new text.
index_builder = TopicIndexBuilder()
