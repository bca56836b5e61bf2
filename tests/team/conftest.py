"""Team fixtures: people with each role in Alice's team, and clients logged in as them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from jobs.models import Membership, Team


@pytest.fixture
def join(django_user_model: Any, team: Team) -> Callable[..., Any]:
    """Create a user with a role in `team` (Alice is its owner)."""

    def _join(username: str, role: str, to: Team | None = None) -> Any:
        person = django_user_model.objects.filter(username=username).first()
        if person is None:
            person = django_user_model.objects.create_user(username, password=f"pw-{username}-1")
        Membership.objects.create(team=to or team, user=person, role=role)
        return person

    return _join


@pytest.fixture
def login_as(join: Callable[..., Any]) -> Callable[..., Client]:
    """A client logged in as a new member of `team` with this role."""

    def _login(username: str, role: str) -> Client:
        person = join(username, role)
        client = Client()
        client.force_login(person)
        return client

    return _login


def membership(team: Team, username: str) -> Membership:
    return Membership.objects.select_related("user", "team").get(team=team, user__username=username)
