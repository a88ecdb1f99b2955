"""The policy language: schema, validation messages people can act on, inheritance and matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.export import export_schema, schema_path
from policies.loader import PolicyError, load_files, load_policy_set
from policies.schema import Action, Thresholds

EXAMPLES = Path(__file__).resolve().parents[1] / "policies" / "examples"


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / f"{name.replace('_', '-')}.yaml").write_text(text)
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policy_set(directory)
    return [str(p) for p in raised.value.problems]


def test_committed_json_schema_is_the_exported_one() -> None:
    assert json.loads(schema_path().read_text()) == json.loads(export_schema()), "run `railguard policy schema`"


def test_every_shipped_policy_validates() -> None:
    policy_set = load_policy_set(EXAMPLES)
    assert {"default", "customer-support", "internal-tool", "monitor-rollout"} <= set(policy_set.policies)
    assert load_policy_set(None).policies["default"].policy.mode.value == "enforce"


def test_unknown_key_is_an_error_with_line_column_and_allowed_keys(tmp_path: Path) -> None:
    found = problems(write(tmp_path, default="input:\n  terms:\n    terms: [x]\n    blok_above: 0.5\n"))
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/default.yaml:4:5: unknown key 'input.terms.blok_above'")
    assert "allowed here: action, enabled" in found[0]


def test_misspelt_threshold_gets_a_suggestion(tmp_path: Path) -> None:
    from policies.loader import describe_error

    message = describe_error({"loc": ("input", "max_prompt", "max_chars_"), "type": "extra_forbidden", "msg": ""})
    assert "did you mean 'max_chars'" in message


def test_wrong_enum_lists_the_allowed_values(tmp_path: Path) -> None:
    found = problems(write(tmp_path, default="mode: enforcee\n"))
    assert found == [f"{tmp_path}/default.yaml:1:7: mode: Input should be 'enforce' or 'monitor'"]


def test_thresholds_are_range_checked_and_ordered() -> None:
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Thresholds(block_above=1.5)
    with pytest.raises(ValueError, match=r"escalate_above .* must not be greater than block_above"):
        Thresholds(block_above=0.5, escalate_above=0.8)
    decide = Thresholds(block_above=0.9, escalate_above=0.7, log_above=0.3).decide
    assert [decide(s) for s in (0.1, 0.5, 0.8, 0.95)] == [Action.ALLOW, Action.LOG, Action.ESCALATE, Action.BLOCK]


def test_yaml_syntax_errors_and_duplicate_keys_have_positions(tmp_path: Path) -> None:
    assert problems(write(tmp_path, default="input: [unclosed\n"))[0].startswith(f"{tmp_path}/default.yaml:2:")
    dup = tmp_path / "dup"
    assert problems(write(dup, default="mode: enforce\nmode: monitor\n")) == [
        f"{dup}/default.yaml:2:1: duplicate key 'mode'"
    ]


def test_every_error_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = "extends: nowhere\nmode: sometimes\ninput:\n  max_prompt:\n    max_chars: -3\n    colour: red\n"
    found = problems(write(tmp_path, strict=text, default="name: default\n"))
    assert len(found) == 4
    assert [p.split(":")[1] for p in found] == ["1", "2", "5", "6"]


def test_inheritance_overrides_key_by_key(tmp_path: Path) -> None:
    directory = write(
        tmp_path,
        base="input:\n  max_prompt: {max_chars: 1000, max_messages: 10}\nrefusal: {message: base says no}\n",
        child="extends: base\nmatch: {tenants: [acme]}\ninput:\n  max_prompt: {max_chars: 50}\n",
    )
    child = load_policy_set(directory).policies["child"]
    assert child.chain == ("child", "base")
    assert child.policy.input.max_prompt.max_chars == 50
    assert child.policy.input.max_prompt.max_messages == 10
    assert child.policy.refusal.message == "base says no"
    assert child.policy.match is not None and child.policy.match.tenants == ["acme"]


def test_extends_cycles_and_unknown_bases_are_errors(tmp_path: Path) -> None:
    found = problems(write(tmp_path, a="extends: b\n", b="extends: a\n"))
    assert any("extends forms a cycle: a -> b -> a" in p for p in found)


def test_most_specific_match_wins(tmp_path: Path) -> None:
    directory = write(
        tmp_path,
        everyone_chat="match: {routes: ['/v1/chat/*']}\n",
        acme="match: {tenants: [acme], routes: ['/v1/chat/*']}\n",
        acme_mini="match: {tenants: [acme], routes: ['/v1/chat/*'], models: [gpt-4o-mini]}\n",
    )
    policies = load_policy_set(directory)
    assert policies.select("acme", "/v1/chat/completions", "gpt-4o-mini").name == "acme-mini"
    assert policies.select("acme", "/v1/chat/completions", "gpt-4o").name == "acme"
    assert policies.select("other", "/v1/chat/completions", "gpt-4o").name == "everyone-chat"
    assert policies.select("other", "/v1/embeddings", "x").name == "default"


def test_equally_specific_overlapping_matches_are_an_error_at_load(tmp_path: Path) -> None:
    found = problems(write(tmp_path, by_tenant="match: {tenants: [acme]}\n", by_model="match: {models: [gpt-4o]}\n"))
    assert any("ties with policy" in p for p in found)
    # Disjoint matches do not tie.
    write(tmp_path / "ok", one="match: {tenants: [acme]}\n", two="match: {tenants: [globex]}\n")
    assert load_policy_set(tmp_path / "ok").select("globex", "/v1/x", "m").name == "two"


def test_validate_files_resolves_siblings_as_bases() -> None:
    resolved = load_files([EXAMPLES / "monitor-rollout.yaml"])
    assert resolved["monitor-rollout"].chain == ("monitor-rollout", "customer-support", "default")


def test_version_is_a_content_hash_of_the_chain(tmp_path: Path) -> None:
    directory = write(
        tmp_path, base="input: {max_prompt: {max_chars: 10}}\n", child="extends: base\nmatch: {tenants: [a]}\n"
    )
    before = load_policy_set(directory).policies["child"].version
    write(directory, base="input: {max_prompt: {max_chars: 11}}\n")
    assert load_policy_set(directory).policies["child"].version != before
