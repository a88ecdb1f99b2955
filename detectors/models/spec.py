"""Model specifications: where a model's weights come from and what they must hash to."""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from detectors.base import ModelUnavailableError


class ModelSource(StrEnum):
    PACKAGED = "packaged"  # weights ship inside an installed Python package (offline default)
    LOCAL = "local"  # a directory on disk (mounted volume, `railguard models pull` output)
    HUB = "hub"  # a Hugging Face hub id at a pinned revision; fetched only by `railguard models pull`
    URL = "url"  # one file at an https URL (e.g. detoxify's release checkpoints); fetched only by `pull`


def models_home() -> Path:
    """Where `railguard models pull` stores hub models and where run time looks for them."""
    return Path(os.environ.get("RAILGUARD_MODELS_DIR", Path.home() / ".cache" / "railguard" / "models"))


@dataclass(frozen=True)
class ModelSpec:
    """A model the runtime can load.

    ``location`` is a package name (packaged), a path (local) or a hub id (hub). ``sha256`` maps file names,
    relative to the model directory, to their expected digests; every listed file is checked at load. A digest
    shorter than 64 hex digits is a prefix (torch.hub's convention for release files that carry it in their name).
    ``files``: for hub models, only these files are pulled (e.g. a config and tokenizer without the weights).
    """

    name: str
    kind: str
    source: ModelSource
    location: str
    subdir: str = ""
    revision: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    description: str = ""
    files: tuple[str, ...] = ()

    def local_dir(self) -> Path:
        """The directory holding the weights. Never downloads; raises when the model is not present."""
        if self.source is ModelSource.PACKAGED:
            try:
                module = importlib.import_module(self.location)
            except ImportError as exc:
                raise ModelUnavailableError(f"model {self.name!r}: package {self.location!r} is not installed") from exc
            assert module.__file__ is not None
            path = Path(module.__file__).parent / self.subdir
        elif self.source is ModelSource.LOCAL:
            path = Path(self.location).expanduser() / self.subdir
        else:
            path = self.pull_dir() / self.subdir
        if not path.is_dir():
            pulled = self.source in (ModelSource.HUB, ModelSource.URL)
            hint = " (run `railguard models pull` ahead of time)" if pulled else ""
            raise ModelUnavailableError(f"model {self.name!r} is not present at {path}{hint}")
        return path

    def pull_dir(self) -> Path:
        """Where `railguard models pull` puts a hub or URL model, and where run time looks for it."""
        return models_home() / self.name / (self.revision or "unpinned")

    def verify(self, directory: Path | None = None) -> Path:
        """Check every pinned file's sha256 and return the model directory."""
        root = directory or self.local_dir()
        for relative, expected in self.sha256.items():
            actual = file_sha256(root / relative)
            if len(expected) < 8 or not actual.startswith(expected):
                raise ModelUnavailableError(f"model {self.name!r}: {relative} has sha256 {actual}, expected {expected}")
        return root


def file_sha256(path: Path) -> str:
    if not path.is_file():
        raise ModelUnavailableError(f"missing model file {path}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
