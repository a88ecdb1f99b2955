"""Format validation: does an answer have the shape the request or the policy asks for (JSON schema, regex rules,
length, language)?"""

from detectors.format.detector import FormatDetector, FormatRules, Violation

__all__ = ["FormatDetector", "FormatRules", "Violation"]
