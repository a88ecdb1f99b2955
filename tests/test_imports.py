"""A proxy whose policy turns the model-backed guards off never loads their libraries: the RSS target (150 MB before
models) depends on it, and it broke once when a guard imported its detector at module level."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from proxy.bench import passthrough_policy

HEAVY = ("torch", "spacy", "transformers", "presidio_analyzer", "detoxify")


def test_building_the_app_imports_no_model_library(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text(passthrough_policy())  # every guard off
    script = (
        "import sys\n"
        "from proxy.app import create_app\n"
        "from proxy.settings import Settings\n"
        f"create_app(Settings(upstream='http://upstream.invalid/v1', policies={str(tmp_path)!r}))\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
