"""Attach the current team to every request, so every view can scope its queries by it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from jobs.models import Membership

SESSION_KEY = "team_id"


class CurrentTeamMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        request.team = None  # type: ignore[attr-defined]
        if request.user.is_authenticated:
            membership = current_membership(request)
            request.membership = membership  # type: ignore[attr-defined]
            request.team = membership.team if membership else None  # type: ignore[attr-defined]
        return self.get_response(request)


def current_membership(request: HttpRequest) -> Membership | None:
    memberships = Membership.objects.select_related("team").filter(user=request.user)
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        membership = memberships.filter(team_id=chosen).first()
        if membership:
            return membership
    return memberships.order_by("created_at").first()
