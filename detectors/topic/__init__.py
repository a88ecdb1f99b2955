"""Topic classification against declared topics (few-shot on the shared encoder, or zero-shot NLI by policy)."""

from detectors.topic.declarations import SMALL_TALK, TopicDeclaration, as_declarations
from detectors.topic.detector import RECOMMENDED_THRESHOLDS, TopicDetector, build_topic_detector

__all__ = [
    "RECOMMENDED_THRESHOLDS",
    "SMALL_TALK",
    "TopicDeclaration",
    "TopicDetector",
    "as_declarations",
    "build_topic_detector",
]
