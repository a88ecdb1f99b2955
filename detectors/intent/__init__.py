"""Intent analysis (request_human, complaint, account_action, information, chitchat, plus policy intents)."""

from detectors.intent.detector import (
    RECOMMENDED_THRESHOLDS,
    REQUEST_HUMAN,
    IntentDetector,
    builtin_intents,
    merge_intents,
)

__all__ = ["RECOMMENDED_THRESHOLDS", "REQUEST_HUMAN", "IntentDetector", "builtin_intents", "merge_intents"]
