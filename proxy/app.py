"""The ASGI app: OpenAI-compatible routes in front of the upstream, with the guard pipeline on every request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx2
import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from detectors.models.runtime import limit_blas_threads
from escalation.answers import JsonAnswer
from escalation.routes import escalation_routes, feedback_routes
from escalation.service import EscalationService
from escalation.stream_tail import StreamTail
from escalation.triggers import handoff_message
from policies.schema import Action
from proxy.errors import (
    AuthenticationFailed,
    GuardBlocked,
    InvalidJSON,
    PayloadTooLarge,
    RailguardError,
    ReaskRequested,
    RouteNotFound,
    UnsupportedMediaType,
    UpstreamError,
)
from proxy.events import EventBus, Sink
from proxy.exchange import Exchange
from proxy.guards import build_guards
from proxy.health import ReadinessCheck, WarmUp, run_checks
from proxy.identity import ClientKeys, bearer_token, resolve_identity
from proxy.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from proxy.observability import Observability, ObservedRequests, ObservedUpstream
from proxy.pipeline import Layer, Pipeline
from proxy.policy_store import PolicyStore
from proxy.refusals import refusal_body, refusal_stream
from proxy.settings import Settings
from proxy.sinks import JsonLinesSink, MemorySink, StdoutSink, WebhookSink
from proxy.state import StateError, StateStore, open_store
from proxy.streaming import EventStreamResponse, GuardedStream
from proxy.texts import RequestView, RouteKind
from proxy.upstream import UpstreamClient, relayable_response_headers

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("railguard")

GUARDED_ROUTES: dict[str, RouteKind] = {
    "/v1/chat/completions": RouteKind.CHAT,
    "/v1/completions": RouteKind.COMPLETIONS,
    "/v1/responses": RouteKind.RESPONSES,
    "/v1/embeddings": RouteKind.EMBEDDINGS,
}


@dataclass
class Services:
    """Everything a request handler needs, built once per process."""

    settings: Settings
    events: EventBus
    pipeline: Pipeline
    policies: PolicyStore
    upstream: UpstreamClient
    client_keys: ClientKeys | None
    recent: MemorySink
    store: StateStore  # shared state: rate limits, escalation counters (memory, or Redis across replicas)
    escalation: EscalationService
    observability: Observability
    warm_up: WarmUp = field(default_factory=WarmUp)
    # Readiness checks other parts plug in (e.g. a store's ping): each returns None when fine, else the reason.
    readiness: list[ReadinessCheck] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def build_sinks(settings: Settings, recent: MemorySink) -> list[Sink]:
    sinks: list[Sink] = [recent]
    if settings.events_jsonl is not None:
        sinks.append(
            JsonLinesSink(settings.events_jsonl, settings.events_jsonl_max_bytes, settings.events_jsonl_backups)
        )
    if settings.events_stdout:
        sinks.append(StdoutSink())
    if settings.events_webhook:
        sinks.append(WebhookSink(settings.events_webhook))
    return sinks


def build_observability(settings: Settings, tracer_provider: TracerProvider | None = None) -> Observability:
    if tracer_provider is None and settings.tracing == "off":
        return Observability(settings)
    try:
        from proxy.tracing import Tracing
    except ImportError as exc:
        raise RuntimeError(f"tracing needs the otel extra: pip install 'railguard[otel]' ({exc})") from exc
    tracing = Tracing(tracer_provider) if tracer_provider is not None else Tracing.from_setting(settings.tracing)
    return Observability(settings, tracing)


def build_services(
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Services:
    recent = MemorySink()
    events = EventBus(build_sinks(settings, recent), settings.events_queue_size)
    observability = build_observability(settings, tracer_provider)
    observability.watch(events)
    services = Services(
        settings=settings,
        events=events,
        pipeline=Pipeline(events, observability),
        policies=PolicyStore(settings.policies, build_guards, events),
        upstream=ObservedUpstream(settings, observability, transport),
        client_keys=ClientKeys.from_file(settings.client_keys) if settings.client_keys else None,
        recent=recent,
        store=open_store(
            settings.redis_url.get_secret_value() if settings.redis_url else None,
            prefix=settings.redis_prefix,
            timeout=settings.redis_timeout,
            cooldown=settings.redis_cooldown,
            max_keys=settings.state_max_keys,
        ),
        observability=observability,
        escalation=EscalationService(settings, events),
    )
    services.readiness += [state_ready(services.store), review_store_ready(services.escalation)]
    return services


def state_ready(store: StateStore) -> ReadinessCheck:
    async def check() -> str | None:
        try:
            await store.ping()
        except StateError as exc:
            return f"shared state ({store.name}) unreachable: {exc}"
        return None

    return check


def review_store_ready(escalation: EscalationService) -> ReadinessCheck:
    async def check() -> str | None:
        return None if escalation.ready.is_set() else escalation.not_ready_reason or "review store starting"

    return check


# ---------------------------------------------------------------------------------------------- request plumbing


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {content_type or 'missing'!r}.")
    raw = await read_body(request, limit)
    if not raw.strip():
        raise InvalidJSON("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"We could not parse the JSON body of your request: {exc}.") from exc
    if not isinstance(body, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    return body


async def until_disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[Any]) -> Any:
    """Await ``work`` but cancel it (closing the upstream request) if the client goes away first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise ClientGone()
    finally:
        watcher.cancel()


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


