"""Where the shared evaluation and training data lives (``../shared/data`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path | None:
    """``$RAILGUARD_DATA_DIR``, else ``../shared/data`` beside the checkout or the working directory."""
    candidates = []
    if env := os.environ.get("RAILGUARD_DATA_DIR"):
        candidates.append(Path(env))
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def shared_data(relative: str) -> Path:
    """A file under the shared data folder; raises FileNotFoundError with a clear message when absent."""
    root = shared_data_dir()
    if root is None or not (root / relative).exists():
        raise FileNotFoundError(
            f"shared data file {relative!r} not found; set RAILGUARD_DATA_DIR or put ../shared/data beside the checkout"
        )
    return root / relative
