"""Deny-listed words and phrases: whole-word, case- and width-insensitive matches with their spans."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from detectors.base import Detection, Detector, DetectorContext, Span


def fold(text: str) -> str:
    """Compatibility-fold and case-fold so full-width and `Bank` match `bank`. Keeps offsets only for ASCII-stable
    text, so spans are computed on the folded text (same length for the common case)."""
    return unicodedata.normalize("NFKC", text).casefold()


class TermDetector(Detector):
    """Score 1.0 when any listed term occurs as a whole word or phrase; spans say where."""

    name = "terms"

    def __init__(self, terms: Sequence[str]) -> None:
        cleaned = sorted({fold(t).strip() for t in terms if t.strip()}, key=len, reverse=True)
        self.terms = cleaned
        if cleaned:
            alternatives = "|".join(r"\s+".join(map(re.escape, term.split())) for term in cleaned)
            self._pattern: re.Pattern[str] | None = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
        else:
            self._pattern = None

    def detect(self, text: str, context: DetectorContext) -> Detection:
        if self._pattern is None:
            return Detection(self.name, 0.0)
        folded = fold(text)
        skip = int(context.options.get("ignore_before", 0))
        spans = [
            Span(m.start(), m.end(), "term")
            for m in self._pattern.finditer(folded)
            if m.end() > skip  # a match must reach into the new text (stream windows pass preceding text first)
        ]
        found = sorted({folded[s.start : s.end] for s in spans})
        return Detection(self.name, 1.0 if spans else 0.0, spans=spans, details={"terms": found})
