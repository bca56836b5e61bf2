"""Share links: a result or a comparison board, opened by someone outside the team.

The token is 256 random bits, shown once; only its sha256 is stored, so a database leak
does not leak working links. Every reason a link does not work (unknown, expired,
revoked) looks the same from outside: `resolve` answers None and the view says 404.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import F, Q, QuerySet
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from jobs import audit, imaging
from jobs.models import Batch, ResultImage, ShareLink, Team

TOKEN_BYTES = 32  # 256 bits: far past the 128 the issue asks for, and still a short URL
DEFAULT_EXPIRY = timedelta(days=7)
NEVER = "never"
# What the share form offers. "never" is refused unless the person confirms it.
EXPIRY_CHOICES = {
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", DEFAULT_EXPIRY),
    "30d": ("30 days", timedelta(days=30)),
    "90d": ("90 days", timedelta(days=90)),
    NEVER: ("Never (until revoked)", None),
}
_CLEAN_COPY_DIR = "public"
ACCESS_PRECISION = timedelta(minutes=1)


class ShareError(ValueError):
    """A link could not be created; the message is for the user."""


@dataclass(frozen=True)
class NewLink:
    """A link just made. `token` exists only here: it is never stored or shown again."""

    link: ShareLink
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expiry_from_choice(choice: str, *, confirm_never: bool) -> timedelta | None:
    """The lifetime a form choice stands for. "never" must be confirmed on purpose."""
    if choice not in EXPIRY_CHOICES:
        raise ShareError("Choose how long the link should work.")
    if choice == NEVER and not confirm_never:
        raise ShareError("A link that never expires must be confirmed: tick the box to agree.")
    return EXPIRY_CHOICES[choice][1]


def create_link(
    team: Team,
    user: AbstractBaseUser,
    *,
    result: ResultImage | None = None,
    batch: Batch | None = None,
    expires_in: timedelta | None = DEFAULT_EXPIRY,
    password: str = "",
    allow_download: bool = False,
    label: str = "",
) -> NewLink:
    """Create a link to exactly one thing of `team`. `expires_in=None` means never."""
    if (result is None) == (batch is None):
        raise ShareError("A link shares exactly one result or one comparison board.")
    owner_team_id = (result or batch).team_id  # type: ignore[union-attr]
    if owner_team_id != team.pk:
        raise ShareError("You can only share your own team's results.")
    if result is not None and not (result.file and result.is_safe):
        raise ShareError("This result has no image to share.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink.objects.create(
        team=team,
        created_by=user,
        result=result,
        batch=batch,
        token_hash=hash_token(token),
        label=label.strip()[:120],
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
        password_hash=make_password(password) if password else "",
        allow_download=allow_download,
    )
    audit.record(
        team, user, "share_link.created", str(link), expires=str(link.expires_at or "never")
    )
    return NewLink(link=link, token=token)


def _live(now: datetime) -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def resolve(token: str) -> ShareLink | None:
    """The working link for a token, or None whatever the reason (unknown, expired, revoked)."""
    if not token or len(token) > 200:
        return None
    return (
        ShareLink.objects.filter(_live(timezone.now()), token_hash=hash_token(token))
        .select_related("result", "batch")
        .first()
    )


def password_ok(link: ShareLink, password: str) -> bool:
    if not link.password_hash:
        return True
    return bool(password) and check_password(password, link.password_hash)


def unlock_proof(link: ShareLink) -> str:
    """What a session keeps after the password was right: tied to this link's password hash,
    so it opens nothing else and stops working if the link is ever recreated."""
    return hashlib.sha256(f"{link.pk}:{link.password_hash}".encode()).hexdigest()[:32]


def proof_matches(link: ShareLink, proof: str | None) -> bool:
    return bool(proof) and hmac.compare_digest(unlock_proof(link), proof or "")


def record_view(link: ShareLink) -> None:
    """Count a page view. F() so two viewers at once are both counted."""
    ShareLink.objects.filter(pk=link.pk).update(
        view_count=F("view_count") + 1, last_accessed_at=timezone.now()
    )


def record_access(link: ShareLink) -> None:
    """An image behind the link was fetched: last access moves, the view count does not.

    A board page pulls a dozen images at once; to the minute is precise enough, and spares
    the database a write per image.
    """
    now = timezone.now()
    if link.last_accessed_at and now - link.last_accessed_at < ACCESS_PRECISION:
        return
    ShareLink.objects.filter(pk=link.pk).update(last_accessed_at=now)


def revoke(link: ShareLink, actor: AbstractBaseUser | None = None) -> bool:
    """Kill one link at once. False if it was already revoked."""
    killed = bool(
        ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
    if killed:
        audit.record(link.team, actor, "share_link.revoked", str(link))
    return killed


def revoke_all(
    team: Team,
    *,
    result: ResultImage | None = None,
    batch: Batch | None = None,
    actor: AbstractBaseUser | None = None,
) -> int:
    """Kill every link of one result or one board of the team. Returns how many died."""
    if (result is None) == (batch is None):
        raise ShareError("Say which result or board to stop sharing.")
    links = ShareLink.objects.filter(team=team, revoked_at__isnull=True)
    links = links.filter(result=result) if result is not None else links.filter(batch=batch)
    killed = links.update(revoked_at=timezone.now())
    if killed:
        target = f"result {result.pk}" if result is not None else f"board {batch.pk}"  # type: ignore[union-attr]
        audit.record(team, actor, "share_link.revoked", target, links=killed)
    return killed


def state(link: ShareLink, now: datetime | None = None) -> str:
    """ "revoked", "expired" or "active", for the team's list of links."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    return "active"


def with_states(links: Iterable[ShareLink]) -> list[ShareLink]:
    """The links, each with `.state` set for display."""
    now = timezone.now()
    listed = list(links)
    for link in listed:
        link.state = state(link, now)  # type: ignore[attr-defined]
    return listed


def team_links(team: Team) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(team=team).select_related(
        "created_by", "result", "result__job", "result__job__source", "batch"
    )


# ----- what a link lets through ---------------------------------------------------------------
def shared_results(link: ShareLink) -> QuerySet[ResultImage]:
    """Every result a link exposes: its one result, or the images of its board."""
    results = ResultImage.objects.filter(team_id=link.team_id, is_safe=True).exclude(file="")
    if link.result_id is not None:
        return results.filter(pk=link.result_id)
    return results.filter(job__batch_id=link.batch_id)


def shared_result(link: ShareLink, pk: int) -> ResultImage | None:
    return shared_results(link).select_related("job", "job__source").filter(pk=pk).first()


def clean_copy(
    field_file: FieldFile, stored_format: str, *, max_pixels: int
) -> tuple[IO[bytes], str]:
    """A metadata-free copy of a stored image, made once and kept beside the private files.

    Re-encoding a 4k image costs a second or more; a link opened many times pays it once.
    The copy's name derives from the private file's random name, so it is as unguessable.
    Returns an open file and its Pillow format.
    """
    fmt = stored_format if stored_format in imaging.RESULT_FORMATS else "PNG"
    key = hashlib.sha256(field_file.name.encode()).hexdigest()
    path = f"{_CLEAN_COPY_DIR}/{key[:2]}/{key}.{imaging.EXTENSIONS[fmt]}"
    if not default_storage.exists(path):
        with field_file.open("rb") as handle:
            data, fmt = imaging.strip_metadata(handle, max_pixels=max_pixels)
        path = default_storage.save(path, ContentFile(data))
    return default_storage.open(path, "rb"), fmt
