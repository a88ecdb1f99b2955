"""Policies in a running proxy: selection, generation controls, monitor mode, hot reload."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx2
import openai
import pytest

from tests.e2e.conftest import Upstream

CONTROLS = """
name: default
generation:
  system_prompt: {text: "Only talk about banking.", position: prepend}
  temperature: {max: 0.5, action: clamp}
  top_p: {max: 0.9, action: reject}
  max_tokens: {max: 256, action: clamp}
  models: {allow: ["gpt-4o-mini"], aliases: {fast: gpt-4o-mini}}
  tools: {allow: [lookup_*], action: strip}
"""


def chat(**extra):
    return {"messages": [{"role": "system", "content": "client system"}, {"role": "user", "content": "hi"}], **extra}


def test_generation_controls_rewrite_what_the_upstream_receives(make_proxy, policy_dir, upstream: Upstream) -> None:
    proxy = make_proxy(policies=policy_dir(default=CONTROLS))
    proxy.client().chat.completions.create(
        model="fast",
        temperature=1.7,
        max_tokens=4000,
        tools=[
            {"type": "function", "function": {"name": "lookup_account", "parameters": {}}},
            {"type": "function", "function": {"name": "wire_money", "parameters": {}}},
        ],
        tool_choice={"type": "function", "function": {"name": "wire_money"}},
        **chat(),
    )
    sent = upstream.last_body()
    assert sent["model"] == "gpt-4o-mini"
    assert sent["temperature"] == 0.5
    assert sent["max_tokens"] == 256
    assert sent["messages"][0] == {"role": "system", "content": "Only talk about banking."}
    assert sent["messages"][1]["content"] == "client system"
    assert [t["function"]["name"] for t in sent["tools"]] == ["lookup_account"]
    assert "tool_choice" not in sent
    events = proxy.events(lambda es: sum(e["layer"] == "generation" for e in es) >= 5)
    triggers = {e["trigger"] for e in events if e["layer"] == "generation"}
    assert {"model_aliased", "system_prompt", "temperature_clamped", "max_tokens_clamped", "tools_stripped"} <= triggers


def test_token_cap_is_set_when_the_client_sets_none(make_proxy, policy_dir, upstream: Upstream) -> None:
    proxy = make_proxy(policies=policy_dir(default=CONTROLS))
    proxy.client().chat.completions.create(model="gpt-4o-mini", **chat())
    assert upstream.last_body()["max_completion_tokens"] == 256
    proxy.client().responses.create(model="gpt-4o-mini", input="hi", instructions="client rules")
    sent = upstream.last_body()
    assert sent["max_output_tokens"] == 256
    assert sent["instructions"] == "Only talk about banking.\n\nclient rules"


def test_rejected_parameters_and_models_are_openai_errors(make_proxy, policy_dir, upstream: Upstream) -> None:
    proxy = make_proxy(policies=policy_dir(default=CONTROLS))
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.client().chat.completions.create(model="gpt-4o-mini", top_p=0.95, **chat())
    assert (raised.value.code, raised.value.param) == ("policy_limit_exceeded", "top_p")
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.client().chat.completions.create(model="gpt-4o", **chat())
    assert raised.value.code == "model_not_allowed"
    assert upstream.requests == []


def test_the_client_cannot_remove_the_enforced_system_prompt(make_proxy, policy_dir, upstream: Upstream) -> None:
    policy = CONTROLS.replace("position: prepend", "position: replace")
    proxy = make_proxy(policies=policy_dir(default=policy))
    proxy.client().chat.completions.create(model="gpt-4o-mini", **chat())
    sent = upstream.last_body()["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[0]["content"] == "Only talk about banking."


def test_monitor_mode_changes_nothing_the_upstream_or_client_sees(make_proxy, policy_dir, upstream: Upstream) -> None:
    proxy = make_proxy(policies=policy_dir(default=CONTROLS.replace("name: default", "name: default\nmode: monitor")))
    raw = proxy.client().chat.completions.with_raw_response.create(model="gpt-4o", temperature=1.7, **chat())
    sent = upstream.last_body()
    assert sent["model"] == "gpt-4o" and sent["temperature"] == 1.7 and len(sent["messages"]) == 2
    monitor = raw.headers["x-railguard-monitor"]
    assert "would_block:generation/model_not_allowed" in monitor
    assert "would_rewrite:generation/temperature_clamped" in monitor


def test_policy_is_chosen_by_tenant_header(make_proxy, policy_dir) -> None:
    directory = policy_dir(
        default="name: default\n",
        strict="match: {tenants: [acme]}\ninput: {max_prompt: {max_chars: 10}}\n",
    )
    proxy = make_proxy(policies=directory)
    assert proxy.client().chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 50}])
    acme = proxy.client(default_headers={"x-railguard-tenant": "acme"})
    with pytest.raises(openai.BadRequestError) as raised:
        acme.chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 50}])
    assert raised.value.response.headers["x-railguard-policy"].startswith("strict@")


def test_client_keys_map_to_tenants_and_the_proxy_holds_the_upstream_key(
    make_proxy, policy_dir, tmp_path: Path, upstream: Upstream
) -> None:
    import hashlib

    keys = tmp_path / "keys.yaml"
    digest = hashlib.sha256(b"sk-acme-client").hexdigest()
    keys.write_text(f"keys:\n  - sha256: {digest}\n    tenant: acme\n    tier: gold\n")
    directory = policy_dir(default="name: default\n", acme="match: {tenants: [acme]}\n")
    proxy = make_proxy(policies=directory, client_keys=keys, upstream_api_key="sk-upstream-secret")
    raw = proxy.client(api_key="sk-acme-client").chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-railguard-policy"].startswith("acme@")
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream-secret"
    with pytest.raises(openai.AuthenticationError):
        proxy.client(api_key="sk-wrong").chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    # A tenant header cannot override a key's tenant.
    spoof = proxy.client(api_key="sk-acme-client", default_headers={"x-railguard-tenant": "other"})
    raw = spoof.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-railguard-policy"].startswith("acme@")


def _limit(directory: Path, chars: int) -> None:
    path = directory / "default.yaml"
    temporary = directory / ".default.yaml.tmp"
    temporary.write_text(f"name: default\ninput: {{max_prompt: {{max_chars: {chars}}}}}\n")
    temporary.replace(path)  # atomic, as editors and ConfigMap updates do


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def test_hot_reload_applies_a_valid_change_and_rejects_an_invalid_one(make_proxy, policy_dir) -> None:
    directory = policy_dir(default="name: default\ninput: {max_prompt: {max_chars: 1000}}\n")
    proxy = make_proxy(policies=directory, admin_token="admin-secret")
    client = proxy.client()
    request = {"model": "m", "messages": [{"role": "user", "content": "x" * 500}]}
    assert client.chat.completions.create(**request)
    _limit(directory, 100)
    wait_for(lambda: proxy.services.policies.status.reloads >= 1)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(**request)

    (directory / "default.yaml").write_text("name: default\ninput: {max_prompt: {max_chars: lots}}\n")
    wait_for(lambda: proxy.services.policies.status.failures >= 1)
    with pytest.raises(openai.BadRequestError):  # the last good version (limit 100) still serves
        client.chat.completions.create(**request)
    admin = httpx2.get(proxy.url + "/admin/policies", headers={"authorization": "Bearer admin-secret"}).json()
    assert admin["reload_failures"] >= 1
    assert "default.yaml:2:" in admin["last_error"][0]
    assert httpx2.get(proxy.url + "/admin/policies").status_code == 401
    events = proxy.events(lambda es: any(e["trigger"] == "policy_reload_failed" for e in es))
    assert any(e["trigger"] == "policy_reload_failed" for e in events)


def test_hot_reload_under_concurrent_requests_never_serves_a_half_loaded_policy(make_proxy, policy_dir) -> None:
    directory = policy_dir(default="name: default\ninput: {max_prompt: {max_chars: 1000}}\n")
    proxy = make_proxy(policies=directory)
    outcomes: dict[str, set[int]] = {}
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        client = httpx2.Client(timeout=10)
        while not stop.is_set():
            response = client.post(
                proxy.url + "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "x" * 500}]},
            )
            outcomes.setdefault(response.headers.get("x-railguard-policy", ""), set()).add(response.status_code)
            if response.status_code not in (200, 400):
                failures.append(f"{response.status_code} {response.text[:200]}")
        client.close()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for round_number in range(6):
        _limit(directory, 100 if round_number % 2 == 0 else 1000)
        time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures
    # Every request ran entirely on one version: a version's answers are all allowed or all blocked.
    assert len(outcomes) >= 2
    assert all(len(statuses) == 1 for statuses in outcomes.values()), outcomes
