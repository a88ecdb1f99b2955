"""Every model the runtime knows by name, for `railguard models list | pull` and for policy validation.

Each detector family declares its specs in a module-level ``MODEL_SPECS`` list; this module collects them.
"""

from __future__ import annotations

import importlib
import shutil
import urllib.request
from pathlib import Path

from detectors.base import ModelUnavailableError
from detectors.models.spec import ModelSource, ModelSpec

# Modules that declare MODEL_SPECS. A family adds its module here when it lands.
SPEC_MODULES: list[str] = [
    "detectors.models.encoder",
    "detectors.pii.models",
    "detectors.topic.nli",
    "detectors.faithfulness.nli",
    "detectors.toxicity.detoxify_backend",
    "detectors.injection.hub",
    "detectors.injection.tuned",
]


def all_specs() -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    for module_name in SPEC_MODULES:
        for spec in getattr(importlib.import_module(module_name), "MODEL_SPECS", []):
            if spec.name in specs:
                raise ValueError(f"model name {spec.name!r} is declared twice")
            specs[spec.name] = spec
    return specs


def get_spec(name: str) -> ModelSpec:
    try:
        return all_specs()[name]
    except KeyError:
        raise ModelUnavailableError(f"unknown model {name!r}; see `railguard models list`") from None


def status(spec: ModelSpec) -> str:
    """'present', 'missing' or 'corrupt: ...' without loading anything into memory."""
    try:
        spec.verify()
    except ModelUnavailableError as exc:
        return "missing" if "not present" in str(exc) or "not installed" in str(exc) else f"corrupt: {exc}"
    return "present"


def pull(spec: ModelSpec) -> Path:
    """Fetch a hub or URL model ahead of time (image builds, `models pull`); never called at run time."""
    if spec.source in (ModelSource.PACKAGED, ModelSource.LOCAL):
        return spec.verify()
    target = spec.pull_dir()
    if target.is_dir():
        try:
            return spec.verify(target)
        except ModelUnavailableError:
            shutil.rmtree(target)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if spec.source is ModelSource.HUB:
        from huggingface_hub import snapshot_download

        snapshot_download(
            repo_id=spec.location,
            revision=spec.revision,
            local_dir=staging,
            allow_patterns=list(spec.files) or None,
        )
    else:
        filename = spec.location.rsplit("/", 1)[-1]
        with (
            urllib.request.urlopen(spec.location, timeout=60) as response,
            (staging / filename).open("wb") as out,
        ):
            shutil.copyfileobj(response, out)
    spec.verify(staging)
    staging.rename(target)
    return target
