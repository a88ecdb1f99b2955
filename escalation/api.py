"""The reviewer API (`/admin/reviews`, `/admin/feedback`, `/admin/requests/{id}`, `/admin/memory`; bearer
`RAILGUARD_ADMIN_TOKEN`) and the feedback endpoint clients call (`POST /v1/feedback`).

    GET  /admin/reviews?status=open&trigger=violation&policy=..&tenant=..&min_priority=high&verdict=..&limit=&offset=
    GET  /admin/reviews/metrics?since=<unix s>&until=<unix s>
    GET  /admin/reviews/{id}
    POST /admin/reviews/{id}/claim     {"reviewer": "alice"}                      409 when someone else holds it
    POST /admin/reviews/{id}/release   {"reviewer": "alice"}
    POST /admin/reviews/{id}/resolve   {"reviewer": "alice", "verdict": "correct_block", "notes": "..",
                                        "category": "injection", "learn": true}
    GET  /admin/feedback?request_id=..&max_score=0.5
    GET  /admin/requests/{request_id}  the decision record, its reviews and its feedback
    GET  /admin/memory?kind=attack&include_removed=false
    DELETE /admin/memory/{id}?actor=alice

    POST /v1/feedback  {"request_id": "rg-...", "rating": "up" | "down" | 1..5, "comment": "..", "category": ".."}
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from escalation.masking import Masker
from escalation.metrics import review_metrics
from escalation.service import EscalationService
from escalation.store import PRIORITIES, Conflict, NotFound, StoreError
from policies.schema import Learning
from proxy.errors import (
    InvalidJSON,
    InvalidParameter,
    RailguardError,
    ResourceNotFound,
    StateConflict,
    StoreUnavailable,
)
from proxy.events import GuardrailEvent
from proxy.identity import resolve_identity

Authorize = Callable[[Request], None]
MAX_BODY = 64 * 1024


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewerAction(Body):
    reviewer: str = Field(min_length=1, max_length=200)


class Resolution(ReviewerAction):
    verdict: Literal["correct_block", "false_positive", "missed_harm", "fine"]
    notes: str | None = Field(None, max_length=10_000)
    category: str | None = Field(None, max_length=64)
    learn: bool = True
    """Apply the policy's learning rules (attack / allow memory) to this verdict."""


class Feedback(Body):
    request_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"] | int
    comment: str | None = Field(None, max_length=5000)
    category: str | None = Field(None, max_length=64)


async def parse(request: Request, model: type[Any]) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidParameter("The request body is too large.")
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"We could not parse the JSON body of your request: {exc}.") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidParameter(f"{where or 'body'}: {first['msg']}", param=where) from exc


def escalation(request: Request) -> EscalationService:
    service: EscalationService = request.app.state.services.escalation
    if not service.ready.is_set():
        raise StoreUnavailable(f"The review store is not available: {service.not_ready_reason or 'starting'}.")
    return service


def learning_for(request: Request, policy: str) -> Learning:
    active = request.app.state.services.policies.snapshot.active.get(policy)
    return active.policy.post_response.learning if active is not None else Learning()


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return max(low, min(high, int(value)))
    except ValueError as exc:
        raise InvalidParameter(f"{name} must be an integer.", param=name) from exc


def _float(request: Request, name: str, default: float) -> float:
    value = request.query_params.get(name)
    try:
        return float(value) if value is not None else default
    except ValueError as exc:
        raise InvalidParameter(f"{name} must be a number (Unix seconds).", param=name) from exc


def store_errors(error: StoreError) -> RailguardError:
    if isinstance(error, NotFound):
        return ResourceNotFound(str(error))
    if isinstance(error, Conflict):
        return StateConflict(str(error))
    return StoreUnavailable(str(error))


