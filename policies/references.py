"""Checks that what a policy names exists: files it points to, entity types, models. Run at load, so a policy
that names something missing fails validation instead of failing (or silently downgrading) at run time.

Each check takes a resolved policy and returns (location, message) pairs; the loader turns them into
line-numbered problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from policies.schema import PiiSettings, Policy

Loc = tuple[str | int, ...]
Check = Callable[[Policy], Iterator[tuple[Loc, str]]]

# Policy fields that hold a file path; relative paths are resolved against the file that sets them.
PATH_FIELDS: list[Loc] = [
    ("input", "pii", "recognizers"),
    ("output", "pii_leakage", "recognizers"),
    ("input", "injection", "rules_file"),
]


def custom_pii_entities(path: str) -> set[str]:
    """Entity types a staff recognizer file declares (raises ValueError with file and line when it is invalid)."""
    from detectors.pii.custom import load_recognizers

    return {entity for recognizer in load_recognizers(Path(path)) for entity in recognizer.supported_entities}


def _pii_sections(policy: Policy) -> Iterator[tuple[Loc, PiiSettings]]:
    yield ("input", "pii"), policy.input.pii
    yield ("output", "pii_leakage"), policy.output.pii_leakage


def check_pii(policy: Policy) -> Iterator[tuple[Loc, str]]:
    from detectors.pii.entities import ENTITY_TYPES

    for loc, section in _pii_sections(policy):
        if not section.enabled:
            continue
        known = set(ENTITY_TYPES)
        if section.recognizers is not None:
            if not Path(section.recognizers).is_file():
                yield (*loc, "recognizers"), f"recognizers file {section.recognizers} does not exist"
                continue
            try:
                known |= custom_pii_entities(section.recognizers)
            except Exception as exc:  # the staff loader explains itself (file, line, recognizer)
                yield (*loc, "recognizers"), f"recognizers file is invalid: {exc}"
                continue
        named = [("entities", e) for e in section.entities or []]
        named += [("actions", e) for e in section.actions] + [("thresholds", e) for e in section.thresholds]
        for key, entity in named:
            if entity not in known:
                yield (*loc, key), f"unknown entity type {entity!r} (known: {', '.join(sorted(known))})"
        if "hash" in (*section.actions.values(), getattr(section, "default_action", "")) and not section.hash_salt:
            yield (*loc, "hash_salt"), "the hash action needs `hash_salt`"


def check_topics(policy: Policy) -> Iterator[tuple[Loc, str]]:
    from detectors.intent import builtin_intents
    from detectors.topic import SMALL_TALK

    topics = policy.pre_generation.topics
    if topics is not None and topics.enabled:
        names = [t.name for t in topics.topics]
        declared = set(names) | {SMALL_TALK}
        for name in {n for n in names if names.count(n) > 1}:
            yield ("pre_generation", "topics", "topics"), f"topic {name!r} is declared twice"
        for key in ("allowed", "blocked"):
            for name in getattr(topics, key):
                if name not in declared:
                    yield (
                        ("pre_generation", "topics", key),
                        f"unknown topic {name!r} (declared: {', '.join(sorted(declared))})",
                    )
        if topics.backend == "nli" and topics.model is None:
            yield ("pre_generation", "topics", "model"), "backend nli needs `model` (see `railguard models list`)"
        if topics.model is not None:
            from detectors.models.catalog import all_specs

            if topics.model not in all_specs():
                yield ("pre_generation", "topics", "model"), f"unknown model {topics.model!r}"
    intent = policy.pre_generation.intent
    if intent.enabled:
        known = {i.name for i in builtin_intents()} | {i.name for i in intent.intents}
        for name in intent.rules:
            if name not in known:
                yield (
                    ("pre_generation", "intent", "rules"),
                    f"unknown intent {name!r} (known: {', '.join(sorted(known))})",
                )


def check_notifiers(policy: Policy) -> Iterator[tuple[Loc, str]]:
    """A trigger's notifiers must be defined in post_response.notifiers once inheritance is resolved."""
    import difflib

    known = sorted(policy.post_response.notifiers)
    for loc, name in policy.post_response.notifier_references():
        if name in policy.post_response.notifiers:
            continue
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        where = ".".join(str(part) for part in loc)
        defined = ", ".join(known) or "none"
        yield loc, f"{where}: unknown notifier {name!r}{hint} (defined in post_response.notifiers: {defined})"


def check_models(policy: Policy) -> Iterator[tuple[Loc, str]]:
    """Hub models a guard names must be known (and are checked for presence when the guard is built)."""
    from detectors.models.catalog import all_specs

    faithfulness = policy.output.faithfulness
    if faithfulness.enabled and faithfulness.model is not None and faithfulness.model not in all_specs():
        yield ("output", "faithfulness", "model"), f"unknown model {faithfulness.model!r} (see `railguard models list`)"


def check_injection(policy: Policy) -> Iterator[tuple[Loc, str]]:
    """The extra rules file must exist and validate (each rule fires on its examples, not on its near misses)."""
    injection = policy.input.injection
    if not injection.enabled:
        return
    loc: Loc = ("input", "injection")
    if injection.rules_file is not None:
        from detectors.injection.rules import RuleError, load_rules

        if not Path(injection.rules_file).is_file():
            yield (*loc, "rules_file"), f"rules file {injection.rules_file} does not exist"
        else:
            try:
                load_rules(Path(injection.rules_file))
            except RuleError as exc:
                yield (*loc, "rules_file"), f"rules file is invalid: {exc}"
    if injection.backend == "hub" and injection.model is None:
        yield (*loc, "model"), "backend hub needs `model` (see `railguard models list`)"
    if injection.model is not None:
        from detectors.models.catalog import all_specs

        spec = all_specs().get(injection.model)
        if spec is None or spec.kind != "injection-classifier":
            yield (*loc, "model"), f"unknown injection classifier {injection.model!r} (see `railguard models list`)"


CHECKS: list[Check] = [check_pii, check_topics, check_notifiers, check_models, check_injection]


def problems(policy: Policy) -> Iterator[tuple[Loc, str]]:
    for check in CHECKS:
        yield from check(policy)
