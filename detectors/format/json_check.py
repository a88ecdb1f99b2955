"""JSON answers: parse, then validate against the request's JSON Schema with `jsonschema`, naming where it fails."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

MAX_ERRORS = 5


def json_path(error: ValidationError) -> str:
    """``$.items[2].name`` style location of a validation error in the answer."""
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def check_json(text: str, schema: dict[str, Any] | None) -> list[str]:
    """Problems with ``text`` as a JSON answer: empty when it parses and (if given) matches ``schema``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"the answer is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    if schema is None:
        # response_format json_object: OpenAI promises an object, not any JSON value.
        return [] if isinstance(value, dict) else [f"$: expected a JSON object, got {type(value).__name__}"]
    try:
        cls = validator_for(schema, default=Draft202012Validator)
        cls.check_schema(schema)
    except SchemaError as exc:
        return [f"the request's JSON schema is itself invalid: {exc.message}"]
    errors = sorted(cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    return [f"{json_path(e)}: {e.message}" for e in errors[:MAX_ERRORS]]
