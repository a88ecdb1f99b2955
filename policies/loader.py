"""Load policy files: YAML with line numbers, schema validation with errors people can act on, inheritance,
and the set of policies a proxy serves with its matching rules."""

from __future__ import annotations

import difflib
import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from policies.references import PATH_FIELDS
from policies.references import problems as reference_problems
from policies.schema import NOT_INHERITED, Match, Policy, pattern_specificity

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One error, located in a file."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyError(Exception):
    """A policy file or set is invalid. ``problems`` lists every error found, each with file, line and column."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------------------------------------- YAML with positions


@dataclass
class SourceDocument:
    """A parsed YAML file and where each value sits in it (1-based line and column)."""

    path: str
    text: str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # where each value starts
    key_marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # where each mapping key starts
    problems: list[PolicyProblem] = field(default_factory=list)  # found while parsing (duplicate keys)

    def position(self, loc: Loc, at_key: bool = False) -> tuple[int, int]:
        """The position of ``loc`` (its key, or its value) or of its nearest ancestor present in the file."""
        if at_key and loc in self.key_marks:
            return self.key_marks[loc]
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.marks:
                return self.marks[loc[:end]]
        return (1, 1)


def parse_yaml(text: str, path: str) -> SourceDocument:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([PolicyProblem(path, line, column, f"YAML syntax: {problem}")]) from exc
    document = SourceDocument(path=path, text=text, data=None)
    problems = document.problems
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node | None, loc: Loc) -> Any:
        if node is None:
            return None
        document.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if key in result:
                    line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    problems.append(PolicyProblem(path, line, column, f"duplicate key {key!r}"))
                key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                document.key_marks[(*loc, key)] = key_mark
                result[key] = build(value_node, (*loc, key))
                # Point at the key, where a person looks first, except for scalars where the value is the issue.
                if not isinstance(value_node, yaml.ScalarNode):
                    document.marks[(*loc, key)] = key_mark
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*loc, index)) for index, item in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    document.data = build(root, ())
    if document.data is None:
        document.data = {}
    if not isinstance(document.data, dict):
        raise PolicyError([PolicyProblem(path, 1, 1, "a policy file must be a mapping of keys to values")])
    return document


# ---------------------------------------------------------------------------------------------- validation messages


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at ``loc`` (for listing allowed keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = _unwrap(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def describe_error(error: dict[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = ".".join(str(p) for p in loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(Policy, loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        return f"unknown key {where!r}{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return f"missing required key {where!r}"
    message = error["msg"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message += " (thresholds and scores are between 0 and 1)" if "1" in message else ""
    return f"{where}: {message}"


def validation_problems(exc: ValidationError, document: SourceDocument, prefix: Loc = ()) -> list[PolicyProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line, column = document.position((*prefix, *loc), at_key=error["type"] == "extra_forbidden")
        problems.append(PolicyProblem(document.path, line, column, describe_error(dict(error))))
    return problems


# ---------------------------------------------------------------------------------------------- inheritance


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _absolute_paths(document: SourceDocument) -> None:
    """Make relative file paths in ``document`` absolute, relative to the document's own folder."""
    for loc in PATH_FIELDS:
        value = _get(document.data, loc)
        if isinstance(value, str) and not Path(value).is_absolute():
            parent = _get(document.data, loc[:-1])
            parent[loc[-1]] = str((Path(document.path).parent / value).resolve())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, everything else (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class ResolvedPolicy:
    """A policy after inheritance, ready to serve. ``version`` is a content hash of its files."""

    name: str
    version: str
    policy: Policy
    source: str
    chain: tuple[str, ...]  # this policy and its ancestors, nearest first

    @property
    def selectable(self) -> bool:
        return self.policy.match is not None or self.name == DEFAULT_POLICY


DEFAULT_POLICY = "default"


def builtin_dir() -> Path:
    return Path(str(resources.files("policies") / "builtin"))


def builtin_default_path() -> Path:
    return builtin_dir() / "default.yaml"


def read_document(path: Path) -> SourceDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([PolicyProblem(str(path), 1, 1, f"cannot read: {exc.strerror or exc}")]) from exc
    return parse_yaml(text, str(path))


def resolve(documents: dict[str, SourceDocument]) -> dict[str, ResolvedPolicy]:
    """Validate every document, resolve `extends`, and return each policy fully resolved. Collects all errors."""
    problems: list[PolicyProblem] = []
    valid: dict[str, SourceDocument] = {}
    for name, document in documents.items():
        problems.extend(document.problems)
        try:
            Policy.model_validate(document.data)
            valid[name] = document
        except ValidationError as exc:
            problems.extend(validation_problems(exc, document))
        declared = document.data.get("name")
        if isinstance(declared, str) and declared != name:
            line, column = document.position(("name",))
            problems.append(
                PolicyProblem(document.path, line, column, f"name {declared!r} differs from the file name {name!r}")
            )

    resolved: dict[str, ResolvedPolicy] = {}

    def chain_of(name: str) -> list[str] | None:
        chain = [name]
        while True:
            parent = documents[chain[-1]].data.get("extends")
            if parent is None:
                return chain
            document = documents[chain[-1]]
            if parent not in documents:
                line, column = document.position(("extends",))
                known = ", ".join(sorted(documents))
                problems.append(
                    PolicyProblem(document.path, line, column, f"extends {parent!r}: no such policy (known: {known})")
                )
                return None
            if parent in chain:
                line, column = document.position(("extends",))
                cycle = " -> ".join([*chain, parent])
                problems.append(PolicyProblem(document.path, line, column, f"extends forms a cycle: {cycle}"))
                return None
            chain.append(parent)

    for document in documents.values():
        _absolute_paths(document)
    chains = {name: chain_of(name) for name in documents}
    for name in valid:
        chain = chains[name]
        if chain is None or any(link not in valid for link in chain) or documents[name].problems:
            continue
        merged: dict[str, Any] = {}
        for link in reversed(chain):
            data = documents[link].data
            inherited = {k: v for k, v in merged.items() if k not in NOT_INHERITED}
            merged = deep_merge(inherited, data)
        merged["name"] = name
        merged.pop("extends", None)
        document = documents[name]
        try:
            policy = Policy.model_validate(merged)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, document))
            continue
        found = list(reference_problems(policy))
        for loc, message in found:
            line, column = document.position(loc, at_key=True)
            problems.append(PolicyProblem(document.path, line, column, message))
        if found:
            continue
        digest = hashlib.sha256()
        for link in chain:
            digest.update(documents[link].text.encode())
            for loc in PATH_FIELDS:  # a referenced file's content is part of the version
                path = _get(documents[link].data, loc)
                if isinstance(path, str) and Path(path).is_file():
                    digest.update(Path(path).read_bytes())
        resolved[name] = ResolvedPolicy(name, digest.hexdigest()[:12], policy, document.path, tuple(chain))
    if problems:
        raise PolicyError(sorted(set(problems), key=lambda p: (p.file, p.line, p.column)))
    return resolved


