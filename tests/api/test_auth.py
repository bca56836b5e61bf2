"""Token authentication, revocation, rate limits and the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs import members, tokens
from jobs.api import ratelimit
from jobs.models import ApiToken, Membership
from tests.api.conftest import ApiClient, error_of

pytestmark = pytest.mark.django_db
JOBS = "/api/v1/jobs"


def test_no_token_is_401_with_a_challenge(client: Client) -> None:
    response = client.get(JOBS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_session_login_grants_nothing(alice: Client) -> None:
    assert alice.get(JOBS).status_code == 401


def test_typo_is_refused_by_the_checksum_before_any_lookup(
    api: ApiClient, django_assert_num_queries: Any
) -> None:
    typo = api.token[:-1] + ("A" if api.token[-1] != "A" else "B")
    with django_assert_num_queries(0):
        response = Client().get(JOBS, headers={"Authorization": f"Bearer {typo}"})
    assert response.status_code == 401
    assert "checksum" in error_of(response)["message"]


def test_well_formed_but_unknown_token_is_401(client: Client) -> None:
    response = client.get(JOBS, headers={"Authorization": f"Bearer {tokens.generate()}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"


def test_revoked_token_stops_working(api: ApiClient, user: Any) -> None:
    assert api.get(JOBS).status_code == 200
    token = ApiToken.objects.get(token_hash=tokens.hash_token(api.token))
    assert tokens.revoke(token, user)
    response = api.get(JOBS)
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_removed_member_loses_api_access(make_api: Any, django_user_model: Any, team: Any) -> None:
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    bob_api = make_api(bob, team, "member")
    assert bob_api.get(JOBS).status_code == 200
    owner = Membership.objects.get(team=team, role="owner")
    members.remove_member(owner, Membership.objects.get(team=team, user=bob))
    assert bob_api.get(JOBS).status_code == 401


def test_last_used_time_is_recorded(api: ApiClient) -> None:
    token = ApiToken.objects.get(token_hash=tokens.hash_token(api.token))
    assert token.last_used_at is None
    api.get(JOBS)
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.fixture
def pinned_clock(monkeypatch: Any) -> None:
    """20 s into a window: every request of the test counts in the same one."""
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_700_000_000 - 1_700_000_000 % 60 + 20.0)


@pytest.mark.usefixtures("pinned_clock")
def test_rate_limit_answers_429_with_retry_after(api: ApiClient, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    statuses = [api.get(JOBS).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get(JOBS)
    assert error_of(response)["code"] == "rate_limited"
    assert response["Retry-After"] == "40"
    assert response["X-RateLimit-Remaining"] == "0"


@pytest.mark.usefixtures("pinned_clock")
def test_rate_limit_is_per_token(make_api: Any, user: Any, team: Any, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    first, second = make_api(user, team), make_api(user, team)
    assert first.get(JOBS).status_code == 200
    assert first.get(JOBS).status_code == 429
    assert second.get(JOBS).status_code == 200


def test_wrong_method_is_405_with_allow(api: ApiClient) -> None:
    response = api.client.delete(JOBS, headers=api.headers)
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert error_of(response)["code"] == "method_not_allowed"


def test_unknown_api_path_is_a_json_404(api: ApiClient) -> None:
    for path in ["/api/v1/nope", "/api/v1/jobs/not-a-uuid", "/api/v1/jobs/"]:
        response = api.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


def test_api_posts_need_no_csrf_token(api: ApiClient) -> None:
    # ApiClient enforces CSRF checks: a token-authenticated POST still gets through.
    response = api.post_json(JOBS, {"provider": "nope"})
    assert response.status_code == 400
