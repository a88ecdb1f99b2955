"""How a text is scored against a topic set: on the shared encoder (default) or with a zero-shot NLI model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.base import DetectorContext
from detectors.models.embeddings import EmbeddingCache
from detectors.models.encoder import SharedEncoder, shared_encoder
from detectors.topic.declarations import TopicDeclaration
from detectors.topic.index import TopicIndex, TopicIndexBuilder, index_builder

Scores = npt.NDArray[np.float32]


def request_cache(context: DetectorContext, encoder: SharedEncoder) -> EmbeddingCache:
    """The pipeline's per-request cache when it holds vectors of the same encoder, else a fresh one."""
    cache = context.embeddings
    if cache is not None and cache.encoder.identity == encoder.identity:
        return cache
    return EmbeddingCache(encoder)


class TopicScorer(Protocol):
    """Scores texts against named topics: an array (texts, topics) with values in 0..1, higher = more on topic."""

    backend: str
    uses_models: bool

    @property
    def names(self) -> tuple[str, ...]: ...

    def score(self, texts: Sequence[str], context: DetectorContext) -> Scores: ...

    def warm_up(self) -> None: ...


class EmbeddingTopicScorer:
    """Few-shot scoring on the shared encoder: cosine similarity of topical vectors (``SharedEncoder.encode_views``)
    to the topic's nearest local prototype plus the topic's density shift (index.py), clipped to 0..1. With
    ``topical=False`` (intents): sentence vectors and no shift.

    The topic set is embedded here, once (and reused from the process-wide cache when an identical set was built
    before); per request only the texts being classified are embedded, through ``context.embeddings`` when the
    pipeline provides it.
    """

    backend = "embedding"
    uses_models = True

    def __init__(
        self,
        declarations: Sequence[TopicDeclaration],
        encoder: SharedEncoder | None = None,
        builder: TopicIndexBuilder = index_builder,
        topical: bool = True,
    ) -> None:
        self.encoder = encoder or shared_encoder()
        self.topical = topical
        self.index: TopicIndex = builder.build(declarations, self.encoder, topical)

    @property
    def names(self) -> tuple[str, ...]:
        return self.index.names

    def score(self, texts: Sequence[str], context: DetectorContext) -> Scores:
        cache = request_cache(context, self.encoder)
        vectors = cache.embed_topical(list(texts)) if self.topical else cache.embed(list(texts))
        scores: Scores = np.clip(self.index.similarities(vectors), 0.0, 1.0)
        return scores

    def warm_up(self) -> None:
        self.encoder.warm_up()
