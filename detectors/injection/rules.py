"""The YAML heuristics: load and validate a rule file, match rules against normalised text, and hot-reload.

A rule file is validated as a whole when it loads: unknown keys, duplicate ids, patterns that do not compile, an
example its rule does not catch or a near miss it does catch are all errors, so a trust-and-safety edit that would
misfire is refused (and the last good version keeps serving) rather than deployed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.injection.normalize import Normalized, normalize

log = logging.getLogger("railguard.injection")

BUILTIN_RULES = Path(__file__).with_name("rules.yaml")
_LINE_BREAK_RE = re.compile(r"\n\s*")


class RuleError(ValueError):
    """A rule file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    category: str = Field(pattern=r"^[a-z0-9_]+$")
    weight: float = Field(gt=0.0, le=1.0)
    description: str = ""
    keywords: list[str] = Field(default_factory=list)
    """Lowercase substrings of which at least one must occur for the patterns to be tried (a cheap pre-filter that
    keeps the rule set under a millisecond; leave empty to always try the patterns)."""
    patterns: list[str] = Field(min_length=1)
    examples: list[str] = Field(min_length=1)
    near_misses: list[str] = Field(default_factory=list)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    rules: list[RuleSpec]


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    category: str
    weight: float
    match: str  # the matched text (normalised), for the event's details


def _relaxed(pattern: str) -> str:
    """The pattern with its word gaps made optional, for the compact variant (``ignorepreviousinstructions``)."""
    return pattern.replace(r"\s+", r"\s*").replace(" ", r"\s*")


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    weight: float
    description: str
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    compact_patterns: tuple[re.Pattern[str], ...]

    def match(self, normalized: Normalized, lowered: Sequence[str] | None = None) -> str | None:
        """The first matching text, or None. Reads the canonical text, each payload and the compact variant."""
        texts = (normalized.text, *normalized.payloads)
        if self.keywords:
            lowered = lowered or [t.lower() for t in (*texts, normalized.compact)]
            if not any(word in text for text in lowered for word in self.keywords):
                return None
        for text in texts:
            for pattern in self.patterns:
                found = pattern.search(text)
                if found:
                    return found.group(0)
        if normalized.compact:
            for pattern in self.compact_patterns:
                found = pattern.search(normalized.compact)
                if found:
                    return found.group(0)
        return None


class RuleSet:
    """An ordered set of rules with unique ids."""

    def __init__(self, rules: Iterable[Rule], source: str = "") -> None:
        self.rules = list(rules)
        self.source = source

    def __len__(self) -> int:
        return len(self.rules)

    def ids(self) -> list[str]:
        return [rule.id for rule in self.rules]

    def match(self, normalized: Normalized) -> list[RuleHit]:
        hits = []
        lowered = [t.lower() for t in (normalized.text, *normalized.payloads, normalized.compact)]
        for rule in self.rules:
            found = rule.match(normalized, lowered)
            if found is not None:
                hits.append(RuleHit(rule.id, rule.category, rule.weight, found[:120]))
        return hits

    def merged(self, extra: RuleSet) -> RuleSet:
        """These rules plus ``extra``'s; an extra rule with an existing id replaces it (fix a noisy rule in place)."""
        replaced = {rule.id: rule for rule in extra.rules}
        rules = [replaced.pop(rule.id, rule) for rule in self.rules]
        return RuleSet([*rules, *replaced.values()], f"{self.source}+{extra.source}")


def heuristic_score(hits: Sequence[RuleHit]) -> float:
    """Noisy-or of the fired rules' weights: independent pieces of evidence, each able to raise the score alone."""
    remaining = 1.0
    for hit in hits:
        remaining *= 1.0 - hit.weight
    return 1.0 - remaining


def _compile(spec: RuleSpec, problems: list[str]) -> Rule | None:
    compiled: list[re.Pattern[str]] = []
    relaxed: list[re.Pattern[str]] = []
    for number, raw in enumerate(spec.patterns):
        source = _LINE_BREAK_RE.sub("", raw.strip())  # a long pattern may be split over lines in a `|-` block
        try:
            compiled.append(re.compile(source, re.IGNORECASE | re.MULTILINE | re.DOTALL))
            relaxed.append(re.compile(_relaxed(source), re.IGNORECASE | re.MULTILINE | re.DOTALL))
        except re.error as exc:
            problems.append(f"rule {spec.id!r} pattern {number}: {exc}")
    if len(compiled) != len(spec.patterns):
        return None
    keywords = tuple(word.lower() for word in spec.keywords)
    rule = Rule(spec.id, spec.category, spec.weight, spec.description, keywords, tuple(compiled), tuple(relaxed))
    for example in spec.examples:
        if rule.match(normalize(example)) is None:
            problems.append(f"rule {spec.id!r} does not fire on its example {example!r}")
    for near_miss in spec.near_misses:
        if rule.match(normalize(near_miss)) is not None:
            problems.append(f"rule {spec.id!r} fires on its near miss {near_miss!r}")
    return rule


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate and compile a rule file's text. Raises RuleError listing every problem."""
    try:
        data = yaml.safe_load(text)
        parsed = RuleFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise RuleError(source, [f"not valid YAML: {exc}"]) from exc
    except ValidationError as exc:
        raise RuleError(source, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from exc
    problems: list[str] = []
    seen: set[str] = set()
    rules: list[Rule] = []
    for spec in parsed.rules:
        if spec.id in seen:
            problems.append(f"rule id {spec.id!r} is used twice")
        seen.add(spec.id)
        rule = _compile(spec, problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise RuleError(source, problems)
    return RuleSet(rules, source)


def load_rules(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(str(path), [f"cannot read: {exc}"]) from exc
    return parse_rules(text, str(path))


_builtin: RuleSet | None = None
_builtin_lock = threading.Lock()


def builtin_rules() -> RuleSet:
    """The shipped rules, loaded once per process."""
    global _builtin
    with _builtin_lock:
        if _builtin is None:
            _builtin = load_rules(BUILTIN_RULES)
        return _builtin


class WatchedRules:
    """The built-in rules plus an extra rule file that is re-read when its modification time changes.

    An extra file that becomes invalid is not used: the last good rules keep serving and ``error`` says why (the
    policy store rejected such a file at load time already; this guards edits made after that).
    """

    def __init__(self, extra: Path | None = None, check_every_s: float = 1.0) -> None:
        self.extra = extra
        self.check_every_s = check_every_s
        self.error: str | None = None
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = 0.0
        self._rules = builtin_rules()
        if extra is not None:
            self._rules = builtin_rules().merged(load_rules(extra))  # invalid at start-up: raise
            self._mtime = os.stat(extra).st_mtime

    def current(self) -> RuleSet:
        if self.extra is None:
            return self._rules
        now = time.monotonic()
        if now - self._checked < self.check_every_s:
            return self._rules
        with self._lock:
            self._checked = now
            try:
                mtime = os.stat(self.extra).st_mtime
            except OSError as exc:
                self.error = f"cannot read {self.extra}: {exc}"
                return self._rules
            if mtime != self._mtime:
                try:
                    self._rules = builtin_rules().merged(load_rules(self.extra))
                    self.error = None
                    log.info("injection rules reloaded from %s", self.extra)
                except RuleError as exc:
                    self.error = str(exc)
                    log.error("injection rules in %s rejected; keeping the last good ones: %s", self.extra, exc)
                self._mtime = mtime
        return self._rules
