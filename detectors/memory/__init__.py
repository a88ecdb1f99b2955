"""Examples that reviewers confirmed, matched by meaning on the shared encoder.

Escalation's "learning from verdicts" keeps two memories in sync with the review store (so every replica sees the
same entries within seconds): confirmed attacks, and prompts a guard wrongly flagged. Detectors only read them:

    score, example_id = memory.match(text, embedding)   # cosine similarity to the closest example (0 when empty)

The injection detector can consult the attack memory this way (raise its score when a prompt is a paraphrase of a
confirmed attack) and the allow memory (lower it for a confirmed false positive); `MemoryDetector` does both on its
own for the input guard `input.attack_memory`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.base import Detection, Detector, DetectorContext
from detectors.models.embeddings import EmbeddingCache
from detectors.models.encoder import SharedEncoder, Vectors

# Chosen on the S-Labs validation split (`railguard eval attack_memory --split validation`, memory of 200 train
# attacks): the lowest threshold whose false-positive rate stays at or below 0.1%.
RECOMMENDED_THRESHOLDS = {"block_above": 0.75}


class ExampleMemory:
    """An immutable snapshot of (id, unit vector) pairs, swapped whole by `replace` (safe to read from any thread)."""

    def __init__(self, entries: Sequence[tuple[str, Vectors]] = ()) -> None:
        self._snapshot: tuple[tuple[str, ...], Vectors] = ((), np.zeros((0, SharedEncoder.dimension), np.float32))
        self.replace(entries)

    def replace(self, entries: Sequence[tuple[str, Vectors]]) -> None:
        if not entries:
            self._snapshot = ((), np.zeros((0, SharedEncoder.dimension), np.float32))
            return
        ids = tuple(entry_id for entry_id, _ in entries)
        matrix = np.stack([np.asarray(vector, np.float32).reshape(-1) for _, vector in entries])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._snapshot = (ids, (matrix / np.maximum(norms, 1e-12)).astype(np.float32))

    def __len__(self) -> int:
        return len(self._snapshot[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return self._snapshot[0]

    def match(
        self, text: str, embedding: Vectors | None = None, embeddings: EmbeddingCache | None = None
    ) -> tuple[float, str | None]:
        """Cosine similarity (clipped to 0..1) of ``text`` to its closest example, and that example's id.
        Pass the text's ``embedding`` when you have it; otherwise it is computed (through ``embeddings`` if given)."""
        ids, matrix = self._snapshot
        if not ids:
            return 0.0, None
        vector = embedding if embedding is not None else (embeddings or EmbeddingCache()).embed_one(text)
        similarities = matrix @ np.asarray(vector, np.float32).reshape(-1)
        best = int(np.argmax(similarities))
        return float(np.clip(similarities[best], 0.0, 1.0)), ids[best]


class MemoryDetector(Detector):
    """Score = similarity to the closest confirmed attack, or 0 when a confirmed false positive is at least as
    close (a reviewer already said prompts like this are fine)."""

    name = "attack_memory"
    uses_models = True

    def __init__(self, attacks: ExampleMemory, allowed: ExampleMemory) -> None:
        self.attacks = attacks
        self.allowed = allowed

    def detect(self, text: str, context: DetectorContext) -> Detection:
        if not len(self.attacks):
            return Detection.skip(self.name, "no confirmed attacks in memory")
        embedding = (context.embeddings or EmbeddingCache()).embed_one(text)
        attack, attack_id = self.attacks.match(text, embedding)
        allow, allow_id = self.allowed.match(text, embedding)
        score = attack if attack > allow else 0.0
        return Detection(
            self.name,
            score,
            labels={"attack_similarity": round(attack, 4), "allow_similarity": round(allow, 4)},
            details={"attack_example": attack_id, "allow_example": allow_id},
        )
