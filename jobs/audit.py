"""The audit trail: who changed what in a team. The only writer of AuditEvent.

Other areas call `record(team, actor, action, target, **detail)` with one of the action
names below (add new ones here, so the log page can describe them). A secret never
reaches the table: detail keys that name one are replaced by "changed", and any value that
looks like one of our API tokens is blanked, whatever key it came under.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from jobs.models import AuditEvent, Team

# Action names and how the log page describes them.
ACTIONS = {
    "provider_account.created": "added a provider account",
    "provider_account.updated": "changed a provider account",
    "provider_account.key_changed": "replaced a provider API key",
    "budget.saved": "set a budget",
    "budget.removed": "removed a budget",
    "prices.changed": "changed a price table",
    "spend.charged": "settled a job as charged",
    "spend.not-charged": "settled a job as not charged",
    "spend.refunded": "recorded a refund",
    "member.invited": "invited someone",
    "invitation.revoked": "withdrew an invitation",
    "member.joined": "joined the team",
    "member.role_changed": "changed a member's role",
    "member.removed": "removed a member",
    "member.left": "left the team",
    "token.created": "created an API token",
    "token.revoked": "revoked an API token",
    "share_link.created": "created a share link",
    "share_link.revoked": "revoked a share link",
}

SECRET_WORDS = ("api_key", "apikey", "secret", "password", "token", "credential", "authorization")
# Names that mention a secret without holding one (a token's display prefix, its name).
HARMLESS_SUFFIXES = ("_prefix", "_name", "_id")
REDACTED = "changed"
_TOKEN_LIKE = re.compile(r"ups_[A-Za-z0-9]{20,}")


def record(
    team: Team,
    actor: AbstractBaseUser | None,
    action: str,
    target: str = "",
    **detail: Any,
) -> AuditEvent:
    """Append one event. `detail` holds non-secret facts, e.g. old and new role."""
    return AuditEvent.objects.create(
        team=team,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action[:64],
        target=_scrub(target)[:200],
        detail={name: _clean(name, value) for name, value in detail.items()},
    )


def _clean(name: str, value: Any) -> Any:
    if is_secret_name(name):
        return REDACTED
    if isinstance(value, dict):
        return {k: _clean(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(name, v) for v in value]
    if isinstance(value, str):
        return _scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _scrub(str(value))


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(HARMLESS_SUFFIXES):
        return False
    return lowered == "key" or any(word in lowered for word in SECRET_WORDS)


def _scrub(text: str) -> str:
    return _TOKEN_LIKE.sub("ups_…", text)


def describe(action: str) -> str:
    return ACTIONS.get(action, action.replace("_", " ").replace(".", ": "))


def detail_lines(event: AuditEvent) -> list[str]:
    """The event's detail as short lines for the log page, e.g. "role: member → admin"."""
    lines = []
    for name, value in (event.detail or {}).items():
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            lines.append(f"{name}: {value['old']} → {value['new']}")
        else:
            lines.append(f"{name}: {value}")
    return lines


def events_for(team: Team) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(team=team).select_related("actor")
