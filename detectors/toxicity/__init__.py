"""Toxicity: hate, insults and offensive language in a text (the model's answer, or any text a policy points at)."""

from detectors.toxicity.detector import BACKENDS, RECOMMENDED_THRESHOLDS, VARIANTS, ToxicityDetector

__all__ = ["BACKENDS", "RECOMMENDED_THRESHOLDS", "VARIANTS", "ToxicityDetector"]
