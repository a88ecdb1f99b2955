"""Which language a text is in: py3langid (a maintained fork of langid.py, 97 languages, pure Python + numpy)."""

from __future__ import annotations

from functools import cache
from typing import Any

MIN_CHARS = 20  # below this the identification is a guess; the rule is not applied


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str) -> tuple[str, float]:
    """ISO 639-1 code and probability of the most likely language."""
    language, probability = _identifier().classify(text)
    return str(language), float(probability)
