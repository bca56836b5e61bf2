"""Members: invitations by link and email, roles, removal, leaving, switching teams."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import members, services, tokens
from jobs.middleware import SESSION_KEY
from jobs.models import ApiToken, AuditEvent, Invitation, Membership, Role
from jobs.permissions import PermissionRefused
from tests.team.conftest import membership

pytestmark = pytest.mark.django_db


def invite_link(client: Client, **data: str) -> str:
    response = client.post(reverse("jobs:team_invite"), {"role": "member", **data})
    assert response.status_code == 201, response.content
    match = re.search(r'value="(http://testserver/invite/[^"]+/)"', response.content.decode())
    assert match, "the invitation link is shown once, in the response"
    return match.group(1).replace("http://testserver", "")


def test_invite_by_link_and_accept_as_an_existing_user(
    alice: Client, team: Any, django_user_model: Any
) -> None:
    link = invite_link(alice, role="viewer")
    assert Invitation.objects.get().token_hash not in link  # only the hash is stored
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    client = Client()
    client.force_login(bob)
    assert "Join Alice" in client.get(link).content.decode()
    response = client.post(link)
    assert response.status_code == 302
    assert membership(team, "bob").role == Role.VIEWER
    assert client.session[SESSION_KEY] == team.pk
    assert client.post(link).status_code == 404  # single use


def test_invite_by_email_sends_the_link(alice: Client, mailoutbox: list) -> None:
    link = invite_link(alice, email="carol@example.com")
    (mail,) = mailoutbox
    assert mail.to == ["carol@example.com"] and link in mail.body
    assert "Alice's studio" in mail.subject


def test_someone_without_an_account_signs_up_through_the_invitation(
    alice: Client, team: Any
) -> None:
    link = invite_link(alice)
    newcomer = Client()
    assert "Create account and join" in newcomer.get(link).content.decode()
    password = "a-Long-unusual-passphrase-42"
    response = newcomer.post(
        link, {"username": "dora", "password1": password, "password2": password}
    )
    assert response.status_code == 302
    assert membership(team, "dora").role == Role.MEMBER
    assert newcomer.get(reverse("jobs:team_members")).status_code == 200  # logged in


def test_taken_username_is_a_clear_error(alice: Client, user: Any) -> None:
    link = invite_link(alice)
    response = Client().post(
        link, {"username": "alice", "password1": "x-Long-pass-987", "password2": "x-Long-pass-987"}
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_expired_or_withdrawn_invitations_do_not_work(alice: Client, team: Any) -> None:
    link = invite_link(alice)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert Client().get(link).status_code == 404
    link = invite_link(alice)
    pending = Invitation.objects.get(expires_at__gt=timezone.now())
    alice.post(reverse("jobs:team_invitation_revoke", args=[pending.pk]))
    assert Client().get(link).status_code == 404
    assert AuditEvent.objects.filter(action="invitation.revoked").exists()


def test_admin_cannot_invite_or_make_owners(join: Any, team: Any) -> None:
    join("adam", Role.ADMIN)
    admin = membership(team, "adam")
    with pytest.raises(PermissionRefused):
        members.invite(admin, Role.OWNER)
    join("mia", Role.MEMBER)
    with pytest.raises(PermissionRefused):
        members.change_role(admin, membership(team, "mia"), Role.OWNER)
    with pytest.raises(PermissionRefused):
        members.remove_member(admin, membership(team, "alice"))


def test_owner_changes_a_role_through_the_page(alice: Client, join: Any, team: Any) -> None:
    join("mia", Role.MEMBER)
    target = membership(team, "mia")
    response = alice.post(reverse("jobs:team_member_role", args=[target.pk]), {"role": "admin"})
    assert response.status_code == 302
    assert membership(team, "mia").role == Role.ADMIN
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.detail == {"role": {"old": "member", "new": "admin"}} and event.target == "mia"


def test_the_last_owner_cannot_be_demoted_or_leave(alice: Client, team: Any) -> None:
    me = membership(team, "alice")
    with pytest.raises(members.MemberError, match="at least one owner"):
        members.change_role(me, me, Role.ADMIN)
    response = alice.post(reverse("jobs:team_leave"))
    assert response.status_code == 400
    assert "only owner" in response.content.decode()
    assert Membership.objects.filter(team=team, user__username="alice").exists()


def test_an_owner_can_leave_when_another_owner_remains(alice: Client, join: Any, team: Any) -> None:
    join("olga", Role.OWNER)
    response = alice.post(reverse("jobs:team_leave"))
    assert response.status_code == 302
    assert not Membership.objects.filter(team=team, user__username="alice").exists()
    assert AuditEvent.objects.filter(action="member.left").exists()


def test_removing_a_member_revokes_their_tokens(alice: Client, join: Any, team: Any) -> None:
    mia = join("mia", Role.MEMBER)
    _token, raw = tokens.create_token(mia, team, "script")
    target = membership(team, "mia")
    response = alice.post(reverse("jobs:team_member_remove", args=[target.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert ApiToken.objects.get(user=mia).revoked_at is not None
    join("mia", Role.MEMBER)  # even if invited back, the old token stays dead
    assert tokens.authenticate(raw) is None


def test_other_teams_members_are_404(alice: Client, other_team: Any) -> None:
    foreign = Membership.objects.get(team=other_team)
    for name in ["jobs:team_member_role", "jobs:team_member_remove"]:
        assert alice.post(reverse(name, args=[foreign.pk]), {"role": "viewer"}).status_code == 404
    assert Membership.objects.get(pk=foreign.pk).role == Role.OWNER


def test_switch_between_teams(alice: Client, user: Any, team: Any, other_team: Any) -> None:
    second = services.create_team("Second studio", user)
    page = alice.get(reverse("jobs:team_members")).content.decode()
    assert 'name="team"' in page and "Second studio" in page  # the switcher shows
    alice.post(reverse("jobs:team_switch"), {"team": second.pk})
    assert alice.get(reverse("jobs:team_members")).context["team"] == second
    refused = alice.post(reverse("jobs:team_switch"), {"team": other_team.pk})
    assert refused.status_code == 302
    assert alice.get(reverse("jobs:team_members")).context["team"] == second


def test_members_page_lists_people_and_hides_controls_from_members(
    join: Any, login_as: Any
) -> None:
    join("olga", Role.OWNER)
    member = login_as("mia", Role.MEMBER)
    page = member.get(reverse("jobs:team_members")).content.decode()
    assert "alice" in page and "olga" in page and "mia" in page
    assert "Create invitation" not in page and ">Remove<" not in page
