"""Faithfulness: is the answer supported by the context documents the request supplied?"""

from detectors.faithfulness.detector import BACKENDS, RECOMMENDED_THRESHOLDS, FaithfulnessDetector

__all__ = ["BACKENDS", "RECOMMENDED_THRESHOLDS", "FaithfulnessDetector"]
