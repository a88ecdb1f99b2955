"""Layer 5's HTTP routes, handed to the app: the reviewer API and page under `/admin`, and `POST /v1/feedback`."""

from __future__ import annotations

from starlette.routing import Route

from escalation.api import Authorize, ReviewerApi, post_feedback
from escalation.page import PREFIX, ReviewerPage


def escalation_routes(authorize: Authorize) -> list[Route]:
    api = ReviewerApi(authorize)
    page = ReviewerPage()
    return [
        Route("/admin/reviews", api.list_reviews, methods=["GET"]),
        Route("/admin/reviews/metrics", api.metrics, methods=["GET"]),
        Route("/admin/reviews/{id}", api.get_review, methods=["GET"]),
        Route("/admin/reviews/{id}/claim", api.claim, methods=["POST"]),
        Route("/admin/reviews/{id}/release", api.release, methods=["POST"]),
        Route("/admin/reviews/{id}/resolve", api.resolve, methods=["POST"]),
        Route("/admin/feedback", api.list_feedback, methods=["GET"]),
        Route("/admin/requests/{request_id}", api.request_record, methods=["GET"]),
        Route("/admin/memory", api.list_memory, methods=["GET"]),
        Route("/admin/memory/{id}", api.delete_memory, methods=["DELETE"]),
        Route(PREFIX, page.queue, methods=["GET"]),
        Route(PREFIX + "/login", page.login, methods=["GET", "POST"]),
        Route(PREFIX + "/logout", page.logout, methods=["POST"]),
        Route(PREFIX + "/reviews/{id}", page.review, methods=["GET"]),
        Route(PREFIX + "/reviews/{id}/{action}", page.act, methods=["POST"]),
    ]


def feedback_routes() -> list[Route]:
    return [Route("/v1/feedback", post_feedback, methods=["POST"])]
