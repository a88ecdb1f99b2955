"""End-to-end fixtures: the mock upstream and the proxy, each under uvicorn on a real socket; the real `openai` SDK."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from proxy.app import create_app
from proxy.mock_upstream import MockUpstream
from proxy.servers import BackgroundServer
from proxy.settings import Settings


class Upstream:
    def __init__(self, mock: MockUpstream, server: BackgroundServer) -> None:
        self.mock = mock
        self.server = server
        self.url = server.url + "/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.mock.requests

    def last_body(self) -> dict[str, Any]:
        return dict(self.mock.requests[-1]["body"])


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    mock = MockUpstream()
    with BackgroundServer(mock.app) as server:
        yield Upstream(mock, server)


@pytest.fixture(autouse=True)
def _fresh_upstream(request: pytest.FixtureRequest) -> None:
    if "upstream" in request.fixturenames:
        mock = request.getfixturevalue("upstream").mock
        mock.requests.clear()
        mock.failures.clear()


class Proxy:
    def __init__(self, server: BackgroundServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.url = server.url
        self.app = server.server.config.app

    @property
    def services(self) -> Any:
        return self.app.state.services

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", "sk-client-test")
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.url + "/v1", **kwargs)

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("api_key", "sk-client-test")
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=self.url + "/v1", **kwargs)

    def events(
        self, wait_for: Callable[[list[dict[str, Any]]], bool] | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Events recorded so far (waiting until ``wait_for`` holds, for events written after the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            events = list(self.services.recent.events)
            if wait_for is None or wait_for(events) or time.monotonic() > deadline:
                return events
            time.sleep(0.02)

    def wait_ready_except(self, reason: str, timeout: float = 120.0) -> None:
        """Wait until /readyz names only ``reason`` (a dependency a test took down on purpose) or is ready."""
        deadline = time.monotonic() + timeout
        while True:
            answer = httpx2.get(self.url + "/readyz")
            reasons = answer.json().get("reason", "")
            if answer.status_code == 200 or (reasons.startswith(reason) and ";" not in reasons):
                return

            if time.monotonic() > deadline:
                raise TimeoutError(answer.text)
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 120.0) -> None:

        deadline = time.monotonic() + timeout
        while httpx2.get(self.url + "/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(httpx2.get(self.url + "/readyz").text)
            time.sleep(0.05)


ProxyFactory = Callable[..., Proxy]


@pytest.fixture
def make_proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyFactory]:
    """Start a proxy with the given settings (upstream defaults to the mock; the review store to a fresh SQLite file).
    Stopped after the test."""
    started: list[BackgroundServer] = []

    def make(ready: bool = True, **settings: Any) -> Proxy:
        settings.setdefault("upstream", upstream.url)
        settings.setdefault("retry_backoff", 0.01)
        if "review_db" not in settings:
            settings["review_db"] = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('reviews') / 'reviews.db'}"
        configured = Settings(**settings)
        server = BackgroundServer(create_app(configured)).start()
        started.append(server)
        proxy = Proxy(server, configured)
        if ready:
            proxy.wait_ready()
        return proxy

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    """A proxy with the built-in default policy."""
    return make_proxy()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write policy files (name -> YAML text) into a fresh directory and return it."""

    def write(**files: str) -> Path:
        directory = tmp_path / "policies"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            (directory / f"{name.replace('_', '-')}.yaml").write_text(text)
        return directory

    return write


def read_stream(chunks: Iterable[Any]) -> tuple[str, str | None, Exception | None]:
    """A streamed chat completion as the client saw it: (text received, last finish_reason, the SDK's error if the
    stream ended with one)."""
    text: list[str] = []
    finish: str | None = None
    error: Exception | None = None
    try:
        for chunk in chunks:
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
    except openai.APIError as raised:
        error = raised
    return "".join(text), finish, error
