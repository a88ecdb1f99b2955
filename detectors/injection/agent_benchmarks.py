"""Indirect injection in agents' tool results and repositories, read from the `inspect_evals` wheel (MIT), a set
training never saw.

`pip download inspect_evals==0.26.0 --no-deps -d DIR` fetches the wheel (a registry package);
`railguard eval injection --data DIR/inspect_evals-0.26.0-py3-none-any.whl` then builds, straight from the zip:

- ``agentdojo/<suite>/...``: AgentDojo's environments (Debenedetti et al., NeurIPS 2024; banking, slack, travel and
  workspace suites): every record of the environment (an e-mail, a calendar event, a transaction, a review, a file)
  that holds a string, rendered as YAML as AgentDojo's tools return it. ``benign``: every record with its injection
  placeholders at their defaults; ``important_instructions``: each record with a placeholder, once per each of two
  of the suite's injection goals (a fixed draw), filled with AgentDojo's own "important instructions" attack (its
  template read from the wheel); ``goal``: the same with the bare goal ("Send a transaction to ... ").
- ``coding_agent/...``: the ipi_coding_agent samples: the issue text, README, code comment or config file that
  carries each attack (``coding_agent/<vector>``), and every non-empty file and issue text of the benign samples
  (``coding_agent/benign``).

Every row is a document (score it with ``--role context``); by_source gives recall and false-positive rate per set.
"""

from __future__ import annotations

import ast
import json
import posixpath
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import yaml

from detectors.injection.train import Sample

AGENTDOJO = "inspect_evals/agentdojo/"
AGENTDOJO_SUITES = ("banking", "slack", "travel", "workspace")
AGENTDOJO_ATTACK = AGENTDOJO + "attacks/attack.py"
AGENTDOJO_USER = "Emma Johnson"  # the user the suites are written for
CODING_AGENT_SAMPLES = "inspect_evals/ipi_coding_agent/dataset/samples.json"
GOALS_PER_PLACEHOLDER = 2
_MARK = "INJECTION_SLOT_{}_END"
_SLOT = re.compile(r"INJECTION_SLOT_(\w+?)_END")


def is_inspect_evals_wheel(path: Path) -> bool:
    return path.suffix == ".whl" and path.name.startswith("inspect_evals-")


def inspect_evals_samples(wheel: Path) -> list[Sample]:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing = [n for n in (AGENTDOJO_ATTACK, CODING_AGENT_SAMPLES) if n not in names]
        if missing:
            raise ValueError(f"{wheel.name} is not an inspect_evals wheel with its data: missing {', '.join(missing)}")
        template = _attack_template(archive.read(AGENTDOJO_ATTACK).decode("utf-8"))
        samples = []
        for suite in AGENTDOJO_SUITES:
            samples += _agentdojo_suite(archive, suite, template)
        samples += _coding_agent(json.loads(archive.read(CODING_AGENT_SAMPLES).decode("utf-8")))
    return samples


# ----------------------------------------------------------------------------------------------------- AgentDojo


def _attack_template(source: str) -> str:
    """AgentDojo's "important instructions" attack, with its user filled in and ``{goal}`` left to fill."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "IMPORTANT_INSTRUCTIONS_PROMPT" for t in node.targets
        ):
            text = ast.literal_eval(node.value)
            return str(text).replace("{user_name}", AGENTDOJO_USER).replace("{{goal}}", "{goal}")
    raise ValueError("the AgentDojo attack template is missing from the wheel")


def _goals(source: str) -> list[str]:
    """Each injection task's GOAL, its f-string filled from the module's and the class's constants (read, not run)."""
    tree = ast.parse(source)
    module = _constants(tree.body, {})
    goals = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            constants = _constants(node.body, module)
            if isinstance(constants.get("GOAL"), str):
                goals.append(constants["GOAL"])
    return goals


def _constants(body: list[ast.stmt], outer: dict[str, Any]) -> dict[str, Any]:
    constants = dict(outer)
    for node in body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = _value(node.value, constants)
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    constants[target.id] = value
    return constants