class ReviewerApi:
    def __init__(self, authorize: Authorize) -> None:
        self.authorize = authorize

    async def list_reviews(self, request: Request) -> Response:
        self.authorize(request)
        service = escalation(request)
        query = request.query_params
        priority = query.get("min_priority")
        if priority is not None and priority not in PRIORITIES:
            raise InvalidParameter(f"min_priority must be one of {', '.join(PRIORITIES)}.", param="min_priority")
        found, total = await service.store.reviews(
            status=query.get("status"),
            trigger=query.get("trigger"),
            policy=query.get("policy"),
            tenant=query.get("tenant"),
            min_priority=PRIORITIES[priority] if priority else None,
            verdict=query.get("verdict"),
            request_id=query.get("request_id"),
            limit=_int(request, "limit", 50, 1, 500),
            offset=_int(request, "offset", 0, 0, 10_000_000),
        )
        return JSONResponse({"object": "list", "data": found, "total": total})

    async def get_review(self, request: Request) -> Response:
        self.authorize(request)
        found = await escalation(request).store.review(request.path_params["id"])
        if found is None:
            raise ResourceNotFound(f"No review {request.path_params['id']}.")
        return JSONResponse(found)

    async def claim(self, request: Request) -> Response:
        return await self._transition(request, "claim")

    async def release(self, request: Request) -> Response:
        return await self._transition(request, "release")

    async def _transition(self, request: Request, action: Literal["claim", "release"]) -> Response:
        self.authorize(request)
        body: ReviewerAction = await parse(request, ReviewerAction)
        service = escalation(request)
        change = service.store.claim if action == "claim" else service.store.release
        try:
            review = await change(request.path_params["id"], body.reviewer)
        except StoreError as error:
            raise store_errors(error) from error
        service.audit("review_claimed" if action == "claim" else "review_released", review, body.reviewer)
        return JSONResponse(review)

    async def resolve(self, request: Request) -> Response:
        self.authorize(request)
        body: Resolution = await parse(request, Resolution)
        review = await resolve_review(request, body)
        return JSONResponse(review)

    async def metrics(self, request: Request) -> Response:
        self.authorize(request)
        until = _float(request, "until", time.time() + 1)
        since = _float(request, "since", until - 7 * 86_400)
        counts, rows = await escalation(request).store.metric_rows(since, until)
        return JSONResponse(review_metrics(counts, rows, since, until))

    async def list_feedback(self, request: Request) -> Response:
        self.authorize(request)
        service = escalation(request)
        max_score = request.query_params.get("max_score")
        found, total = await service.store.feedback(
            request_id=request.query_params.get("request_id"),
            tenant=request.query_params.get("tenant"),
            max_score=_float(request, "max_score", 1.0) if max_score is not None else None,
            limit=_int(request, "limit", 50, 1, 500),
            offset=_int(request, "offset", 0, 0, 10_000_000),
        )
        for item in found:
            item["decision"] = await service.store.decision(item["request_id"])
        return JSONResponse({"object": "list", "data": found, "total": total})

    async def request_record(self, request: Request) -> Response:
        self.authorize(request)
        service = escalation(request)
        request_id = request.path_params["request_id"]
        decision = await service.store.decision(request_id)
        found, _ = await service.store.reviews(request_id=request_id, limit=100)
        notes, _ = await service.store.feedback(request_id=request_id, limit=100)
        if decision is None and not found and not notes:
            raise ResourceNotFound(f"Nothing is recorded for request {request_id}.")
        return JSONResponse({"request_id": request_id, "decision": decision, "reviews": found, "feedback": notes})

    async def list_memory(self, request: Request) -> Response:
        self.authorize(request)
        service = escalation(request)
        entries = await service.store.memory_entries(
            kind=request.query_params.get("kind"),
            include_removed=request.query_params.get("include_removed", "false").lower() == "true",
        )
        return JSONResponse({"object": "list", "data": entries, "attacks": len(service.attacks)})

    async def delete_memory(self, request: Request) -> Response:
        self.authorize(request)
        actor = request.query_params.get("actor") or "admin"
        try:
            entry = await escalation(request).forget(request.path_params["id"], actor)
        except StoreError as error:
            raise store_errors(error) from error
        return JSONResponse(entry)


async def resolve_review(request: Request, body: Resolution) -> dict[str, Any]:
    """Resolve, then learn from the verdict as the review's policy says (shared by the API and the page)."""
    service = escalation(request)
    masker = Masker()  # reviewers quote what they saw; their notes are masked like everything else
    notes = masker.text(body.notes, 10_000) if body.notes else None
    category = masker.text(body.category, 64) if body.category else None
    try:
        review = await service.store.resolve(request.path_params["id"], body.reviewer, body.verdict, notes, category)
    except StoreError as error:
        raise store_errors(error) from error
    service.audit("review_resolved", review, body.reviewer, verdict=body.verdict, category=body.category)
    if body.learn:
        learned = await service.learn(review, learning_for(request, review["policy"]), body.reviewer)
        review["learned"] = [entry["id"] for entry in learned]
    return review


# ---------------------------------------------------------------------------------------------- feedback (clients)


def rating_of(rating: str | int) -> tuple[int, str, float]:
    """(stored rating, scale, score on 0..1)."""
    if rating == "up":
        return 1, "thumbs", 1.0
    if rating == "down":
        return 0, "thumbs", 0.0
    if isinstance(rating, int) and 1 <= rating <= 5:
        return rating, "stars", (rating - 1) / 4
    raise InvalidParameter("rating must be 'up', 'down' or a whole number from 1 to 5.", param="rating")


async def linked_decision(service: EscalationService, request_id: str, within: float = 2.0) -> dict[str, Any] | None:
    """The request's decision record. Feedback may arrive right after the answer, before its record is written
    (that happens after the answer went out): wait a little for it."""
    deadline = time.monotonic() + within
    while True:
        found = await service.store.decision(request_id)
        if found is not None or time.monotonic() > deadline:
            return found
        await service.flush(within=0.5)
        await asyncio.sleep(0.2)


async def post_feedback(request: Request) -> Response:
    services = request.app.state.services
    body: Feedback = await parse(request, Feedback)
    identity = resolve_identity(request.headers, None, services.client_keys)
    rating, scale, score = rating_of(body.rating)
    service = escalation(request)
    decision = await linked_decision(service, body.request_id)
    if decision is None or decision["tenant"] != identity.tenant:
        # The same answer for another tenant's request: ids must not be probed across tenants.
        raise ResourceNotFound(f"No answer with request id {body.request_id} is known here.", param="request_id")
    masker = Masker()
    stored = await service.store.add_feedback(
        {
            "request_id": body.request_id,
            "tenant": identity.tenant,
            "user_id": masker.text(identity.user, 200) if identity.user else None,
            "rating": rating,
            "scale": scale,
            "score": score,
            "comment": masker.text(body.comment, 5000) if body.comment else None,
            "category": masker.text(body.category, 64) if body.category else None,
        }
    )
    service.events.emit(
        GuardrailEvent(
            layer="post_response",
            trigger="feedback",
            action="log",
            guard="feedback",
            request_id=body.request_id,
            tenant=identity.tenant,
            policy=str(decision["policy"]),
            policy_version=str(decision["policy_version"]),
            user=identity.user,
            details={"feedback_id": stored["id"], "rating": rating, "scale": scale, "category": stored["category"]},
        )
    )
    return JSONResponse(
        {
            "id": stored["id"],
            "object": "railguard.feedback",
            "created": int(stored["created_at"]),
            "request_id": body.request_id,
            "rating": body.rating,
            "score": score,
            "linked": {
                "policy": decision["policy"],
                "events": len(decision["events"] or []),
                "review_id": decision["review_id"],
            },
        }
    )
