"""`manage.py create_api_token` prints a working token alone on one line."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from jobs import services, tokens
from jobs.models import ApiToken

pytestmark = pytest.mark.django_db


def create(*args: str) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_prints_only_the_token(user: Any, team: Any) -> None:
    output = create("alice", "--name", "nightly sync")
    assert output.endswith("\n") and output.count("\n") == 1
    raw = output.strip()
    assert tokens.is_well_formed(raw)
    auth = tokens.authenticate(raw)
    assert auth is not None and auth.team == team and auth.user == user
    stored = ApiToken.objects.get()
    assert stored.name == "nightly sync" and stored.token_hash == tokens.hash_token(raw)
    assert raw not in str(list(ApiToken.objects.values()))


def test_several_teams_need_a_choice(user: Any, team: Any) -> None:
    second = services.create_team("Second studio", user)
    with pytest.raises(CommandError, match="several teams"):
        create("alice")
    raw = create("alice", "--team", second.slug).strip()
    assert tokens.authenticate(raw).team == second


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nobody"], "No user"), (["alice", "--team", "nope"], "not a member")],
)
def test_clear_errors(user: Any, team: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        create(*args)
