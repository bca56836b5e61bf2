"""Writers for a team's provider accounts, and the "check connection" action.

Keys are encrypted by `services.set_account_key` (jobs.crypto, FIELD_ENCRYPTION_KEYS) and
only their masked hint is ever shown. Every change is audited without the key's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from jobs import audit, engine, permissions, services
from jobs.models import Membership, ProviderAccount
from jobs.providers.base import ErrorKind, InputKind, Provider, ProviderError
from jobs.providers.registry import PROVIDERS, get_provider_class

# How each input kind reads on the Providers page and in the API docs.
INPUT_KIND_TEXT = {
    InputKind.UPLOAD: "images you upload (sent with the request)",
    InputKind.PUBLIC_URL: "images you upload (it downloads them from a signed link)",
    InputKind.REFERENCE: "images it generated itself (give its job or image id)",
}


class AccountError(ValueError):
    """A change to a provider account was refused; the message is for the user."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def network_providers() -> dict[str, type[Provider]]:
    """Providers that need an account (all but the free local one)."""
    return {slug: cls for slug, cls in PROVIDERS.items() if cls.needs_network}


def takes(cls: type[Provider]) -> list[str]:
    return [INPUT_KIND_TEXT[kind] for kind in cls.input_kinds]


def cannot_take(cls: type[Provider]) -> list[str]:
    kinds = set(cls.input_kinds)
    missing = []
    if not kinds & {InputKind.UPLOAD, InputKind.PUBLIC_URL}:
        missing.append("uploaded images")
    if InputKind.REFERENCE not in kinds:
        missing.append("references to images generated at the provider")
    return missing


# ----- writers ----------------------------------------------------------------------------
def create_account(
    actor: Membership,
    provider: str,
    *,
    label: str,
    api_key: str,
    base_url: str = "",
    max_in_flight: int | None = None,
) -> ProviderAccount:
    permissions.require_manage(actor)
    if provider not in network_providers():
        raise AccountError("Choose a provider that needs an account.", "provider")
    if not api_key.strip():
        raise AccountError("Paste the provider's API key.", "api_key")
    try:
        with transaction.atomic():
            account = ProviderAccount.objects.create(
                team=actor.team,
                provider=provider,
                label=label.strip() or "Default",
                base_url=base_url.strip(),
                max_in_flight=max_in_flight or get_provider_class(provider).default_max_in_flight,
            )
            services.set_account_key(account, api_key.strip())
    except IntegrityError:
        raise AccountError(
            f"This team already has a {get_provider_class(provider).name} account with that "
            "label; choose another label or edit the existing account.",
            "label",
        ) from None
    audit.record(actor.team, actor.user, "provider_account.created", str(account))
    return account


EDITABLE_FIELDS = ("base_url", "max_in_flight", "is_active")


def update_account(
    actor: Membership, account: ProviderAccount, *, api_key: str = "", **fields: Any
) -> list[str]:
    """Change settings and, when `api_key` is given, replace the key. Returns what changed."""
    permissions.require_manage(actor)
    _same_team(actor, account)
    changes = {
        name: (getattr(account, name), value)
        for name, value in fields.items()
        if name in EDITABLE_FIELDS and getattr(account, name) != value
    }
    for name, (_old, new) in changes.items():
        setattr(account, name, new)
    if changes:
        account.save(update_fields=list(changes))
        detail = {name: {"old": old, "new": new} for name, (old, new) in changes.items()}
        audit.record(actor.team, actor.user, "provider_account.updated", str(account), **detail)
    changed = list(changes)
    if api_key.strip():
        replace_key(actor, account, api_key.strip())
        changed.append("api_key")
    return changed


def replace_key(actor: Membership, account: ProviderAccount, api_key: str) -> None:
    permissions.require_manage(actor)
    _same_team(actor, account)
    services.set_account_key(account, api_key)
    # A new key deserves a fresh verdict; the old "key refused" message no longer applies.
    ProviderAccount.objects.filter(pk=account.pk).update(health_message="")
    account.health_message = ""
    audit.record(actor.team, actor.user, "provider_account.key_changed", str(account))


def _same_team(actor: Membership, account: ProviderAccount) -> None:
    if account.team_id != actor.team_id:
        raise AccountError("This account belongs to another team.")


# ----- check connection -------------------------------------------------------------------
@dataclass
class ConnectionCheck:
    ok: bool
    message: str
    kind: str = ""  # "" when ok; "account", "unreachable" or "setup"


def check_connection(actor: Membership, account: ProviderAccount) -> ConnectionCheck:
    """Ask the provider whether the key works, and tell a bad key from a dead host."""
    permissions.require_manage(actor)
    _same_team(actor, account)
    try:
        status_line = engine.adapter_for(account).check_connection()
    except ValueError as exc:  # the stored key cannot be decrypted
        return _remember(account, ConnectionCheck(False, str(exc), "setup"))
    except ProviderError as error:
        return _remember(account, _explain(account, error))
    return _remember(account, ConnectionCheck(True, status_line))


def _explain(account: ProviderAccount, error: ProviderError) -> ConnectionCheck:
    name = get_provider_class(account.provider).name
    said = f" {name} said: “{error.provider_message}”." if error.provider_message else ""
    if error.kind == ErrorKind.ACCOUNT:
        text = f"{name} was reached, but it refused this account. {error.message}{said}"
        return ConnectionCheck(False, text, "account")
    if error.kind in (ErrorKind.TRANSIENT, ErrorKind.UNKNOWN_OUTCOME):
        text = (
            f"Could not get an answer from {name}: the service may be down, or the base URL "
            f"is wrong. The key was not checked. ({error.message})"
        )
        return ConnectionCheck(False, text, "unreachable")
    text = f"{name} answered, but not as expected: {error.message}{said} Check the base URL."
    return ConnectionCheck(False, text, "setup")


def _remember(account: ProviderAccount, check: ConnectionCheck) -> ConnectionCheck:
    # Only a verdict about the account itself is kept: a dead host says nothing about the key.
    if check.ok or check.kind == "account":
        health = "" if check.ok else check.message[:300]
        ProviderAccount.objects.filter(pk=account.pk).update(health_message=health)
        account.health_message = health
    return check
