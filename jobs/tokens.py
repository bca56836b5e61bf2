"""Personal API tokens: `ups_` + 30 random characters + a 6-character checksum.

The checksum (CRC32 of the random part, in base 62) lets us refuse a mistyped or truncated
token without a database lookup, and lets secret scanners recognise a leaked one. Only the
SHA-256 of the whole token is stored, plus a short prefix so people can tell tokens apart.
A token acts for one user in one team, with that user's *current* role there: removing
the member or revoking the token stops it at once.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet
from django.utils import timezone

from jobs import audit, permissions
from jobs.models import ApiToken, Membership, Team

PREFIX = "ups_"
BODY_LENGTH = 30
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
DISPLAY_LENGTH = 12  # "ups_" and 8 random characters: enough to tell tokens apart
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Writing last_used_at on every request would make each API call a write; a minute is
# precise enough to answer "is this token still used?".
TOUCH_EVERY = timedelta(seconds=60)


class TokenError(ValueError):
    """A token could not be created; the message is for the user."""


@dataclass
class TokenAuth:
    """Who a valid token speaks for, and with which role."""

    token: ApiToken
    membership: Membership

    @property
    def user(self) -> AbstractBaseUser:
        return self.membership.user

    @property
    def team(self) -> Team:
        return self.membership.team


def _base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return PREFIX + body + checksum(body)


def is_well_formed(raw: str) -> bool:
    """Right prefix, length, alphabet and checksum: a typo fails here, before any query."""
    if len(raw) != TOKEN_LENGTH or not raw.startswith(PREFIX):
        return False
    rest = raw[len(PREFIX) :]
    if any(ch not in ALPHABET for ch in rest):
        return False
    body, check = rest[:BODY_LENGTH], rest[BODY_LENGTH:]
    return secrets.compare_digest(checksum(body), check)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# ----- writers ----------------------------------------------------------------------------
def create_token(user: AbstractBaseUser, team: Team, name: str) -> tuple[ApiToken, str]:
    """Make a token for `user` in `team`. The plain token is returned once and never stored."""
    if not Membership.objects.filter(user=user, team=team).exists():
        raise TokenError(f"{user} is not a member of {team}.")
    name = (name or "").strip()[:80] or "API token"
    raw = generate()
    token = ApiToken.objects.create(
        user=user, team=team, name=name, prefix=raw[:DISPLAY_LENGTH], token_hash=hash_token(raw)
    )
    audit.record(team, user, "token.created", name, token_prefix=token.prefix)
    return token, raw


def revoke(token: ApiToken, actor: AbstractBaseUser) -> bool:
    """Stop a token for good. False when it was already revoked."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        owner = token.user.get_username()
        audit.record(
            token.team, actor, "token.revoked", token.name, token_prefix=token.prefix, owner=owner
        )
    return bool(revoked)


# ----- readers ----------------------------------------------------------------------------
def authenticate(raw: str) -> TokenAuth | None:
    """The token's user and team, or None for anything that must not get in."""
    if not is_well_formed(raw):
        return None
    token = (
        ApiToken.objects.select_related("user", "team")
        .filter(token_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    membership = (
        Membership.objects.select_related("user", "team")
        .filter(user=token.user_id, team=token.team_id)
        .first()
    )
    if membership is None:  # the user left or was removed: their tokens stop working
        return None
    _touch(token)
    return TokenAuth(token=token, membership=membership)


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def visible_tokens(membership: Membership) -> QuerySet[ApiToken]:
    """Owners and admins see every token of the team; others see their own."""
    tokens = ApiToken.objects.filter(team=membership.team_id).select_related("user")
    if not permissions.can_manage(membership):
        tokens = tokens.filter(user=membership.user_id)
    return tokens.order_by(F("revoked_at").asc(nulls_first=True), "-created_at")