def upstream_error_response(response: httpx2.Response, headers: dict[str, str]) -> Response:
    """Relay an upstream error if it is OpenAI-shaped JSON; otherwise say so in OpenAI shape (502)."""
    try:
        body = orjson.loads(response.content)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return Response(
                response.content,
                status_code=response.status_code,
                media_type="application/json",
                headers={**relayable_response_headers(response.headers), **headers},
            )
    except orjson.JSONDecodeError:
        pass
    error = UpstreamError(f"The upstream answered {response.status_code} without an OpenAI-shaped error body.")
    return error.response(headers)


# ---------------------------------------------------------------------------------------------- the guarded routes


class GuardedEndpoint:
    """POST /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings."""

    def __init__(self, kind: RouteKind) -> None:
        self.kind = kind

    async def handle(self, request: Request) -> Response:
        services: Services = request.app.state.services
        settings = services.settings
        body = await read_json(request, settings.max_body_bytes)
        identity = resolve_identity(request.headers, body, services.client_keys)
        view = RequestView(self.kind, body)
        active = services.policies.select(identity.tenant, request.url.path, view.model)
        exchange = Exchange(
            request_id=request.state.request_id,
            route=request.url.path,
            kind=self.kind,
            identity=identity,
            active=active,
            view=view,
            stream=bool(body.get("stream")) and self.kind is not RouteKind.EMBEDDINGS,
            store=services.store,
        )
        services.escalation.attach(exchange)
        try:
            response = await self.run(request, exchange, services)
        except BaseException:
            await asyncio.shield(exchange.finish())
            raise
        return finishing(response, exchange)

    async def run(self, request: Request, exchange: Exchange, services: Services) -> Response:
        try:
            await services.pipeline.check_request(exchange)
        except GuardBlocked as blocked:
            return self.blocked(exchange, blocked, services)
        except RailguardError as error:
            return error.response(exchange.railguard_headers())
        handoff = handoff_message(exchange)
        if handoff is not None:  # layer 5 hands the conversation to a person: no upstream answer is needed
            return self.proxy_answer(exchange, handoff, "stop", exchange.railguard_headers(), services)
        response = await self.ask_upstream(request, exchange, services, exchange.body, stream=exchange.stream)
        if isinstance(response, Response):
            return response
        if exchange.stream and "text/event-stream" in response.headers.get("content-type", ""):
            return self.streamed(exchange, response, services)
        if exchange.stream:
            await response.aread()
            await response.aclose()
        try:
            return await self.whole(exchange, response, services)
        except ReaskRequested as reask:
            # The format guard asks once more with the validation errors; it blocks if the new answer fails too.
            response = await self.ask_upstream(request, exchange, services, reask.body, stream=False)
            if isinstance(response, Response):
                return response
            return await self.whole(exchange, response, services)

    async def ask_upstream(
        self, request: Request, exchange: Exchange, services: Services, body: dict[str, Any], stream: bool
    ) -> httpx2.Response | Response:
        """The upstream's response to ``body``, or the response the client gets instead (the client left, 499; the
        upstream failed, its OpenAI-shaped error)."""
        try:
            upstream_response: httpx2.Response = await unless_disconnected(
                request,
                services.upstream.send(
                    "POST",
                    request.url.path.removeprefix("/v1"),
                    headers=request.headers,
                    content=orjson.dumps(body),
                    params=request.query_params,
                    stream=stream,
                ),
            )
        except ClientGone:
            services.pipeline.record_system(exchange, Layer.OUTPUT, "client_disconnected", Action.ALLOW)
            return Response(status_code=499)
        except UpstreamError as error:
            return error.response(exchange.railguard_headers())
        return upstream_response

    async def whole(self, exchange: Exchange, response: httpx2.Response, services: Services) -> Response:
        headers = exchange.railguard_headers()
        if response.status_code != 200:
            return upstream_error_response(response, headers)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return UpstreamError("The upstream answered 200 with a body that is not JSON.").response(headers)
        if not isinstance(answer, dict):
            return UpstreamError("The upstream answered 200 with JSON that is not an object.").response(headers)
        exchange.usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else None
        try:
            await services.pipeline.check_answer(exchange, answer)
        except GuardBlocked as blocked:
            return self.blocked(exchange, blocked, services)
        except RailguardError as error:
            return error.response(exchange.railguard_headers())
        await services.pipeline.finish_answer(exchange, JsonAnswer(self.kind, answer))
        return Response(
            orjson.dumps(answer),
            media_type="application/json",
            headers={**relayable_response_headers(response.headers), **exchange.railguard_headers()},
            background=BackgroundTask(services.pipeline.after_response, exchange),
        )

    def streamed(self, exchange: Exchange, response: httpx2.Response, services: Services) -> Response:
        stream = GuardedStream(exchange, services.pipeline, response)
        headers = {**relayable_response_headers(response.headers), **exchange.railguard_headers()}

        async def body() -> AsyncIterator[bytes]:
            # Layer 5 needs the whole answer: the tail holds back the closing events until it has scored it.
            tail = StreamTail(exchange.kind) if exchange.active.of(Layer.POST_RESPONSE) else None
            try:
                async for chunk in stream:
                    if tail is None:
                        yield chunk
                    elif released := tail.feed(chunk):
                        yield released
            finally:
                exchange.usage, exchange.answer_text = stream.usage, stream.delivered_text()
            if tail is not None:
                await services.pipeline.finish_answer(exchange, tail)
                late = {k: v for k, v in exchange.railguard_headers().items() if headers.get(k) != v}
                yield tail.close(late)

        headers.pop("content-type", None)
        headers["cache-control"] = "no-cache"
        headers["x-accel-buffering"] = "no"
        return EventStreamResponse(
            body(), headers=headers, background=BackgroundTask(services.pipeline.after_response, exchange)
        )

    def blocked(self, exchange: Exchange, blocked: GuardBlocked, services: Services) -> Response:
        policy = exchange.active.policy
        headers = {**exchange.railguard_headers(), **blocked.headers}
        if policy.refusal.style == "message" and self.kind is not RouteKind.EMBEDDINGS:
            return self.proxy_answer(exchange, blocked.user_message, "content_filter", headers, services)
        response = blocked.response(headers)
        response.background = BackgroundTask(services.pipeline.after_response, exchange)
        return response

    def proxy_answer(
        self, exchange: Exchange, text: str, finish_reason: str, headers: dict[str, str], services: Services
    ) -> Response:
        """An answer the proxy writes itself (a refusal or a hand-off), in the route's shape."""
        background = BackgroundTask(services.pipeline.after_response, exchange)
        if exchange.stream:
            return StreamingResponse(
                iter(refusal_stream(self.kind, exchange.model, text, finish_reason)),
                media_type="text/event-stream",
                headers=headers,
                background=background,
            )
        body = refusal_body(self.kind, exchange.model, text, finish_reason)
        return JSONResponse(body, headers=headers, background=background)


