"""The Providers page: the team's provider accounts, their keys (masked) and a connection check.

Everyone in the team sees which accounts exist and what each provider can take; only
owners and admins add accounts, replace keys, change settings or check a connection.
A key is never rendered: only `api_key_hint` (its last four characters at most).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from jobs import accounts, permissions
from jobs.models import ProviderAccount
from jobs.permissions import PermissionRefused, manage_required
from jobs.providers.registry import PROVIDERS
from jobs.views.pages import team_required


class AccountSettingsForm(forms.Form):
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the current key.",
    )
    base_url = forms.URLField(
        label="Base URL",
        required=False,
        assume_scheme="https",
        help_text="Empty means the provider's default.",
    )
    max_in_flight = forms.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        help_text="Jobs running at the provider at once. Empty: the provider's own limit "
        "(Ideogram 10, others 4).",
    )
    is_active = forms.BooleanField(required=False, initial=True)


class NewAccountForm(AccountSettingsForm):
    provider = forms.ChoiceField(choices=())
    label = forms.CharField(max_length=80, initial="Default")

    field_order = ["provider", "label", "api_key", "base_url", "max_in_flight"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [
            (slug, cls.name) for slug, cls in accounts.network_providers().items()
        ]
        self.fields["api_key"].required = True
        self.fields["api_key"].help_text = "Stored encrypted; only its last characters are shown."
        del self.fields["is_active"]


def _rows(request: HttpRequest, checks: dict, errors: dict) -> list[dict[str, Any]]:
    """One row per provider, with the team's accounts for it (real ones before the sandbox)."""
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for account in ProviderAccount.objects.filter(team=request.team).order_by("is_sandbox", "id"):
        item = {
            "account": account,
            "check": checks.get(account.pk),
            "errors": errors.get(account.pk),
        }
        by_provider.setdefault(account.provider, []).append(item)
    return [
        {
            "slug": slug,
            "cls": cls,
            "takes": accounts.takes(cls),
            "cannot_take": accounts.cannot_take(cls),
            "accounts": by_provider.get(slug, []),
        }
        for slug, cls in PROVIDERS.items()
    ]


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    checks, errors = extra.pop("checks", {}), extra.pop("errors", {})
    return {
        "rows": _rows(request, checks, errors),
        "can_manage": permissions.can_manage(request.membership),
        "new_form": extra.pop("new_form", None) or NewAccountForm(),
        **extra,
    }


@team_required
def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "team/providers.html", _context(request))


@team_required
@manage_required
@require_POST
def add_account(request: HttpRequest) -> HttpResponse:
    form = NewAccountForm(request.POST)
    if not form.is_valid():
        return render(request, "team/providers.html", _context(request, new_form=form), status=400)
    data = form.cleaned_data
    try:
        account = accounts.create_account(
            request.membership,
            data["provider"],
            label=data["label"],
            api_key=data["api_key"],
            base_url=data["base_url"],
            max_in_flight=data["max_in_flight"],
        )
    except accounts.AccountError as exc:
        form.add_error(exc.field or None, exc.message)
        return render(request, "team/providers.html", _context(request, new_form=form), status=400)
    messages.success(request, f"Added {account}. Check its connection to be sure the key works.")
    return redirect("jobs:provider_accounts")


def _account(request: HttpRequest, pk: int) -> ProviderAccount:
    return get_object_or_404(ProviderAccount, pk=pk, team=request.team)


@team_required
@manage_required
@require_POST
def edit_account(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    form = AccountSettingsForm(request.POST)
    if not form.is_valid():
        errors = {account.pk: form.errors}
        return render(request, "team/providers.html", _context(request, errors=errors), status=400)
    data = form.cleaned_data
    changed = accounts.update_account(
        request.membership,
        account,
        api_key=data["api_key"],
        base_url=data["base_url"],
        max_in_flight=data["max_in_flight"],
        is_active=data["is_active"],
    )
    note = "Key replaced and settings saved." if "api_key" in changed else "Settings saved."
    messages.success(request, f"{account}: {note if changed else 'nothing changed.'}")
    return redirect("jobs:provider_accounts")


@team_required
@manage_required
@require_POST
def check_account(request: HttpRequest, pk: int) -> HttpResponse:
    """With htmx, only the verdict is swapped in; without, the whole page shows it."""
    account = _account(request, pk)
    try:
        check = accounts.check_connection(request.membership, account)
    except PermissionRefused as exc:
        return permissions.forbidden(request, exc.message)
    if request.htmx:
        return render(
            request, "team/providers.html#check-result", {"account": account, "check": check}
        )
    return render(request, "team/providers.html", _context(request, checks={account.pk: check}))


urlpatterns = [
    path("providers/", account_list, name="provider_accounts"),
    path("providers/new", add_account, name="provider_account_add"),
    path("providers/<int:pk>/", edit_account, name="provider_account_edit"),
    path("providers/<int:pk>/check", check_account, name="provider_account_check"),
]
