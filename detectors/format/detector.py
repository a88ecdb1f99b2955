"""FormatDetector: every way an answer breaks the format rules it is given.

Rules come in ``DetectorContext.options["rules"]`` as a :class:`FormatRules` (the guard builds them from the request's
``response_format`` and the policy). ``Detection.score`` is 1.0 when any rule fails, else 0.0 (a format is met or
not); ``labels`` has one entry per failed rule kind; ``details["errors"]`` the messages, which name the JSON path
for schema failures and are written to be sent back to the model on a re-ask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.base import Detection, Detector, DetectorContext
from detectors.format.json_check import check_json
from detectors.format.language import MIN_CHARS, identify


@dataclass(frozen=True)
class Violation:
    rule: str  # json | must_match | must_not_match | min_chars | max_chars | language
    message: str


@dataclass(frozen=True)
class FormatRules:
    json: bool = False  # the answer must be JSON (an object unless a schema says otherwise)
    schema: dict[str, Any] | None = None
    must_match: Sequence[str] = ()
    must_not_match: Sequence[str] = ()
    min_chars: int | None = None
    max_chars: int | None = None
    languages: Sequence[str] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return (
            not (self.json or self.must_match or self.must_not_match or self.languages)
            and self.min_chars is None
            and self.max_chars is None
        )


def violations(text: str, rules: FormatRules) -> list[Violation]:
    found: list[Violation] = []
    if rules.json:
        found += [Violation("json", message) for message in check_json(text.strip(), rules.schema)]
    for pattern in rules.must_match:
        if not re.search(pattern, text):
            found.append(Violation("must_match", f"the answer must match the pattern {pattern!r}"))
    for pattern in rules.must_not_match:
        if match := re.search(pattern, text):
            found.append(Violation("must_not_match", f"the answer must not contain {match.group(0)[:80]!r}"))
    if rules.min_chars is not None and len(text) < rules.min_chars:
        found.append(Violation("min_chars", f"the answer has {len(text)} characters; at least {rules.min_chars}"))
    if rules.max_chars is not None and len(text) > rules.max_chars:
        found.append(Violation("max_chars", f"the answer has {len(text)} characters; at most {rules.max_chars}"))
    if rules.languages and len(text.strip()) >= MIN_CHARS:
        language, probability = identify(text)
        if language not in rules.languages:
            allowed = ", ".join(rules.languages)
            found.append(
                Violation("language", f"the answer is in {language!r} (p={probability:.2f}); allowed: {allowed}")
            )
    return found


class FormatDetector(Detector):
    name = "format"

    def detect(self, text: str, context: DetectorContext) -> Detection:
        rules = context.options.get("rules")
        if not isinstance(rules, FormatRules) or rules.empty:
            return Detection.skip(self.name, "no format rules for this answer")
        found = violations(text, rules)
        labels: dict[str, float] = {}
        for violation in found:
            labels[violation.rule] = 1.0
        return Detection(
            detector=self.name,
            score=1.0 if found else 0.0,
            labels=labels,
            details={"errors": [v.message for v in found], "rules": [v.rule for v in found]},
        )