def finishing(response: Response, exchange: Exchange) -> Response:
    """Run ``exchange.finish()`` once the response has gone out (streams: once the stream has ended, or the client
    left), after any background work the response already had."""
    previous = response.background

    async def finish() -> None:
        try:
            if previous is not None:
                await previous()
        finally:
            await exchange.finish()

    response.background = BackgroundTask(finish)
    return response


# ---------------------------------------------------------------------------------------------- other routes


async def list_models(request: Request) -> Response:
    """GET /v1/models: relayed, and narrowed to the models the caller's policy allows."""
    services: Services = request.app.state.services
    identity = resolve_identity(request.headers, None, services.client_keys)
    response: httpx2.Response = await services.upstream.send("GET", "/models", headers=request.headers)
    if response.status_code != 200:
        return upstream_error_response(response, {})
    try:
        listing = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return UpstreamError("The upstream's model list is not JSON.").response()
    models = services.policies.select(identity.tenant, request.url.path, "*").policy.generation.models
    if models is not None and isinstance(listing, dict) and isinstance(listing.get("data"), list):
        import fnmatch

        allowed = [*models.allow]
        listing["data"] = [
            m
            for m in listing["data"]
            if isinstance(m, dict) and any(fnmatch.fnmatchcase(str(m.get("id")), p) for p in allowed)
        ] + [{"id": alias, "object": "model", "created": 0, "owned_by": "railguard-alias"} for alias in models.aliases]
    return Response(
        orjson.dumps(listing), media_type="application/json", headers=relayable_response_headers(response.headers)
    )


