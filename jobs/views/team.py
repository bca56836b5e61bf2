"""Team pages: members and roles, invitations, switching teams, audit log, API tokens.

Views stay thin: `jobs.members`, `jobs.tokens` and `jobs.audit` do the writing and the
rule checks; a refusal comes back as a message for the person, never a stack trace.
Every query is scoped to `request.team`; another team's row is a 404.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from jobs import audit, members, permissions, tokens
from jobs.middleware import SESSION_KEY
from jobs.models import Invitation, Membership, Role
from jobs.permissions import PermissionRefused, manage_required
from jobs.views.pages import team_required


class InviteForm(forms.Form):
    email = forms.EmailField(
        required=False, help_text="Leave empty to get a link you can send yourself."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What the token is for, e.g. “nightly sync”.")


# ----- members ----------------------------------------------------------------------------
def _members_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    team = request.team
    people = Membership.objects.filter(team=team).select_related("user").order_by("created_at")
    manager = permissions.can_manage(request.membership)
    return {
        "rows": [{"m": m, "editable": _may_edit(request.membership, m)} for m in people],
        "invitations": members.pending_invitations(team) if manager else [],
        "can_manage": manager,
        "is_owner": permissions.is_owner(request.membership),
        "roles": Role.choices,
        "invite_form": extra.pop("invite_form", None) or InviteForm(),
        **extra,
    }


def _may_edit(actor: Membership, target: Membership) -> bool:
    """Whether to offer role and remove controls (the service checks again on POST)."""
    if not permissions.can_manage(actor) or target.pk == actor.pk:
        return False
    return permissions.is_owner(actor) or target.role != Role.OWNER


@team_required
def member_list(request: HttpRequest) -> HttpResponse:
    return render(request, "team/members.html", _members_context(request))


@team_required
@manage_required
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        context = _members_context(request, invite_form=form)
        return render(request, "team/members.html", context, status=400)
    try:
        invitation, raw = members.invite(
            request.membership, form.cleaned_data["role"], form.cleaned_data["email"]
        )
    except (PermissionRefused, members.MemberError) as exc:
        context = _members_context(request, invite_form=form, error=exc.message)
        return render(request, "team/members.html", context, status=400)
    link = request.build_absolute_uri(reverse("jobs:invitation", args=[raw]))
    if invitation.email:
        members.send_invitation_email(invitation, link)
    # The link is shown in this response only: its token is stored as a hash.
    context = _members_context(request, new_invitation=invitation, invite_link=link)
    return render(request, "team/members.html", context, status=201)


@team_required
@manage_required
@require_POST
def revoke_invitation(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=pk, team=request.team)
    members.revoke_invitation(request.membership, invitation)
    messages.success(request, "The invitation was withdrawn; its link no longer works.")
    return redirect("jobs:team_members")


def _target(request: HttpRequest, pk: int) -> Membership:
    query = Membership.objects.select_related("user", "team")
    return get_object_or_404(query, pk=pk, team=request.team)


def _refused(request: HttpRequest, exc: PermissionRefused | members.MemberError) -> HttpResponse:
    context = _members_context(request, error=exc.message)
    status = 403 if isinstance(exc, PermissionRefused) else 400
    return render(request, "team/members.html", context, status=status)


@team_required
@manage_required
@require_POST
def change_role(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target(request, pk)
    try:
        members.change_role(request.membership, target, request.POST.get("role", ""))
    except (PermissionRefused, members.MemberError) as exc:
        return _refused(request, exc)
    messages.success(request, f"{target.user.get_username()} is now {target.get_role_display()}.")
    return redirect("jobs:team_members")


@team_required
@manage_required
@require_POST
def remove_member(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target(request, pk)
    try:
        members.remove_member(request.membership, target)
    except (PermissionRefused, members.MemberError) as exc:
        return _refused(request, exc)
    messages.success(request, f"{target.user.get_username()} was removed from the team.")
    return redirect("jobs:team_members")


@team_required
@require_POST
def leave_team(request: HttpRequest) -> HttpResponse:
    name = request.team.name
    try:
        members.leave(request.membership)
    except members.MemberError as exc:
        return _refused(request, exc)
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"You left {name}.")
    return redirect("jobs:home")


# ----- switching teams --------------------------------------------------------------------
@login_required
@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    team_id = request.POST.get("team", "")
    membership = members.membership_in(request.user, int(team_id)) if team_id.isdigit() else None
    if membership is None:
        messages.error(request, "You are not a member of that team.")
        return redirect("jobs:home")
    request.session[SESSION_KEY] = membership.team_id
    messages.success(request, f"Now working in {membership.team.name}.")
    # Home, not the page they were on: that page may show the previous team's things.
    return redirect("jobs:home")


# ----- accepting an invitation ------------------------------------------------------------
def invitation(request: HttpRequest, token: str) -> HttpResponseBase:
    """Open to everyone: someone without an account can create one here and join."""
    found = members.find_invitation(token)
    if found is None:
        return render(request, "team/invitation.html", {"invalid": True}, status=404)
    if request.method == "POST":
        return _accept(request, found)
    signup = None if request.user.is_authenticated else UserCreationForm()
    return render(request, "team/invitation.html", {"invitation": found, "signup": signup})


def _accept(request: HttpRequest, found: Invitation) -> HttpResponseBase:
    if request.user.is_authenticated:
        try:
            membership = members.accept(found, request.user)
        except members.MemberError as exc:
            return render(request, "team/invitation.html", {"invalid": True, "error": exc.message})
        return _joined(request, membership)
    signup = UserCreationForm(request.POST)
    if not signup.is_valid():
        context = {"invitation": found, "signup": signup}
        return render(request, "team/invitation.html", context, status=400)
    data = signup.cleaned_data
    try:
        user, membership = members.create_user_and_accept(
            found, data["username"], data["password1"]
        )
    except members.MemberError as exc:
        context = {"invitation": found, "signup": signup, "error": exc.message}
        return render(request, "team/invitation.html", context, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return _joined(request, membership)


def _joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    request.session[SESSION_KEY] = membership.team_id
    role = membership.get_role_display().lower()
    messages.success(request, f"Welcome to {membership.team.name}; you are a {role}.")
    return redirect("jobs:home")


# ----- audit log --------------------------------------------------------------------------
@team_required
@manage_required
def audit_log(request: HttpRequest) -> HttpResponse:
    page = Paginator(audit.events_for(request.team), 50).get_page(request.GET.get("page"))
    rows = [
        {"event": e, "what": audit.describe(e.action), "details": audit.detail_lines(e)}
        for e in page
    ]
    return render(request, "team/audit.html", {"page": page, "rows": rows})


# ----- API tokens -------------------------------------------------------------------------
def _tokens_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "tokens": tokens.visible_tokens(request.membership),
        "form": extra.pop("form", None) or TokenForm(),
        "can_manage": permissions.can_manage(request.membership),
        "can_spend": permissions.can_spend(request.membership),
        "docs_url": reverse("api:docs"),
        **extra,
    }


@team_required
def token_list(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "team/tokens.html", _tokens_context(request))
    form = TokenForm(request.POST)
    if not form.is_valid():
        return render(request, "team/tokens.html", _tokens_context(request, form=form), status=400)
    token, raw = tokens.create_token(request.user, request.team, form.cleaned_data["name"])
    # Shown in this response only; the database keeps the hash.
    context = _tokens_context(request, new_token=token, raw_token=raw)
    return render(request, "team/tokens.html", context, status=201)


@team_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(tokens.visible_tokens(request.membership), pk=pk)
    if tokens.revoke(token, request.user):
        messages.success(request, f"Token “{token.name}” was revoked; it no longer works.")
    return redirect("jobs:team_tokens")


urlpatterns = [
    path("team/", member_list, name="team_members"),
    path("team/invite", invite, name="team_invite"),
    path("team/invitations/<int:pk>/revoke", revoke_invitation, name="team_invitation_revoke"),
    path("team/members/<int:pk>/role", change_role, name="team_member_role"),
    path("team/members/<int:pk>/remove", remove_member, name="team_member_remove"),
    path("team/leave", leave_team, name="team_leave"),
    path("team/switch", switch_team, name="team_switch"),
    path("team/audit/", audit_log, name="team_audit"),
    path("team/tokens/", token_list, name="team_tokens"),
    path("team/tokens/<int:pk>/revoke", revoke_token, name="team_token_revoke"),
    path("invite/<str:token>/", invitation, name="invitation"),
]
