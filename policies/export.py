"""Export the JSON Schema editors use to validate and autocomplete policy YAML (`railguard policy schema`)."""

from __future__ import annotations

import json
from pathlib import Path

from policies.schema import Policy


def schema_path() -> Path:
    return Path(__file__).parent / "policy.schema.json"


def export_schema() -> str:
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://railguard.dev/schemas/policy.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