async def passthrough(request: Request) -> Response:
    """Other /v1/* paths: relayed untouched (and recorded), or refused when configured."""
    services: Services = request.app.state.services
    if services.settings.passthrough == "refuse":
        raise RouteNotFound(f"Invalid URL ({request.method} {request.url.path})")
    identity = resolve_identity(request.headers, None, services.client_keys)
    log.info("passthrough %s %s tenant=%s", request.method, request.url.path, identity.tenant)
    _record_passthrough(services, request, identity.tenant, identity.user)
    content = request.stream() if request.method in ("POST", "PUT", "PATCH") else None
    response = await services.upstream.send(
        request.method,
        request.url.path.removeprefix("/v1"),
        headers=request.headers,
        content=content,
        params=request.query_params,
        stream=True,
    )
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers={k: v for k, v in response.headers.items() if k.lower() not in ("transfer-encoding", "connection")},
        background=BackgroundTask(response.aclose),
    )


def _record_passthrough(services: Services, request: Request, tenant: str, user: str | None) -> None:
    from proxy.events import GuardrailEvent

    snapshot = services.policies.snapshot
    services.events.emit(
        GuardrailEvent(
            layer="input",
            trigger="passthrough",
            action="allow",
            guard="proxy",
            request_id=request.state.request_id,
            tenant=tenant,
            user=user,
            policy="-",
            policy_version=snapshot.policy_set.version,
            route=request.url.path,
            details={"method": request.method},
        )
    )


async def healthz(request: Request) -> Response:
    """Liveness: the process serves HTTP."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: policies loaded, models warm, every registered check passing; else 503 with the reasons."""
    services: Services = request.app.state.services
    problems = [services.warm_up.problem] if services.warm_up.problem else []
    problems += await run_checks(services.readiness, services.settings.readiness_timeout)
    policies = services.policies
    body: dict[str, Any] = {"policies": policies.snapshot.policy_set.version}
    if policies.status.last_error:
        # Still ready: the last good version serves. Said here so a rejected edit is visible.
        body["policy_reload_error"] = policies.status.last_error[:5]
    if problems:
        return JSONResponse({"status": "not ready", "reason": "; ".join(problems), **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})


async def metrics(request: Request) -> Response:
    """Prometheus metrics (the sum over every worker when there are several)."""
    services: Services = request.app.state.services
    collected = services.observability.metrics
    if collected is None:
        raise RouteNotFound("Metrics are turned off (--no-metrics).")
    return Response(await asyncio.to_thread(collected.exposition), media_type=METRICS_CONTENT_TYPE)


def require_admin(request: Request) -> None:
    services: Services = request.app.state.services
    expected = services.settings.admin_token
    if expected is None:
        raise RouteNotFound("Admin endpoints are disabled (set RAILGUARD_ADMIN_TOKEN).")
    import hmac

    if not hmac.compare_digest((bearer_token(request.headers) or "").encode(), expected.get_secret_value().encode()):
        raise AuthenticationFailed("Missing or wrong admin token.", code="invalid_admin_token")


