"""The request log: what each fake was asked, so tests can count creates per job."""

from __future__ import annotations

from django.db.models import QuerySet

from sandbox import clock
from sandbox.models import SandboxRequest


def record(
    provider: str,
    *,
    method: str,
    path: str,
    status_code: int,
    is_create: bool = False,
    client_ref: str = "",
    external_id: str = "",
) -> SandboxRequest:
    return SandboxRequest.objects.create(
        provider=provider,
        method=method[:8],
        path=path[:500],
        is_create=is_create,
        client_ref=client_ref[:200],
        external_id=external_id[:200],
        status_code=status_code,
        at=clock.now(),
    )


def creates(
    provider: str, *, client_ref: str | None = None, accepted_only: bool = False
) -> QuerySet[SandboxRequest]:
    """Create calls the provider received; `accepted_only` keeps those it answered 2xx."""
    found = SandboxRequest.objects.filter(provider=provider, is_create=True)
    if client_ref is not None:
        found = found.filter(client_ref=client_ref)
    if accepted_only:
        found = found.filter(status_code__gte=200, status_code__lt=300)
    return found


def clear() -> None:
    SandboxRequest.objects.all().delete()
