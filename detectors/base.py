"""The one small interface every detector implements.

A detector *measures*: it takes a text and a small context object and returns a score in 0..1 with labels and
spans. It knows nothing of HTTP, thresholds or actions: policies decide, the pipeline enforces, events record.
Detectors never import from ``proxy``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detectors.models.embeddings import EmbeddingCache


class TextRole(StrEnum):
    """Where a text came from; detectors and policies may treat each differently."""

    USER = "user"  # a user turn, a completion prompt, an embeddings input
    SYSTEM = "system"  # the app's own system/developer prompt
    ASSISTANT = "assistant"  # an earlier assistant turn supplied by the client
    CONTEXT = "context"  # documents the app supplied (RAG, extra_body context)
    TOOL = "tool"  # a tool/function result
    OUTPUT = "output"  # the upstream model's answer


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` of the scanned text with a label."""

    start: int
    end: int
    label: str
    score: float = 1.0


@dataclass(slots=True)
class Detection:
    """What a detector measured. ``score`` is in 0..1; higher means more of what the detector looks for."""

    detector: str
    score: float
    labels: dict[str, float] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # Set when the detector could not meaningfully run on this input (e.g. faithfulness with no context).
    # A skipped detection never maps to an action; the reason is recorded.
    skipped: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"{self.detector}: score {self.score!r} is outside 0..1")

    @classmethod
    def skip(cls, detector: str, reason: str) -> Detection:
        return cls(detector=detector, score=0.0, skipped=reason)


@dataclass(slots=True)
class DetectorContext:
    """Everything besides the text that a detector may use. All fields are optional."""

    role: TextRole = TextRole.USER
    # Earlier turns of the conversation (oldest first), for detectors that read a text in their light.
    history: Sequence[str] = ()
    # Documents the answer should be grounded in (faithfulness).
    context_documents: Sequence[str] = ()
    # Per-request embedding cache shared by every detector: one embedding per text per request.
    embeddings: EmbeddingCache | None = None
    # Detector-specific settings that come from the policy (entity lists, topics, ...).
    options: Mapping[str, Any] = field(default_factory=dict)


class DetectorError(Exception):
    """A detector failed to measure. The pipeline applies the guard's ``on_error`` and records an event."""


class ModelUnavailableError(DetectorError):
    """A model named by a policy is not present locally (never downloaded at run time)."""


class Detector(abc.ABC):
    """Base class of all detectors.

    Subclasses set ``name`` and implement :meth:`detect`. ``detect`` is synchronous and pure; detectors that run a
    model set ``uses_models = True`` so the pipeline runs them in the model runtime's bounded thread pool instead of on
    the event loop.
    """

    name: str = "detector"
    uses_models: bool = False

    @abc.abstractmethod
    def detect(self, text: str, context: DetectorContext) -> Detection:
        """Measure ``text``. Raise :class:`DetectorError` (or let any exception escape) when it cannot."""

    def detect_many(self, texts: Sequence[str], context: DetectorContext) -> list[Detection]:
        """Measure several texts that share one context; detectors that batch override this."""
        return [self.detect(text, context) for text in texts]

    def warm_up(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Load what the detector needs so the first request does not pay for it."""