# ---------------------------------------------------------------------------------------------- the served set


class PolicySet:
    """The policies one proxy serves. Immutable: a reload builds a new set and swaps it in whole."""

    def __init__(self, policies: dict[str, ResolvedPolicy], directory: Path | None = None) -> None:
        self.policies = policies
        self.directory = directory
        self.selectable = [p for p in policies.values() if p.selectable]
        if DEFAULT_POLICY not in policies:
            raise PolicyError([PolicyProblem(str(directory or "."), 1, 1, "no `default` policy")])
        self.version = hashlib.sha256("".join(sorted(p.version for p in policies.values())).encode()).hexdigest()[:12]

    def select(self, tenant: str, route: str, model: str) -> ResolvedPolicy:
        """The most specific policy whose `match` covers the request, else `default`."""
        best: ResolvedPolicy | None = None
        best_score = -1
        for candidate in self.selectable:
            match = candidate.policy.match
            if match is None:
                continue
            if match.matches(tenant, route, model):
                score = match.specificity(tenant, route, model)
                if score > best_score:
                    best, best_score = candidate, score
        return best or self.policies[DEFAULT_POLICY]


def load_documents(paths: Iterable[Path]) -> dict[str, SourceDocument]:
    documents: dict[str, SourceDocument] = {}
    problems: list[PolicyProblem] = []
    for path in paths:
        try:
            documents[path.stem] = read_document(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    return documents


def policy_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def load_policy_set(directory: Path | None) -> PolicySet:
    """Load every policy in ``directory`` (or only the built-in default). The built-in `default` is available as a
    base and fallback unless the directory defines its own."""
    paths = policy_files(directory) if directory is not None else []
    documents = load_documents(paths)
    if DEFAULT_POLICY not in documents:
        documents[DEFAULT_POLICY] = read_document(builtin_default_path())
    policies = resolve(documents)
    check_ties(policies, documents)
    return PolicySet(policies, directory)


def load_files(paths: list[Path]) -> dict[str, ResolvedPolicy]:
    """Validate the given files together with their siblings (so `extends` resolves); return the resolved ones."""
    documents: dict[str, SourceDocument] = {}
    for directory in {p.resolve().parent for p in paths}:
        siblings = [s for s in policy_files(directory) if s.resolve() not in {p.resolve() for p in paths}]
        for sibling in siblings:
            # Siblings only serve as bases; their own errors belong to their own validation run.
            try:
                documents[sibling.stem] = read_document(sibling)
            except PolicyError:
                continue
    documents.update(load_documents(paths))
    if DEFAULT_POLICY not in documents:
        documents[DEFAULT_POLICY] = read_document(builtin_default_path())
    policies = resolve(documents)
    check_ties(policies, documents)
    return policies


# ---------------------------------------------------------------------------------------------- ties


def _patterns_overlap(a: str, b: str) -> bool:
    import fnmatch

    if not any(ch in a for ch in "*?["):
        return fnmatch.fnmatchcase(a, b)
    if not any(ch in b for ch in "*?["):
        return fnmatch.fnmatchcase(b, a)
    prefix_a = a.split("*")[0].split("?")[0]
    prefix_b = b.split("*")[0].split("?")[0]
    return prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)


