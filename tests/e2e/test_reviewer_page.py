"""The reviewer page in a real browser (Debian's headless Chromium driven by Playwright): sign in, see a new
escalation in the queue, claim it and resolve it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Proxy, ProxyFactory
from tests.e2e.reviews import ADMIN_TOKEN, admin, review_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
POLICY = """
name: default
post_response:
  escalation:
    triggers:
      request_human: {priority: high}
"""


def chromium_path() -> str:
    found = os.environ.get("RAILGUARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium installed: `apt-get install -y chromium` (Debian) to run the reviewer page test")
    return found


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the `playwright` package is not installed (pip install playwright; no browser download needed)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def escalate(proxy: Proxy, text: str) -> dict[str, Any]:
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}]
    )
    return review_for(proxy, raw.headers["x-railguard-request-id"])


def test_a_reviewer_signs_in_sees_a_new_escalation_claims_and_resolves_it(
    make_proxy: ProxyFactory, policy_dir, browser: Any
) -> None:
    proxy = make_proxy(policies=policy_dir(default=POLICY), admin_token=ADMIN_TOKEN)
    page = browser.new_page()

    page.goto(proxy.url + "/admin/ui")
    assert page.url.endswith("/admin/ui/login")  # not signed in yet
    page.fill("#reviewer-name", "Dana")
    page.fill("#token", "not the token")
    page.click("#sign-in")
    assert "Wrong admin token" in page.inner_text("#error")
    page.fill("#reviewer-name", "Dana")
    page.fill("#token", ADMIN_TOKEN)
    page.click("#sign-in")
    assert page.inner_text("#reviewer") == "Dana"
    assert page.inner_text("#empty") == "Nothing to review."

    review = escalate(proxy, "I need to speak to a manager about my card, mail a@b.co")
    page.reload()
    row = page.locator(f"tr[data-review-id='{review['id']}']")
    assert row.count() == 1
    assert row.locator(".triggers").inner_text() == "request_human"
    assert "high" in row.inner_text() and "a@b.co" not in row.inner_text() and "<EMAIL" in row.inner_text()

    row.locator("button.claim").click()
    assert page.inner_text("#message") == "Claimed."
    assert page.inner_text("#status") == "claimed"
    assert "I need to speak to a manager" in page.inner_text("main")
    page.select_option("#verdict-choice", "fine")
    page.fill("#notes", "Asked for a person; the notice was enough.")
    page.click("#resolve")
    assert page.inner_text("#message") == "Resolved as fine."
    assert page.inner_text("#status") == "resolved" and page.inner_text("#verdict") == "fine"

    with admin(proxy) as client:
        stored = client.get(f"/admin/reviews/{review['id']}").json()
    assert (stored["status"], stored["verdict"], stored["resolved_by"]) == ("resolved", "fine", "Dana")
    assert stored["notes"] == "Asked for a person; the notice was enough."

    page.goto(proxy.url + "/admin/ui")
    assert page.locator(f"tr[data-review-id='{review['id']}']").count() == 0  # gone from the active queue
    page.click("text=resolved")
    assert page.locator(f"tr[data-review-id='{review['id']}']").count() == 1


def test_the_page_refuses_a_form_from_elsewhere(make_proxy: ProxyFactory, policy_dir, browser: Any) -> None:
    proxy = make_proxy(policies=policy_dir(default=POLICY), admin_token=ADMIN_TOKEN)
    review = escalate(proxy, "talk to a human")
    page = browser.new_page()
    page.goto(proxy.url + "/admin/ui/login")
    page.fill("#reviewer-name", "Eve")
    page.fill("#token", ADMIN_TOKEN)
    page.click("#sign-in")
    # A form without the page's CSRF token (as another site would post it) changes nothing.
    response = page.request.post(proxy.url + f"/admin/ui/reviews/{review['id']}/claim", form={"csrf": "forged"})
    assert response.status == 401
    with admin(proxy) as client:
        assert client.get(f"/admin/reviews/{review['id']}").json()["status"] == "open"
