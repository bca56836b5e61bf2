"""API fixtures: tokens for people with each role, and a client that sends one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from jobs import tokens
from jobs.models import Membership, Role, Team


class ApiClient:
    """The Django test client with `Authorization: Bearer <token>` on every request."""

    def __init__(self, raw_token: str) -> None:
        # Enforced CSRF proves the API never relies on the session.
        self.client = Client(enforce_csrf_checks=True)
        self.token = raw_token
        self.headers = {"Authorization": f"Bearer {raw_token}"}

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.get(path, data, headers=self.headers, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.post(path, data, headers=self.headers, **extra)

    def post_json(self, path: str, data: Any) -> Any:
        return self.client.post(path, data, content_type="application/json", headers=self.headers)


@pytest.fixture
def make_api() -> Callable[..., ApiClient]:
    def _make(user: Any, team: Team, role: str | None = None) -> ApiClient:
        if role is not None:
            Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})
        _token, raw = tokens.create_token(user, team, "test")
        return ApiClient(raw)

    return _make


@pytest.fixture
def api(make_api: Callable[..., ApiClient], user: Any, team: Team) -> ApiClient:
    """Alice (owner of `team`) with a token."""
    return make_api(user, team)


@pytest.fixture
def viewer_api(make_api: Callable[..., ApiClient], django_user_model: Any, team: Team) -> ApiClient:
    viewer = django_user_model.objects.create_user("victor", password="pw-victor-123")
    return make_api(viewer, team, Role.VIEWER)


@pytest.fixture
def other_api(make_api: Callable[..., ApiClient], other_user: Any, other_team: Team) -> ApiClient:
    return make_api(other_user, other_team)


def error_of(response: Any) -> dict[str, Any]:
    """The one error shape every API failure has."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    return body["error"]
