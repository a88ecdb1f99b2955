"""The reviewer page: server-rendered HTML (Jinja2 templates, plain forms, no JavaScript, no build step).

    /admin/ui                   the queue (open and claimed reviews, most urgent first)
    /admin/ui/reviews/{id}      one review: conversation, answer, findings; claim, release, resolve
    /admin/ui/login             the admin token and the reviewer's name -> a session cookie

The session cookie holds an HMAC of the admin token (never the token), is HttpOnly and SameSite=Strict, and every
form carries a CSRF token derived from it, so another site cannot make a reviewer's browser act.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from escalation.api import Resolution, escalation, resolve_review, store_errors
from escalation.store import StoreError
from proxy.errors import AuthenticationFailed, RailguardError, RouteNotFound

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
SESSION_COOKIE = "railguard_review_session"
REVIEWER_COOKIE = "railguard_reviewer"
PREFIX = "/admin/ui"


def _ago(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    seconds = max(0, int(time.time() - timestamp))
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


TEMPLATES.env.filters["ago"] = _ago


def _secret(request: Request) -> str:
    token = request.app.state.services.settings.admin_token
    if token is None:
        raise RouteNotFound("Admin endpoints are disabled (set RAILGUARD_ADMIN_TOKEN).")
    return str(token.get_secret_value())


def _mac(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


class ReviewerPage:
    def reviewer(self, request: Request) -> str | None:
        """The signed-in reviewer's name, or None."""
        secret = _secret(request)
        session = request.cookies.get(SESSION_COOKIE, "")
        name = request.cookies.get(REVIEWER_COOKIE, "")
        if name and hmac.compare_digest(session, _mac(secret, "session:" + name)):
            return name
        return None

    def csrf(self, request: Request, reviewer: str) -> str:
        return _mac(_secret(request), "csrf:" + reviewer)

    async def form(self, request: Request, reviewer: str) -> dict[str, str]:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not hmac.compare_digest(values.get("csrf", ""), self.csrf(request, reviewer)):
            raise AuthenticationFailed("The form is stale; reload the page.", code="invalid_csrf_token")
        return values

    def render(self, request: Request, template: str, code: int = 200, **context: Any) -> Response:
        return TEMPLATES.TemplateResponse(request, template, {"prefix": PREFIX, **context}, status_code=code)

    # -- sign-in --------------------------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        secret = _secret(request)
        if request.method == "GET":
            return self.render(request, "login.html")
        form = await request.form()
        token, name = str(form.get("token", "")), str(form.get("reviewer", "")).strip()[:200]
        if not name or not hmac.compare_digest(token.encode(), secret.encode()):
            return self.render(request, "login.html", code=401, error="Wrong admin token, or no name given.")
        response = RedirectResponse(PREFIX, status_code=303)
        for cookie, value in ((SESSION_COOKIE, _mac(secret, "session:" + name)), (REVIEWER_COOKIE, name)):
            response.set_cookie(cookie, value, httponly=True, samesite="strict", path=PREFIX, max_age=12 * 3600)
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        response.delete_cookie(REVIEWER_COOKIE, path=PREFIX)
        return response

    # -- the queue and one review ---------------------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        reviewer = self.reviewer(request)
        if reviewer is None:
            return RedirectResponse(PREFIX + "/login", status_code=303)
        status = request.query_params.get("status", "active")
        store = escalation(request).store
        if status == "active":
            open_, _ = await store.reviews(status="open", limit=200)
            claimed, _ = await store.reviews(status="claimed", limit=200)
            found = open_ + claimed
        else:
            found, _ = await store.reviews(status=status, limit=200)
        return self.render(
            request,
            "queue.html",
            reviewer=reviewer,
            reviews=found,
            status=status,
            csrf=self.csrf(request, reviewer),
            message=request.query_params.get("message"),
        )

    async def review(self, request: Request) -> Response:
        reviewer = self.reviewer(request)
        if reviewer is None:
            return RedirectResponse(PREFIX + "/login", status_code=303)
        found = await escalation(request).store.review(request.path_params["id"])
        if found is None:
            return self.render(request, "missing.html", code=404, reviewer=reviewer)
        return self.render(
            request,
            "review.html",
            reviewer=reviewer,
            review=found,
            csrf=self.csrf(request, reviewer),
            message=request.query_params.get("message"),
            verdicts=("correct_block", "false_positive", "missed_harm", "fine"),
        )

    async def act(self, request: Request) -> Response:
        """POST .../claim, .../release, .../resolve from the page's forms."""
        reviewer = self.reviewer(request)
        if reviewer is None:
            return RedirectResponse(PREFIX + "/login", status_code=303)
        values = await self.form(request, reviewer)
        review_id, action = request.path_params["id"], request.path_params["action"]
        service = escalation(request)
        try:
            if action == "claim":
                service.audit("review_claimed", await service.store.claim(review_id, reviewer), reviewer)
                message = "Claimed."
            elif action == "release":
                service.audit("review_released", await service.store.release(review_id, reviewer), reviewer)
                message = "Released."
            elif action == "resolve":
                resolution = Resolution(
                    reviewer=reviewer,
                    verdict=values.get("verdict", ""),
                    notes=values.get("notes") or None,
                    category=values.get("category") or None,
                    learn=values.get("learn") == "on",
                )
                resolved = await resolve_review(request, resolution)
                learned = len(resolved.get("learned") or [])
                message = f"Resolved as {resolution.verdict}." + (" Added to the memory." if learned else "")
            else:
                raise RouteNotFound(f"Invalid URL ({request.method} {request.url.path})")
        except StoreError as error:
            message = str(store_errors(error))
        except RailguardError as error:
            message = error.message
        except ValueError as error:  # a bad verdict from a hand-made form
            message = f"Invalid form: {error}"
        back = values.get("back") or f"{PREFIX}/reviews/{review_id}"
        if not back.startswith(PREFIX):
            back = PREFIX
        separator = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{separator}message={quote(message)}", status_code=303)
