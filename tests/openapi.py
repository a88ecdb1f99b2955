"""Validate what the proxy returns against OpenAI's own OpenAPI description (../shared/spec/openai-openapi.yaml)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_CANDIDATES = [
    Path(__file__).resolve().parents[2] / "shared" / "spec" / "openai-openapi.yaml",
    Path.cwd().parent / "shared" / "spec" / "openai-openapi.yaml",
]


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI's `nullable: true` is not JSON Schema; turn it into 'or null' so validators understand it."""
    if isinstance(node, dict):
        node = {k: _nullable_to_json_schema(v) for k, v in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable_to_json_schema(v) for v in node]
    return node


@functools.cache
def _spec() -> dict[str, Any] | None:
    for path in SPEC_CANDIDATES:
        if path.is_file():
            with path.open() as handle:
                loaded = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            return dict(_nullable_to_json_schema(loaded))
    return None


@functools.cache
def _validator(schema_name: str) -> Draft202012Validator:
    spec = _spec()
    if spec is None:
        pytest.skip("../shared/spec/openai-openapi.yaml not found")
    resource = Resource(contents=spec, specification=DRAFT202012)
    registry: Registry = Registry().with_resource("urn:openai", resource)
    return Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{schema_name}"}, registry=registry)


def _branch_for(schema_name: str, instance: Any) -> str:
    """For a union of event schemas (anyOf of $refs), the branch whose `type` names the instance's type."""
    spec = _spec() or {}
    schema = spec.get("components", {}).get("schemas", {}).get(schema_name, {})
    if not isinstance(instance, dict) or "type" not in instance:
        return schema_name
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        ref = option.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        branch = spec["components"]["schemas"].get(name, {})
        kind = branch.get("properties", {}).get("type", {})
        if instance["type"] in kind.get("enum", []) or instance["type"] == kind.get("const"):
            return name
    return schema_name


def assert_matches(instance: Any, schema_name: str) -> None:
    """Fail with the most relevant schema violation."""
    schema_name = _branch_for(schema_name, instance)
    errors = list(_validator(schema_name).iter_errors(instance))
    if errors:
        best = best_match(errors)
        where = "/".join(map(str, best.absolute_path)) or "(root)"
        pytest.fail(f"not a valid {schema_name}: {where}: {best.message[:500]}")


def sse_events(response: Any) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) for each SSE event of a raw httpx2 response, `[DONE]` as the string."""
    import json

    events = []
    for block in response.text.split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            joined = "\n".join(data)
            events.append((name, joined if joined == "[DONE]" else json.loads(joined)))
    return events
