"""Redis for tests: the machine's real Redis (skip with the reason when a PING fails), and a private
`redis-server` on a free port for tests that stop, slow or restart Redis (never the machine's)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

import pytest

from proxy.servers import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> str | None:
    """None when a real PING gets PONG, else why not."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        return f"no Redis at {host}:{port} ({exc})"
    return None if answer.startswith(b"+PONG") else f"{host}:{port} answered {answer!r} to PING"


def require_redis() -> str:
    reason = redis_reachable()
    if reason is not None:
        pytest.skip(f"needs a real Redis: {reason}")
    return REDIS_URL


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("needs the redis-server binary to run a private Redis")
        self.binary = binary
        self.port = free_port()
        self.directory = tempfile.TemporaryDirectory(prefix="railguard-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self.directory.cleanup()
