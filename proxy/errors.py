"""Railguard's exception hierarchy. Every error a client can see is OpenAI-shaped.

    RailguardError                      500 server_error
    ├── ClientError                     400 invalid_request_error (bad input from the client)
    │   ├── InvalidJSON                 400 code=invalid_json
    │   ├── InvalidParameter            400 code=invalid_value / missing_required_parameter
    │   ├── AuthenticationFailed        401 authentication_error
    │   ├── RouteNotFound               404 code=unknown_url
    │   ├── ResourceNotFound            404 code=not_found (e.g. no such review)
    │   ├── StateConflict               409 code=conflict (e.g. a review claimed by someone else)
    │   ├── PayloadTooLarge             413 code=request_too_large
    │   ├── UnsupportedMediaType        415 code=unsupported_media_type
    │   ├── Unprocessable               422
    │   └── RateLimited                 429 rate_limit_error (with Retry-After and x-ratelimit-* headers)
    ├── GuardBlocked                    400 code=content_filter (a guard blocked the request or the answer)
    ├── StoreUnavailable                503 code=review_store_unavailable
    └── UpstreamError                   502 code=upstream_error (the upstream failed or answered garbage)
        ├── UpstreamTimeout             504 code=upstream_timeout
        └── UpstreamUnavailable         503 code=upstream_unavailable (circuit breaker open)

``ConfigurationError`` is separate: it is raised at start-up or reload, never returned to a client.
``ReaskRequested`` is internal too: the format guard asks the route to send the request upstream once more.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class RailguardError(Exception):
    status_code = 500
    error_type = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    def response(self, extra_headers: dict[str, str] | None = None) -> Response:
        headers = {**self.headers, **(extra_headers or {})}
        return Response(
            orjson.dumps(self.body()), status_code=self.status_code, headers=headers, media_type="application/json"
        )


class ClientError(RailguardError):
    status_code = 400
    error_type = "invalid_request_error"


class InvalidJSON(ClientError):
    default_code = "invalid_json"


class InvalidParameter(ClientError):
    default_code = "invalid_value"


class AuthenticationFailed(ClientError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class RouteNotFound(ClientError):
    status_code = 404
    default_code = "unknown_url"


class ResourceNotFound(ClientError):
    status_code = 404
    default_code = "not_found"


class StateConflict(ClientError):
    status_code = 409
    default_code = "conflict"


class PayloadTooLarge(ClientError):
    status_code = 413
    default_code = "request_too_large"


class UnsupportedMediaType(ClientError):
    status_code = 415
    default_code = "unsupported_media_type"


class Unprocessable(ClientError):
    status_code = 422
    default_code = "unprocessable_entity"


class RateLimited(ClientError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class GuardBlocked(RailguardError):
    """A guard blocked the request or the answer. ``layer`` and ``trigger`` travel in the message and headers."""

    status_code = 400
    error_type = "invalid_request_error"
    default_code = "content_filter"

    def __init__(self, message: str, *, layer: str, trigger: str, guard: str) -> None:
        super().__init__(
            f"{message} (railguard: blocked by {layer}/{trigger})",
            headers={"x-railguard-blocked": f"{layer}/{trigger}", "x-railguard-guard": guard},
        )
        self.user_message = message
        self.layer = layer
        self.trigger = trigger
        self.guard = guard


class StoreUnavailable(RailguardError):
    status_code = 503
    default_code = "review_store_unavailable"


class UpstreamError(RailguardError):
    status_code = 502
    default_code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    default_code = "upstream_timeout"


class UpstreamUnavailable(UpstreamError):
    status_code = 503
    default_code = "upstream_unavailable"


class ConfigurationError(Exception):
    """Bad configuration or policy, found at start-up or on reload. Never sent to a client."""


class ReaskRequested(Exception):
    """An answer failed format validation and the policy says to ask again: the route sends ``body`` (the request
    with the rejected answer and the errors appended) upstream once more and checks the new answer. Never reaches a
    client."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("re-ask the upstream")
        self.body = body
