"""Helpers for layer-5 end-to-end tests: the admin API through a real socket."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2

from tests.e2e.conftest import Proxy

ADMIN_TOKEN = "admin-secret-for-tests"


def admin(proxy: Proxy) -> httpx2.Client:
    return httpx2.Client(base_url=proxy.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)


def wait_for(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (layer 5 writes after the answer went out)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(every)


def reviews(proxy: Proxy, **filters: Any) -> list[dict[str, Any]]:
    with admin(proxy) as client:
        response = client.get("/admin/reviews", params={k: v for k, v in filters.items() if v is not None})
        response.raise_for_status()
        return list(response.json()["data"])


def review_for(proxy: Proxy, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    found = wait_for(lambda: reviews(proxy, request_id=request_id), timeout)
    assert found, f"no review for {request_id}"
    return dict(found[0])
