"""Layer 5's policy section (notifier references resolved by the loader, the default policy's triggers), masking
with and without the PII vault, the verdict memories, metrics arithmetic and the asking-for-a-human phrases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorContext, TextRole
from detectors.memory import ExampleMemory, MemoryDetector
from detectors.models.embeddings import EmbeddingCache
from detectors.terms import TermDetector
from escalation.masking import Masker
from escalation.metrics import summarise
from escalation.triggers import HumanRequest
from policies.loader import PolicyError, load_policy_set
from policies.schema import human_request_phrases

NOTIFIERS = """
name: base
post_response:
  notifiers:
    ops: {type: webhook, url: "https://hooks.example/ops", secret_env: OPS_SECRET}
    mail: {type: email, host: smtp.example, sender: rg@example.com, to: [safety@example.com]}
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory


def test_triggers_may_name_notifiers_defined_in_a_parent(tmp_path: Path) -> None:
    child = "extends: base\nmatch: {tenants: [t1]}\npost_response:\n  escalation:\n    triggers:\n"
    child += "      violation: {notify: [ops, mail]}\n"
    policy_set = load_policy_set(write(tmp_path, base=NOTIFIERS, child=child))
    triggers = policy_set.policies["child"].policy.post_response.escalation.triggers
    assert triggers.violation.notify == ["ops", "mail"]


def test_an_unknown_notifier_name_is_an_error_where_it_is_used(tmp_path: Path) -> None:
    child = "extends: base\nmatch: {tenants: [t1]}\npost_response:\n  escalation:\n    triggers:\n"
    child += "      request_human: {notify: [ops, opps]}\n"
    with pytest.raises(PolicyError) as raised:
        load_policy_set(write(tmp_path, base=NOTIFIERS, child=child))
    (problem,) = raised.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / "child.yaml"), 6)
    assert "unknown notifier 'opps'; did you mean 'ops'?" in problem.message
    assert "post_response.escalation.triggers.request_human.notify.1" in problem.message


def test_notifier_settings_are_validated(tmp_path: Path) -> None:
    bad = "post_response:\n  notifiers:\n    x: {type: pager, url: 'https://p'}\n"
    with pytest.raises(PolicyError, match="does not match any of the expected tags"):
        load_policy_set(write(tmp_path, default=bad))


def test_the_default_policy_escalates_requests_for_a_human_and_safety_blocks() -> None:
    policy = load_policy_set(None).policies["default"].policy
    triggers = policy.post_response.escalation.triggers
    assert triggers.request_human.enabled and triggers.violation.enabled and triggers.violation.blocks
    assert triggers.violation.priority == "high" and policy.post_response.confidence.enabled
    assert policy.input.attack_memory.enabled and policy.input.attack_memory.block_above is not None


def test_the_default_phrases_hear_people_asking_for_a_person() -> None:
    detector = TermDetector(human_request_phrases())

    def hears(text: str) -> bool:
        return detector.detect(text, DetectorContext()).score > 0

    assert hears("Can I speak to a human please") and hears("get me a representative")
    assert hears("transfer me to a live agent") and hears("human please")
    assert not hears("are you a bot or a human?") and not hears("how do I become an insurance agent")
    assert not hears("I want to send money to a real person, not a business")


def test_long_messages_are_searched_at_both_ends() -> None:
    detector = TermDetector(human_request_phrases())
    pasted = "Here is my statement. " * 500
    for message in (pasted + "Can I talk to a human about it?", "Get me a manager. " + pasted):
        assert detector.detect(HumanRequest.ends(message), DetectorContext()).score > 0
    assert len(HumanRequest.ends(pasted)) < 2010


class FakeVault:
    """The shape of `proxy.masking.Vault` that masking relies on."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def placeholders(self) -> frozenset[str]:
        return frozenset(self.mapping)

    def original(self, placeholder: str) -> str | None:
        return self.mapping.get(placeholder)


def test_masking_puts_vault_values_back_behind_their_placeholders_then_masks_the_rest() -> None:
    masker = Masker(FakeVault({"<PERSON_1>": "Jane Doe", "<PERSON_2>": "Jane"}))
    text = "Jane Doe (Jane) wrote from jane@example.com, card 4111 1111 1111 1111."
    assert masker.text(text) == "<PERSON_1> (<PERSON_2>) wrote from <EMAIL>, card <NUMBER>."
    assert not any(digit in Masker().text("call +44 20 7946 0958") for digit in "0123456789")
    nested = Masker().value({"a": ["x@y.org", 3, {"b": "123-45-6789"}]})
    assert nested == {"a": ["<EMAIL>", 3, {"b": "<SSN>"}]}
    assert Masker().text("a" * 50, limit=10) == "a" * 9 + "…"
    # A pasted wall of text is cut before it is masked (the masks' work stays bounded).
    assert Masker().text("w" * 250_000) == "w" * 19_999 + "…"
    assert Masker().text(f"{'x' * 64}@mail.example.org") == "<EMAIL>"


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_memory_matching_and_the_allow_memory() -> None:
    attack, near, far = unit(1), unit(1) * 0.9 + unit(2) * 0.1, unit(3)
    attacks = ExampleMemory([("a1", attack)])
    score, example = attacks.match("ignored", near / np.linalg.norm(near))
    assert example == "a1" and score > 0.95
    assert attacks.match("ignored", far)[0] < 0.2
    assert ExampleMemory().match("anything", far) == (0.0, None)

    class Cache(EmbeddingCache):
        def embed_one(self, text: str) -> np.ndarray:
            return {"close": near / np.linalg.norm(near), "far": far}[text]

    context = DetectorContext(role=TextRole.USER, embeddings=Cache())
    detector = MemoryDetector(attacks, ExampleMemory())
    assert detector.detect("close", context).score > 0.95
    assert MemoryDetector(ExampleMemory(), ExampleMemory()).detect("close", context).skipped
    allowed = MemoryDetector(attacks, ExampleMemory([("ok1", near / np.linalg.norm(near))]))
    cleared = allowed.detect("close", context)  # a reviewer said this one is fine: closer than the attack
    assert cleared.score == 0.0 and cleared.details["allow_example"] == "ok1"


def test_verdict_rates_follow_the_confusion_matrix() -> None:
    def row(verdict: str | None, status: str = "resolved") -> dict[str, object]:
        return {"verdict": verdict, "status": status, "created_at": 0.0, "resolved_at": 10.0 if verdict else None}

    rows = [row("correct_block")] * 3 + [row("false_positive")] + [row("missed_harm")] + [row("fine")] * 3
    rows.append(row(None, "open"))
    summary = summarise(rows, requests=90)
    assert summary["escalation_rate"] == 0.1 and summary["status"]["open"] == 1
    assert summary["false_positive_rate"] == 0.25  # 1 / (1 + 3 fine)
    assert summary["false_negative_rate"] == 0.25  # 1 missed / (1 + 3 caught)
    assert summary["precision"] == 0.75 and summary["time_to_resolution_s"]["p50"] == 10.0
