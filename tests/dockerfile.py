"""Read the Dockerfile the way a builder does (with dockerfile-parse): stages, their arguments, environment and steps.

There is no Docker engine on CI machines, so tests run the build stage's steps themselves (`BuildStage.run`) and
check the runtime stage against the app.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"

# Builder options a RUN step may carry (cache and secret mounts, network): a local run has no use for them.
_RUN_OPTION = re.compile(r"^\s*--(?:mount|network|security)=\S+\s*")


@dataclass
class Step:
    instruction: str
    value: str  # with ARG and ENV references substituted, as the builder would (RUN: left to the shell)
    args: dict[str, str]
    env: dict[str, str]


@dataclass
class Stage:
    name: str
    steps: list[Step] = field(default_factory=list)

    def all(self, instruction: str) -> list[Step]:
        return [s for s in self.steps if s.instruction == instruction]

    def one(self, instruction: str) -> Step:
        found = self.all(instruction)
        assert len(found) == 1, f"expected one {instruction} in stage {self.name}, found {len(found)}"
        return found[0]

    @property
    def env(self) -> dict[str, str]:
        return self.steps[-1].env if self.steps else {}

    @property
    def args(self) -> dict[str, str]:
        return self.steps[-1].args if self.steps else {}


def stages(build_args: dict[str, str] | None = None, path: Path = DOCKERFILE) -> dict[str, Stage]:
    parser = DockerfileParser(
        path=str(path), build_args=build_args or {}, parent_env={"PATH": os.environ.get("PATH", "")}
    )
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for raw, context in zip(parser.structure, parser.context_structure, strict=True):
        instruction = raw["instruction"]
        if instruction == "COMMENT":
            continue
        if instruction == "FROM":
            name = raw["value"].split()[-1] if " as " in raw["value"].lower() else str(len(found))
            current = found[name] = Stage(name)
            continue
        if current is None:
            continue  # ARGs before the first FROM only parameterise FROM lines
        value = raw["value"]
        if instruction != "RUN":
            value = _substitute(value, {**context.get_values("ARG"), **context.get_values("ENV")})
        current.steps.append(Step(instruction, value, context.get_values("ARG"), context.get_values("ENV")))
    return found


def _substitute(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def run_command(step: Step) -> str:
    """A RUN step's shell command, without the builder's options."""
    command = step.value
    while (match := _RUN_OPTION.match(command)) is not None:
        command = command[match.end() :]
    return command


def shell_of(stage: Stage) -> list[str]:
    shells = stage.all("SHELL")
    return json.loads(shells[-1].value) if shells else ["/bin/sh", "-c"]


def exec_form(step: Step) -> list[str]:
    """The JSON (exec) form of CMD, ENTRYPOINT or a HEALTHCHECK's CMD."""
    value = step.value
    if step.instruction == "HEALTHCHECK":
        value = value[value.index("CMD") + 3 :]
    parsed = json.loads(value)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


class BuildStage:
    """Runs a stage's WORKDIR, COPY and RUN steps on this machine, with the image's absolute paths under ``root``."""

    def __init__(self, stage: Stage, root: Path) -> None:
        self.stage = stage
        self.root = root
        self.workdir = root

    def run(self, timeout: float = 1800.0, **environment: str) -> None:
        """Run the steps; ``environment`` adds variables that change how, not what, they install."""
        shell = shell_of(self.stage)
        for step in self.stage.steps:
            if step.instruction == "WORKDIR":
                self.workdir = self.root / step.value.lstrip("/")
                self.workdir.mkdir(parents=True, exist_ok=True)
            elif step.instruction == "COPY":
                self._copy(step.value)
            elif step.instruction == "RUN":
                env = {**os.environ, **environment, **step.args, **step.env}
                subprocess.run([*shell, run_command(step)], cwd=self.workdir, env=env, check=True, timeout=timeout)
            elif step.instruction not in ("ARG", "ENV", "SHELL", "LABEL"):
                raise AssertionError(f"teach BuildStage about {step.instruction} (stage {self.stage.name})")

    def _copy(self, value: str) -> None:
        parts = value.split()
        assert not any(p.startswith("--") for p in parts), f"COPY options are not supported here: {value}"
        *sources, destination = parts
        target = self.root / destination[1:] if destination.startswith("/") else self.workdir / destination
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():  # a directory's contents go into the destination, as the builder does it
                shutil.copytree(origin, target, dirs_exist_ok=True, ignore=DOCKERIGNORED)
            else:
                into = target / origin.name if destination.endswith("/") or len(sources) > 1 else target
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, into)


# What .dockerignore keeps out of the build context inside the copied directories.
DOCKERIGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