async def admin_policies(request: Request) -> Response:
    require_admin(request)
    services: Services = request.app.state.services
    return JSONResponse(services.policies.describe())


async def admin_events(request: Request) -> Response:
    require_admin(request)
    services: Services = request.app.state.services
    limit = min(int(request.query_params.get("limit", "100")), 1000)
    stats = services.events.stats
    return JSONResponse(
        {
            "events": list(services.recent.events)[-limit:],
            "emitted": stats.emitted,
            "written": stats.written,
            "dropped": stats.dropped,
            "sink_errors": stats.sink_errors,
        }
    )


async def not_found(request: Request) -> Response:
    raise RouteNotFound(f"Invalid URL ({request.method} {request.url.path})")


# ---------------------------------------------------------------------------------------------- errors


async def railguard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RailguardError)
    return exc.response()


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return RouteNotFound(f"Invalid URL ({request.method} {request.url.path})").response()
    if exc.status_code == 405:
        error = RailguardError(
            f"Method {request.method} is not allowed for {request.url.path}.", code="method_not_allowed"
        )
        error.status_code = 405
        error.error_type = "invalid_request_error"
        return error.response()
    error = RailguardError(str(exc.detail))
    error.status_code = exc.status_code
    error.error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return error.response()


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return RailguardError(
        "The proxy hit an internal error; the request was not completed.", code="internal_error"
    ).response()


# ---------------------------------------------------------------------------------------------- the app


def create_app(
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the app. Policies are loaded (and validated) here, so a bad policy fails at start-up.
    ``tracer_provider`` turns tracing on with a provider of the caller's (tests); otherwise `--tracing` decides."""
    # torch owns the cores; the heads' small numpy products stay on the calling thread. Here, not in the lifespan:
    # the app is built on the main thread, and OpenBLAS's limit only takes from the thread that first set it.
    limit_blas_threads()
    services = build_services(settings, transport, tracer_provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.events.start()
        try:
            await services.store.ping()
        except StateError as exc:  # not fatal: each request then follows its policy's rate_limits.on_error
            log.warning("shared state (%s) unreachable at start-up: %s", services.store.name, exc)
        await services.escalation.start()
        # Normally the review store is up in milliseconds; a database that is down only delays layer 5's writes.
        await services.escalation.wait_ready(10.0)
        if settings.policies is not None:
            services.tasks.append(asyncio.create_task(services.policies.watch(), name="railguard-policy-watch"))
        services.tasks.append(services.warm_up.start(services.policies.warm_up))
        try:
            yield
        finally:
            # The server has stopped accepting and waited (up to --shutdown-grace) for requests in flight; those it
            # had to cut are finishing their clean-up now (and may still emit events). Then flush the events.
            if not await services.observability.drained(within=2.0):
                log.warning("%d request(s) still in flight at shutdown", services.observability.in_flight)
            for task in services.tasks:
                task.cancel()
            await services.upstream.aclose()
            await services.escalation.stop()
            await services.store.aclose()
            await services.events.stop(settings.events_flush_timeout)
            services.observability.shutdown()
            log.info(
                "stopped; events written: %d, dropped: %d", services.events.stats.written, services.events.stats.dropped
            )

    routes = [Route(path, GuardedEndpoint(kind).handle, methods=["POST"]) for path, kind in GUARDED_ROUTES.items()]
    routes += [
        Route("/v1/models", list_models, methods=["GET"]),
        *feedback_routes(),
        Route("/v1/{path:path}", passthrough, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/admin/policies", admin_policies, methods=["GET"]),
        Route("/admin/events", admin_events, methods=["GET"]),
        *escalation_routes(require_admin),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        RailguardError: railguard_error,
        HTTPException: http_error,
        Exception: unexpected_error,
    }
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.services = services
    app.add_middleware(ObservedRequests, observability=services.observability, routes=routes)
    return app


def app_from_env() -> Starlette:
    """uvicorn factory (`proxy.app:app_from_env`): settings from `RAILGUARD_*` and `RAILGUARD_CONFIG` (a YAML file)."""
    import os
    from pathlib import Path

    from proxy.logs import configure_logging

    config = os.environ.get("RAILGUARD_CONFIG")
    settings = Settings.load(Path(config) if config else None)
    configure_logging(settings.log_level)  # each worker process configures its own logging
    return create_app(settings)
