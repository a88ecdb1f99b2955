"""The current request's ids, visible to everything that runs on its behalf (logs, events) without passing them along.

Context variables follow the request into the tasks it starts (streamed bodies, background work), so a log line or
an event written anywhere on the request's path carries its request id and trace id.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("railguard_request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("railguard_trace_id", default=None)

# W3C trace context: version-traceid-parentid-flags (https://www.w3.org/TR/trace-context/#traceparent-header).
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def current_request_id() -> str | None:
    return request_id_var.get()


def current_trace_id() -> str | None:
    return trace_id_var.get()


def trace_id_from_traceparent(value: str | None) -> str | None:
    """The trace id a caller sent in `traceparent`, so logs and events join the caller's trace even without
    OpenTelemetry installed. An all-zero id is invalid by the spec."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)
