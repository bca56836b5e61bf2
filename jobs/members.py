"""Writers for the people of a team: invitations, roles, removal, leaving, switching teams.

Rules every path enforces (the views only translate the errors):
- only owners and admins invite, change roles and remove members;
- only an owner grants, changes or removes the owner role;
- a team never loses its last owner (no demotion, removal or leaving that would do it);
- a member who leaves or is removed loses their API tokens for that team.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import audit, permissions
from jobs.models import ApiToken, Invitation, Membership, Role, Team
from jobs.permissions import PermissionRefused

INVITATION_LIFETIME = timedelta(days=7)
LAST_OWNER = "A team needs at least one owner. Make someone else an owner first, then try again."


class MemberError(ValueError):
    """A change to the team's people was refused; the message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _name(user: AbstractBaseUser) -> str:
    return user.get_username()


# ----- invitations ------------------------------------------------------------------------
def invite(actor: Membership, role: str, email: str = "") -> tuple[Invitation, str]:
    """A single-use invitation link. The plain token is returned once; only its hash is kept."""
    permissions.require_manage(actor)
    if role not in Role.values:
        raise MemberError("Choose a role for the invitation.")
    if role == Role.OWNER and not permissions.is_owner(actor):
        raise PermissionRefused(permissions.OWNERS_ONLY)
    raw = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        team=actor.team,
        email=email.strip(),
        role=role,
        token_hash=_hash(raw),
        invited_by=actor.user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    audit.record(actor.team, actor.user, "member.invited", email or "by link", role=role)
    return invitation, raw


def send_invitation_email(invitation: Invitation, link: str) -> None:
    inviter = _name(invitation.invited_by) if invitation.invited_by else "Someone"
    days = INVITATION_LIFETIME.days
    send_mail(
        subject=f"{inviter} invited you to {invitation.team.name} on Upscaler",
        message=(
            f"{inviter} invited you to join the team {invitation.team.name} on Upscaler as "
            f"{invitation.get_role_display().lower()}.\n\nOpen this link to accept (it works "
            f"once, for {days} days):\n{link}\n\nIf you did not expect this, ignore this email."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def pending_invitations(team: Team) -> list[Invitation]:
    return list(
        Invitation.objects.filter(
            team=team, accepted_at__isnull=True, expires_at__gt=timezone.now()
        ).select_related("invited_by")
    )


def find_invitation(raw: str) -> Invitation | None:
    """The pending invitation behind a link, or None when it is unknown, used or expired."""
    return (
        Invitation.objects.select_related("team", "invited_by")
        .filter(token_hash=_hash(raw), accepted_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def accept(invitation: Invitation, user: AbstractBaseUser) -> Membership:
    """Join the team. Someone already in it keeps their role; the link is used up either way."""
    with transaction.atomic():
        used = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now(), accepted_by=user
        )
        if not used:
            raise MemberError("This invitation has already been used.")
        membership, created = Membership.objects.get_or_create(
            team=invitation.team, user=user, defaults={"role": invitation.role}
        )
    if created:
        audit.record(invitation.team, user, "member.joined", _name(user), role=invitation.role)
    return membership


def revoke_invitation(actor: Membership, invitation: Invitation) -> None:
    permissions.require_manage(actor)
    if invitation.team_id != actor.team_id:
        raise MemberError("This invitation belongs to another team.")
    target = invitation.email or "by link"
    invitation.delete()
    audit.record(actor.team, actor.user, "invitation.revoked", target, role=invitation.role)


# ----- roles and leaving ------------------------------------------------------------------
def _other_owners(membership: Membership) -> bool:
    return (
        Membership.objects.filter(team=membership.team_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def _check_can_touch(actor: Membership, target: Membership) -> None:
    permissions.require_manage(actor)
    if target.team_id != actor.team_id:
        raise MemberError("This person is not in your team.")
    if target.role == Role.OWNER and not permissions.is_owner(actor):
        raise PermissionRefused(permissions.OWNERS_ONLY)


def change_role(actor: Membership, target: Membership, role: str) -> None:
    _check_can_touch(actor, target)
    if role not in Role.values:
        raise MemberError("Choose one of the roles.")
    if role == Role.OWNER and not permissions.is_owner(actor):
        raise PermissionRefused(permissions.OWNERS_ONLY)
    if target.role == Role.OWNER and role != Role.OWNER and not _other_owners(target):
        raise MemberError(LAST_OWNER)
    old = target.role
    if old == role:
        return
    Membership.objects.filter(pk=target.pk).update(role=role)
    target.role = role
    audit.record(
        actor.team,
        actor.user,
        "member.role_changed",
        _name(target.user),
        role={"old": old, "new": role},
    )


def remove_member(actor: Membership, target: Membership) -> None:
    _check_can_touch(actor, target)
    if target.pk == actor.pk:
        raise MemberError("To leave the team yourself, use “Leave team”.")
    if target.role == Role.OWNER and not _other_owners(target):
        raise MemberError(LAST_OWNER)
    _drop(target)
    audit.record(actor.team, actor.user, "member.removed", _name(target.user), role=target.role)


def leave(membership: Membership) -> None:
    if membership.role == Role.OWNER and not _other_owners(membership):
        raise MemberError(
            "You are the only owner of this team. Make someone else an owner before you leave."
        )
    _drop(membership)
    audit.record(membership.team, membership.user, "member.left", _name(membership.user))


def _drop(membership: Membership) -> None:
    """Delete the membership and revoke the person's tokens for this team."""
    with transaction.atomic():
        ApiToken.objects.filter(
            team=membership.team_id, user=membership.user_id, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        membership.delete()


def membership_in(user: AbstractBaseUser, team_id: int) -> Membership | None:
    """The user's membership in a team (for switching teams); None if they are not in it."""
    return Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()


def create_user_and_accept(
    invitation: Invitation, username: str, password: str
) -> tuple[AbstractBaseUser, Membership]:
    """Sign-up through an invitation link: a new account that joins the team at once."""
    from django.contrib.auth import get_user_model

    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=username, email=invitation.email, password=password
            )
            membership = accept(invitation, user)
    except IntegrityError:
        raise MemberError("That username is taken; choose another.") from None
    return user, membership
