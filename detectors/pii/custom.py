"""Recognizers that trust-and-safety staff declare in YAML, for identifiers only their domain knows
(account numbers, employee numbers, ticket ids).

```yaml
recognizers:
  - name: employee_number            # unique; shown in events as the recognizer that matched
    entity: EMPLOYEE_ID              # upper-case entity type; policies map it to an action like any other
    patterns:                        # regular expressions (Python `regex` syntax)
      - regex: '\\bE-\\d{6}\\b'
        score: 0.5                   # optional, default: the recognizer's score
    deny_list: [ACME-ROOT, ACME-OPS] # optional exact values (matched as whole words)
    case_sensitive: false            # optional, default false
    validation: luhn                 # optional checksum: luhn | mod97 | none; valid matches score 1.0,
                                     # invalid ones are dropped
    context: [employee, staff]       # optional words that raise the score when found near a match
    score: 0.6                       # optional default score, 0..1 (default 0.6)
    language: en                     # optional, default en
```

Errors name the file, the line and the recognizer, so a broken file is fixed in one look. Staff-declared
recognizers outrank our general ones and NER where they overlap (the staff know their identifiers).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import regex  # type: ignore[import-untyped]
import yaml
from presidio_analyzer import Pattern, PatternRecognizer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detectors.pii.recognizers import luhn_valid

CHECKSUMS = ("luhn", "mod97", "none")


class RecognizerConfigError(ValueError):
    """A staff recognizer file is invalid; the message says where and why."""


class PatternConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regex: str = Field(min_length=1)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    name: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from None
        return value


class RecognizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    patterns: list[PatternConfig] = Field(default_factory=list)
    deny_list: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    validation: str = "none"
    context: list[str] = Field(default_factory=list)
    score: float = Field(default=0.6, ge=0.0, le=1.0)
    language: str = "en"

    @field_validator("validation")
    @classmethod
    def _known_checksum(cls, value: str) -> str:
        if value not in CHECKSUMS:
            raise ValueError(f"unknown validation {value!r}; use one of {', '.join(CHECKSUMS)}")
        return value

    @field_validator("deny_list")
    @classmethod
    def _non_empty_values(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("deny_list entries must be non-empty")
        return value

    @model_validator(mode="after")
    def _something_to_match(self) -> RecognizerConfig:
        if not self.patterns and not self.deny_list:
            raise ValueError("give at least one of patterns or deny_list")
        return self


class RecognizerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recognizers: list[RecognizerConfig]


class StaffRecognizer(PatternRecognizer):
    """A Presidio PatternRecognizer built from a staff declaration, with an optional checksum."""

    def __init__(self, config: RecognizerConfig) -> None:
        self.config = config
        patterns = [
            Pattern(
                name=p.name or f"{config.name}-{i}", regex=p.regex, score=config.score if p.score is None else p.score
            )
            for i, p in enumerate(config.patterns)
        ]
        flags = regex.DOTALL | regex.MULTILINE | (0 if config.case_sensitive else regex.IGNORECASE)
        super().__init__(
            supported_entity=config.entity,
            name=config.name,
            supported_language=config.language,
            patterns=patterns,
            deny_list=config.deny_list,
            deny_list_score=config.score,
            context=config.context,
            global_regex_flags=flags,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        if self.config.validation == "luhn":
            digits = regex.sub(r"\D", "", pattern_text)
            return len(digits) >= 2 and luhn_valid(digits)
        if self.config.validation == "mod97":
            return mod97_valid(pattern_text)
        return None


def mod97_valid(value: str) -> bool:
    """ISO 7064 MOD 97-10 (IBAN-style): letters count 10..35, the whole number is 1 modulo 97."""
    compact = regex.sub(r"[\s-]", "", value).upper()
    if len(compact) < 5 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4] if compact[:2].isalpha() else compact
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def load_recognizers(source: str | Path) -> list[StaffRecognizer]:
    """Parse and validate a staff recognizer file (a path, or YAML text when it contains a newline)."""
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RecognizerConfigError(f"{origin}: cannot read: {exc.strerror or exc}") from None
    else:
        origin, text = "<yaml>", source
    return parse_recognizers(text, origin)


def parse_recognizers(text: str, origin: str = "<yaml>") -> list[StaffRecognizer]:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecognizerConfigError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecognizerConfigError(f"{origin}: expected a mapping with a 'recognizers' list at the top")
    try:
        parsed = RecognizerFile.model_validate(data)
    except ValidationError as exc:
        raise RecognizerConfigError(_describe(exc, data, node, origin)) from None
    names = [r.name for r in parsed.recognizers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RecognizerConfigError(f"{origin}: recognizer names must be unique; repeated: {', '.join(duplicates)}")
    return [StaffRecognizer(config) for config in parsed.recognizers]


def _describe(exc: ValidationError, data: Any, root: Any, origin: str) -> str:
    lines = []
    for error in exc.errors():
        location = error["loc"]
        where = _line_of(root, location)
        recognizer = ""
        if len(location) >= 2 and location[0] == "recognizers" and isinstance(location[1], int):
            items = data.get("recognizers") or []
            if location[1] < len(items) and isinstance(items[location[1]], dict):
                recognizer = f" (recognizer {items[location[1]].get('name', '#' + str(location[1] + 1))!r})"
        field = ".".join(str(part) for part in location) or "top level"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{origin}:{where}: {field}{recognizer}: {message}")
    return "\n".join(lines)


def _line_of(node: Any, location: Sequence[Any]) -> int:
    """1-based line of the YAML node at ``location`` (or of its closest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line
