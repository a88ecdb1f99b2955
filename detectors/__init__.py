"""Detectors: each measures one kind of risk in a text and knows nothing of HTTP, thresholds or actions."""

from detectors.base import (
    Detection,
    Detector,
    DetectorContext,
    DetectorError,
    ModelUnavailableError,
    Span,
    TextRole,
)

__all__ = [
    "Detection",
    "Detector",
    "DetectorContext",
    "DetectorError",
    "ModelUnavailableError",
    "Span",
    "TextRole",
]