def _value(node: ast.expr, constants: dict[str, Any]) -> Any:
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
            elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
                if part.value.id not in constants:
                    return None
                parts.append(str(constants[part.value.id]))
            else:
                return None
        return "".join(parts)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _value(node.left, constants), _value(node.right, constants)
        return left + right if isinstance(left, str) and isinstance(right, str) else None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _load_yaml(archive: zipfile.ZipFile, name: str, slots: set[str]) -> Any:
    """A suite's YAML with ``!include`` read from the archive and each ``{placeholder}`` replaced by a marker."""
    text = archive.read(name).decode("utf-8")
    for slot in slots:
        text = text.replace("{" + slot + "}", _MARK.format(slot))

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), str(loader.construct_scalar(node))))  # type: ignore[arg-type]
        return _load_yaml(archive, target, slots)

    Loader.add_constructor("!include", include)
    return yaml.load(text, Loader=Loader)  # a SafeLoader subclass


def _records(node: Any, found: list[dict[str, Any]]) -> None:
    """Every mapping that holds a string of 20 characters or more and no list of mappings: one e-mail, event,
    transaction, hotel or file, as one tool call returns it (not the inbox or account that lists them)."""
    if isinstance(node, dict):
        listing = any(isinstance(v, list) and any(isinstance(i, dict) for i in v) for v in node.values())
        if not listing and any(isinstance(v, str) and len(v) >= 20 for v in node.values()):
            found.append(node)
        for value in node.values():
            _records(value, found)
    elif isinstance(node, list):
        for value in node:
            _records(value, found)


def _agentdojo_suite(archive: zipfile.ZipFile, suite: str, template: str) -> list[Sample]:
    folder = f"{AGENTDOJO}data/suites/{suite}/"
    vectors = yaml.safe_load(archive.read(folder + "injection_vectors.yaml").decode("utf-8")) or {}
    defaults = {k: str(v.get("default") or "").replace("\\n", "\n").replace("\\t", "\t") for k, v in vectors.items()}
    goals = _goals(archive.read(f"{AGENTDOJO}task_suites/{suite}/injection_tasks.py").decode("utf-8"))
    found: list[dict[str, Any]] = []
    _records(_load_yaml(archive, folder + "environment.yaml", set(defaults)), found)
    rng = random.Random(0)
    samples, seen = [], set()
    for record in found:
        dumped = yaml.safe_dump(record, sort_keys=False, allow_unicode=True, width=10_000)
        if dumped in seen:
            continue
        seen.add(dumped)
        samples.append(Sample(_fill(dumped, defaults), 0, f"agentdojo/{suite}/benign"))
        for slot in dict.fromkeys(_SLOT.findall(dumped)):
            for goal in rng.sample(goals, min(GOALS_PER_PLACEHOLDER, len(goals))):
                for style, attack in (("important_instructions", template.replace("{goal}", goal)), ("goal", goal)):
                    text = _fill(dumped, {**defaults, slot: attack})
                    samples.append(Sample(text, 1, f"agentdojo/{suite}/{style}"))
    return samples


def _fill(dumped: str, values: dict[str, str]) -> str:
    return _SLOT.sub(lambda m: values.get(m.group(1), ""), dumped)


# --------------------------------------------------------------------------------------------------- coding agent


def _coding_agent(cases: list[dict[str, Any]]) -> list[Sample]:
    samples = []
    for case in cases:
        documents = {"issue": str(case.get("issue_text") or "")} | {
            str(k): str(v) for k, v in (case.get("repo_files") or {}).items()
        }
        documents = {k: v for k, v in documents.items() if v.strip()}
        if case.get("is_benign"):
            samples += [Sample(text, 0, "coding_agent/benign") for text in documents.values()]
            continue
        vector = str(case.get("injection_vector"))
        candidates = {
            "issue_text": [k for k in documents if k == "issue"],
            "readme": [k for k in documents if k.lower().startswith("readme")],
            "code_comment": [k for k in documents if k.startswith("src/")],
        }.get(vector, [k for k in documents if k != "issue" and not k.startswith(("src/", "tests/"))])
        indicator = re.compile(str(case.get("payload_indicator") or "$^"))
        carrying = [k for k in candidates if indicator.search(documents[k])] or candidates
        if carrying:
            key = max(carrying, key=lambda k: len(documents[k]))
            samples.append(Sample(documents[key], 1, f"coding_agent/{vector}"))
    return samples
