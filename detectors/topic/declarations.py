"""Topic declarations: the plain data a policy passes in (name, one-line description, a handful of examples).

Whether a topic is allowed or blocked is the policy's business, not the classifier's: the classifier only says which
declared topic a text is about and how far it is from all of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Name of the built-in small-talk topic ("hi", "thanks", "ok great"). Policies may rely on it being present and
# treat it as never off-topic; a policy that declares a topic of this name replaces the built-in one.
SMALL_TALK = "small_talk"

_BUILTIN_FILE = Path(__file__).with_name("builtin_topics.yaml")


@dataclass(frozen=True, slots=True)
class TopicDeclaration:
    """One topic: a name, a one-line description and example queries (at least one of the latter two)."""

    name: str
    description: str = ""
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a topic needs a name")
        if not self.description.strip() and not any(e.strip() for e in self.examples):
            raise ValueError(f"topic {self.name!r} needs a description or at least one example")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TopicDeclaration:
        """From policy data: ``{"name": ..., "description": ..., "examples": [...]}``; other keys are ignored."""
        if "name" not in data:
            raise ValueError(f"a topic needs a name: {dict(data)!r}")
        examples = data.get("examples") or ()
        if isinstance(examples, str) or not isinstance(examples, Iterable):
            raise ValueError(f"topic {data['name']!r}: examples must be a list of strings")
        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            examples=tuple(str(e) for e in examples),
        )

    def texts(self) -> tuple[str, ...]:
        """What gets embedded: the description (when given) followed by the examples, blanks and repeats dropped."""
        items = [self.description, *self.examples]
        return tuple(dict.fromkeys(t.strip() for t in items if t.strip()))


def as_declarations(items: Iterable[TopicDeclaration | Mapping[str, Any]]) -> tuple[TopicDeclaration, ...]:
    """Normalise policy data to declarations, refusing duplicate names (a policy typo, not something to merge)."""
    declarations = tuple(i if isinstance(i, TopicDeclaration) else TopicDeclaration.from_mapping(i) for i in items)
    seen: set[str] = set()
    for declaration in declarations:
        if declaration.name in seen:
            raise ValueError(f"topic {declaration.name!r} is declared twice")
        seen.add(declaration.name)
    return declarations


def load_declarations(path: Path, key: str) -> tuple[TopicDeclaration, ...]:
    """Declarations listed under ``key`` in a YAML file."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return as_declarations(data.get(key) or ())


@functools.cache
def small_talk_topic() -> TopicDeclaration:
    """The built-in small-talk topic."""
    (topic,) = (t for t in load_declarations(_BUILTIN_FILE, "topics") if t.name == SMALL_TALK)
    return topic


def with_small_talk(declarations: Iterable[TopicDeclaration]) -> tuple[TopicDeclaration, ...]:
    """The policy's topics plus the built-in small-talk topic, unless the policy declares its own."""
    declared = tuple(declarations)
    if any(d.name == SMALL_TALK for d in declared):
        return declared
    return (*declared, small_talk_topic())
