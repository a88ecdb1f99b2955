"""Shared fixtures. Tests that need a service or data that is absent skip with the reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def shared_data():
    """Returns a function mapping a path under ../shared/data to a Path, skipping the test when it is absent."""
    from detectors.data import shared_data as locate

    def get(relative: str) -> Path:
        try:
            return locate(relative)
        except FileNotFoundError as exc:
            pytest.skip(str(exc))

    return get


@pytest.fixture(autouse=True, scope="session")
def _review_store_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Proxies that tests start as processes (`railguard serve`) inherit this: their review queue goes to a temporary
    SQLite file, not to `railguard-reviews.db` in the checkout."""
    folder = tmp_path_factory.mktemp("review-store")
    os.environ.setdefault("RAILGUARD_REVIEW_DB", f"sqlite+aiosqlite:///{folder / 'reviews.db'}")


@pytest.fixture(autouse=True, scope="session")
def _encoder_in_float32() -> None:
    """The committed heads' recorded figures were measured with the encoder in float32; a developer's
    RAILGUARD_ENCODER_PRECISION must not change what the tests measure (tests of bfloat16 ask for it by name)."""
    os.environ["RAILGUARD_ENCODER_PRECISION"] = "float32"
