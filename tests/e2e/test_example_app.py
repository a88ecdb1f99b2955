"""deploy/example_app.py — the app in the compose example — against a live proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_example_app_talks_to_a_real_proxy(make_proxy) -> None:
    """deploy/example_app.py, run as compose runs it (its base URL from the environment), against a live proxy with
    the example policies compose mounts."""
    proxy = make_proxy(policies=ROOT / "policies" / "examples")
    env = {**os.environ, "OPENAI_BASE_URL": proxy.url + "/v1", "OPENAI_API_KEY": "sk-example"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "example_app.py"), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answers = [line for line in result.stdout.splitlines() if line.startswith("A: ")]
    assert len(answers) == 2
    assert answers[1] == "A: I'm sorry, I can't discuss cryptocurrency or trading."  # the policy's refusal
