"""The `railguard` command line, run as a newcomer would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from proxy.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "policies" / "examples"


def railguard(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120, **kwargs
    )


def test_policy_validate_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("extends: nowhere\nmode: sometimes\ninput:\n  terms:\n    terms: [x]\n    blok_above: 0.5\n")
    result = railguard("policy", "validate", str(broken))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{broken}:1:10: extends 'nowhere': no such policy")
    assert lines[1] == f"{broken}:2:7: mode: Input should be 'enforce' or 'monitor'"
    assert lines[2].startswith(f"{broken}:6:5: unknown key 'input.terms.blok_above'")
    assert "3 problem(s) found" in result.stderr


def test_policy_validate_accepts_the_examples() -> None:
    result = railguard("policy", "validate", *map(str, sorted(EXAMPLES.glob("*.yaml"))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "monitor-rollout.yaml: ok" in result.stdout


def test_policy_explain_shows_the_resolved_policy() -> None:
    result = railguard("policy", "explain", str(EXAMPLES), "--tenant", "pilot", "--route", "/v1/chat/completions")
    assert result.returncode == 0
    assert "# policy monitor-rollout" in result.stdout
    assert "# inherits: monitor-rollout -> customer-support -> default" in result.stdout
    assert "mode: monitor" in result.stdout and "max: 0.7" in result.stdout


def test_policy_test_runs_cases_and_fails_on_a_broken_expectation(tmp_path: Path) -> None:
    cases = EXAMPLES / "cases" / "customer-support.yaml"
    result = railguard("policy", "test", str(EXAMPLES / "customer-support.yaml"), str(cases))
    assert result.returncode == 0, result.stdout
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "cases:\n  - name: bitcoin allowed?\n    model: support\n    prompt: buy bitcoin\n"
        "    expect: {outcome: allowed}\n"
    )
    result = railguard("policy", "test", str(EXAMPLES / "customer-support.yaml"), str(wrong))
    assert result.returncode == 1
    assert "FAIL  bitcoin allowed?: blocked by input/denied_term" in result.stdout


def test_serve_help_lists_every_setting() -> None:
    from proxy.settings import Settings

    result = railguard("serve", "--help")
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in result.stdout
        assert "RAILGUARD_" + name.upper() in result.stdout


def test_serve_without_upstream_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAILGUARD_")}
    result = railguard("serve", env=env)
    assert result.returncode == 2
    assert "--upstream" in result.stderr


def test_serve_starts_answers_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "serve", "--upstream", "http://127.0.0.1:9/v1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # Healthy is not ready: wait for the models to be warm, so that no guard times out on a cold model.
        while httpx2.get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
            assert time.monotonic() < deadline + 120, "not ready in time"
            time.sleep(0.2)
        # The upstream is unreachable: an OpenAI-shaped 502, not a crash.
        response = httpx2.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert response.status_code == 502, response.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
