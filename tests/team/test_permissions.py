"""Roles: viewers cannot spend, members cannot manage, owners and admins can."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs import permissions
from jobs.models import Membership, Role, SourceImage, UpscaleJob
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "spend", "manage", "owner"),
    [
        (Role.VIEWER, False, False, False),
        (Role.MEMBER, True, False, False),
        (Role.ADMIN, True, True, False),
        (Role.OWNER, True, True, True),
    ],
)
def test_role_matrix(role: str, spend: bool, manage: bool, owner: bool) -> None:
    membership = Membership(role=role)
    assert permissions.can_spend(membership) is spend
    assert permissions.can_manage(membership) is manage
    assert permissions.is_owner(membership) is owner


def test_no_membership_can_do_nothing() -> None:
    assert not permissions.can_spend(None) and not permissions.can_manage(None)


def test_viewer_cannot_submit_from_the_upload_page(login_as: Any) -> None:
    viewer = login_as("victor", Role.VIEWER)
    assert viewer.get(reverse("jobs:upload")).status_code == 200  # looking is fine
    png = SimpleUploadedFile("a.png", image_bytes(), content_type="image/png")
    page = viewer.post(
        reverse("jobs:upload"),
        {"provider": "local", "files": [png]},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 403
    assert "Viewers can look" in page.content.decode()
    assert UpscaleJob.objects.count() == 0 and SourceImage.objects.count() == 0


def test_viewer_cannot_upload_a_source(login_as: Any) -> None:
    viewer = login_as("victor", Role.VIEWER)
    png = SimpleUploadedFile("a.png", image_bytes(), content_type="image/png")
    response = viewer.post(reverse("jobs:upload_source"), {"file": png})
    assert response.status_code == 403
    assert "Viewers" in response.json()["error"]  # the upload script shows this text
    assert SourceImage.objects.count() == 0


def test_member_can_submit(login_as: Any) -> None:
    member = login_as("mia", Role.MEMBER)
    png = SimpleUploadedFile("a.png", image_bytes(), content_type="image/png")
    response = member.post(reverse("jobs:upload_source"), {"file": png})
    assert response.status_code == 201


MANAGER_ONLY = [
    (
        "post",
        "jobs:provider_account_add",
        {"provider": "aimlapi", "label": "x", "api_key": "k", "max_in_flight": "4"},
    ),
    ("get", "jobs:team_audit", None),
    ("post", "jobs:team_invite", {"role": "member"}),
]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
@pytest.mark.parametrize(("method", "name", "data"), MANAGER_ONLY)
def test_members_and_viewers_cannot_manage(
    login_as: Any, role: str, method: str, name: str, data: Any
) -> None:
    client = login_as("mia", role)
    response = getattr(client, method)(reverse(name), data, headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert "owners and admins" in response.content.decode()


@pytest.mark.parametrize(("method", "name", "data"), MANAGER_ONLY)
def test_admins_can_manage(login_as: Any, method: str, name: str, data: Any) -> None:
    client = login_as("adam", Role.ADMIN)
    response = getattr(client, method)(reverse(name), data)
    assert response.status_code in (200, 201, 302)


def test_member_cannot_edit_or_check_an_account(login_as: Any, team: Any) -> None:
    from jobs import services

    (account, *_rest) = services.ensure_sandbox_accounts(team)
    member = login_as("mia", Role.MEMBER)
    edit = member.post(reverse("jobs:provider_account_edit", args=[account.pk]), {"api_key": "x"})
    check = member.post(reverse("jobs:provider_account_check", args=[account.pk]))
    assert edit.status_code == 403 and check.status_code == 403
    account.refresh_from_db()
    assert account.api_key_hint == "••••-key"


def test_viewer_sees_why_the_upload_button_is_disabled(client: Any, team: Any) -> None:
    from django.contrib.auth import get_user_model

    viewer = get_user_model().objects.create_user("vera", password="pw-vera-123")
    Membership.objects.create(team=team, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("jobs:upload")).content.decode()
    assert 'id="viewer-note"' in page
    assert 'type="submit" disabled' in page