def _overlap_specificities(a: Match, b: Match) -> set[tuple[int, int]]:
    """Specificity pairs (a, b) for every way both could match one request."""
    pairs = set()
    dims = [(a.tenants, b.tenants), (a.routes, b.routes), (a.models, b.models)]
    options = []
    for patterns_a, patterns_b in dims:
        found = [
            (pattern_specificity(x), pattern_specificity(y))
            for x, y in itertools.product(patterns_a, patterns_b)
            if _patterns_overlap(x, y)
        ]
        if not found:
            return set()
        options.append(found)
    for combo in itertools.product(*options):
        pairs.add((sum(c[0] for c in combo), sum(c[1] for c in combo)))
    return pairs


def check_ties(policies: dict[str, ResolvedPolicy], documents: dict[str, SourceDocument]) -> None:
    """Two policies that could match the same request equally specifically are an error at load."""
    problems = []
    selectable = [p for p in policies.values() if p.policy.match is not None]
    for first, second in itertools.combinations(sorted(selectable, key=lambda p: p.name), 2):
        assert first.policy.match is not None and second.policy.match is not None
        for score_a, score_b in _overlap_specificities(first.policy.match, second.policy.match):
            if score_a == score_b:
                document = documents[second.name]
                line, column = document.position(("match",))
                problems.append(
                    PolicyProblem(
                        document.path,
                        line,
                        column,
                        f"match ties with policy {first.name!r}: a request could match both equally specifically; "
                        "make one of them more specific",
                    )
                )
                break
    if problems:
        raise PolicyError(problems)
