"""Who may do what in a team.

Four roles, from most to least powerful: owner, admin, member, viewer.
- Viewers look: they cannot submit or cancel jobs, so they can never spend money.
- Members submit and cancel jobs and manage their own API tokens.
- Admins also manage provider keys, budgets, price tables, members and the audit log.
- Owners are admins who may also grant, change or remove the owner role.

Every check reads the live Membership row, so a demotion takes effect at once for pages and
API tokens alike. Views use the decorators; services and the API use the plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import render

from jobs.models import Membership, Role

RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

VIEWER_CANNOT_SPEND = (
    "Viewers can look at jobs and results but cannot submit or cancel jobs. "
    "Ask an owner or admin of the team to make you a member."
)
MANAGERS_ONLY = "Only the team's owners and admins can do this."
OWNERS_ONLY = "Only an owner can grant, change or remove the owner role."


class PermissionRefused(Exception):
    """A team member tried something their role does not allow; the message is for them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _rank(membership: Membership | None) -> int:
    if membership is None:
        return -1
    return RANK.get(membership.role, -1)


def can_spend(membership: Membership | None) -> bool:
    """Submit or cancel jobs: members and above."""
    return _rank(membership) >= RANK[Role.MEMBER]


def can_manage(membership: Membership | None) -> bool:
    """Provider keys, budgets, price tables, members, audit log: owners and admins."""
    return _rank(membership) >= RANK[Role.ADMIN]


def is_owner(membership: Membership | None) -> bool:
    return _rank(membership) >= RANK[Role.OWNER]


def require_manage(membership: Membership | None) -> None:
    if not can_manage(membership):
        raise PermissionRefused(MANAGERS_ONLY)


def forbidden(request: HttpRequest, message: str) -> HttpResponseBase:
    """A 403 in the form the caller understands: JSON for scripts, a page for people."""
    if _wants_json(request):
        return JsonResponse({"error": message}, status=403)
    return render(request, "team/forbidden.html", {"message": message}, status=403)


def _wants_json(request: HttpRequest) -> bool:
    # Browsers navigating and htmx swapping want a page; upload scripts read {"error": ...}.
    if request.headers.get("HX-Request"):
        return False
    return "text/html" not in request.headers.get("Accept", "")


def _role_decorator(check: Callable[[Membership | None], bool], message: str) -> Callable:
    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not check(getattr(request, "membership", None)):
                return forbidden(request, message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# Put these *inside* `team_required`, so anonymous visitors are sent to log in first.
spend_required = _role_decorator(can_spend, VIEWER_CANNOT_SPEND)
manage_required = _role_decorator(can_manage, MANAGERS_ONLY)


def spend_required_for_post(view: Callable[..., HttpResponseBase]) -> Callable:
    """Pages anyone may read, whose POST spends money (the upload page)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST" and not can_spend(getattr(request, "membership", None)):
            return forbidden(request, VIEWER_CANNOT_SPEND)
        return view(request, *args, **kwargs)

    return wrapped
