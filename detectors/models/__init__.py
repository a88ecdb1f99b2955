"""The model runtime every model-backed detector shares: specs, integrity checks, one load per process,
a bounded inference pool, and the shared sentence encoder with its per-request embedding cache."""

from detectors.models.embeddings import EmbeddingCache
from detectors.models.encoder import SharedEncoder, shared_encoder
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

__all__ = [
    "EmbeddingCache",
    "ModelRuntime",
    "ModelSource",
    "ModelSpec",
    "SharedEncoder",
    "runtime",
    "shared_encoder",
]
