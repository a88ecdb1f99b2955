"""Format validation: JSON parse and schema errors with their path, regex/length/language rules, and how the guard
reads the request's response format and builds a re-ask."""

from __future__ import annotations

import json

import pytest

from detectors.base import DetectorContext
from detectors.format import FormatDetector, FormatRules
from detectors.format.json_check import check_json
from policies.schema import Format
from proxy.guards.format import reask_body, requested_format
from proxy.texts import RouteKind

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "stops": {"type": "array", "items": {"type": "object", "properties": {"km": {"type": "number"}}}},
    },
    "required": ["city"],
}


def detect(text: str, rules: FormatRules):
    return FormatDetector().detect(text, DetectorContext(options={"rules": rules}))


def test_schema_errors_name_the_json_path() -> None:
    assert check_json('{"city": "Oslo", "stops": [{"km": 3}]}', SCHEMA) == []
    [error] = check_json('{"city": "Oslo", "stops": [{"km": 3}, {"km": "far"}]}', SCHEMA)
    assert error.startswith("$.stops[1].km: ") and "'far' is not of type 'number'" in error
    [missing] = check_json("{}", SCHEMA)
    assert missing.startswith("$: ") and "'city' is a required property" in missing


def test_unparseable_json_and_non_objects_for_json_object() -> None:
    [error] = check_json('{"city": "Oslo",}', None)
    assert "not valid JSON" in error and "line 1" in error
    assert check_json("[1, 2]", None) == ["$: expected a JSON object, got list"]
    assert check_json('{"a": 1}', None) == []
    assert "schema is itself invalid" in check_json("{}", {"type": "no-such-type"})[0]


def test_regex_length_and_language_rules() -> None:
    rules = FormatRules(
        must_match=[r"(?i)\bthank you\b"], must_not_match=[r"\b\d{16}\b"], min_chars=10, max_chars=200, languages=["en"]
    )
    fine = detect("Thank you for asking, the branch opens at nine tomorrow morning.", rules)
    assert fine.score == 0.0 and fine.labels == {}
    bad = detect("Votre numéro de carte est 4111111111111111, merci beaucoup pour votre patience.", rules)
    assert bad.score == 1.0
    assert set(bad.labels) == {"must_match", "must_not_match", "language"}
    assert any("'fr'" in e for e in bad.details["errors"])
    assert detect("Hi", FormatRules(min_chars=5)).labels == {"min_chars": 1.0}
    assert detect("x" * 30, FormatRules(max_chars=20)).labels == {"max_chars": 1.0}
    assert detect("Hola", FormatRules(languages=["en"])).score == 0.0  # too short to judge


def test_no_rules_is_skipped() -> None:
    assert FormatDetector().detect("anything", DetectorContext()).skipped


def test_the_request_format_is_read_from_chat_and_responses() -> None:
    chat = {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}}
    assert requested_format(RouteKind.CHAT, chat) == (True, SCHEMA)
    assert requested_format(RouteKind.CHAT, {"response_format": {"type": "json_object"}}) == (True, None)
    assert requested_format(RouteKind.CHAT, {"response_format": {"type": "text"}}) == (False, None)
    responses = {"text": {"format": {"type": "json_schema", "name": "x", "schema": SCHEMA}}}
    assert requested_format(RouteKind.RESPONSES, responses) == (True, SCHEMA)
    assert requested_format(RouteKind.COMPLETIONS, chat) == (False, None)


def test_reask_appends_the_rejected_answer_and_the_errors() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "response_format": {"type": "json_object"}}
    again = reask_body(RouteKind.CHAT, body, "nope", "fix it")
    assert again["messages"][1:] == [{"role": "assistant", "content": "nope"}, {"role": "user", "content": "fix it"}]
    assert body["messages"] == [{"role": "user", "content": "q"}]  # the original request is not changed
    responses = reask_body(RouteKind.RESPONSES, {"input": "q"}, "nope", "fix it")
    assert responses["input"][0] == {"role": "user", "content": "q"} and len(responses["input"]) == 3


def test_policy_regexes_are_checked_when_loaded() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        Format.model_validate({"must_match": ["(unclosed"]})
    assert json.loads(Format().model_dump_json())["action"] == "block"
