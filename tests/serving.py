"""Helpers for tests that run `railguard serve` as a separate process."""

from __future__ import annotations

import subprocess
import time

import httpx2


def wait_ready(base_url: str, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    """Poll /readyz until it answers 200; fail with the server's output if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx2.get(base_url + "/readyz").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            errors = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"serve exited with {process.returncode}:\n{output}{errors}")
        assert time.monotonic() < deadline, "serve was not ready in time"
        time.sleep(0.1)
