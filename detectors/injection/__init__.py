"""Prompt injection and jailbreak detection: normalisation, YAML heuristics and a classifier head, fused."""

from detectors.injection.detector import InjectionDetector

__all__ = ["InjectionDetector"]
