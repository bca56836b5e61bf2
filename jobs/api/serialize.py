"""How jobs, results, providers and money look in the API (see jobs.api.openapi)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from jobs import accounts
from jobs.models import (
    LedgerKind,
    ProviderAccount,
    ResultImage,
    Team,
    UpscaleJob,
)
from jobs.providers.base import Provider
from jobs.providers.registry import PROVIDERS

DOWNLOAD_URL_LIFETIME = timedelta(hours=1)
_DOWNLOAD_SALT = "upscaler.api.result-download"


# ----- money ------------------------------------------------------------------------------
def money(usd_micros: int, credits: Decimal | None = None) -> dict[str, Any]:
    """Integer micro-dollars are exact; `usd` is the same amount as a decimal string."""
    data: dict[str, Any] = {"usd_micros": int(usd_micros), "usd": f"{usd_micros / 1e6:.6f}"}
    if credits is not None:
        data["credits"] = f"{Decimal(credits):.4f}"
    return data


def _ledger_amounts(job: UpscaleJob) -> dict[str, tuple[int, Decimal]]:
    # Uses the prefetched ledger when the list view asked for it: no query per job.
    return {entry.kind: (entry.usd_micros, entry.credits) for entry in job.ledger.all()}


def job_money(job: UpscaleJob) -> tuple[dict[str, Any], dict[str, Any]]:
    """(estimate held at submit, cost so far = charged minus refunded)."""
    amounts = _ledger_amounts(job)
    held = amounts.get(LedgerKind.RESERVE, (0, Decimal(0)))
    charged = amounts.get(LedgerKind.CAPTURE, (0, Decimal(0)))
    refunded = amounts.get(LedgerKind.REFUND, (0, Decimal(0)))
    cost = money(charged[0] - refunded[0], charged[1] - refunded[1])
    return money(*held), cost


# ----- jobs -------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_data(job: UpscaleJob, request: HttpRequest) -> dict[str, Any]:
    estimate, cost = job_money(job)
    return {
        "id": str(job.public_id),
        "url": request.build_absolute_uri(reverse("api:job", args=[job.public_id])),
        "web_url": request.build_absolute_uri(job.get_absolute_url()),
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "provider": job.provider,
        "options": job.options,
        "batch": {"id": job.batch_id, "comparison": bool(job.batch and job.batch.is_comparison)},
        "source": _source(job),
        "source_ref": job.source_ref or None,
        "attempts": job.attempts,
        "error": _error(job),
        "estimate": estimate,
        "cost": cost,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "results": [result_data(r, request) for r in _sorted_results(job)],
    }


def _sorted_results(job: UpscaleJob) -> list[ResultImage]:
    return sorted(job.results.all(), key=lambda r: r.index)


def _source(job: UpscaleJob) -> dict[str, Any] | None:
    source = job.source
    if source is None:
        return None
    return {
        "name": source.original_name,
        "width": source.width,
        "height": source.height,
        "format": source.format,
        "size_bytes": source.size_bytes,
    }


def _error(job: UpscaleJob) -> dict[str, Any] | None:
    if not job.error_kind and not job.error_message:
        return None
    return {
        "kind": job.error_kind or "unknown",
        "message": job.error_message,
        "provider_message": job.provider_message,
    }


# ----- results and their download URLs ----------------------------------------------------
def result_data(item: ResultImage, request: HttpRequest) -> dict[str, Any]:
    data: dict[str, Any] = {
        "index": item.index,
        "width": item.width,
        "height": item.height,
        "format": item.format,
        "size_bytes": item.size_bytes,
        "withheld": not item.is_safe,
        "download_url": None,
        "download_expires_at": None,
    }
    if item.file:
        url, expires = signed_download_url(item, request)
        data.update(download_url=url, download_expires_at=_iso(expires))
    return data


def download_path(item: ResultImage) -> str:
    return reverse("api:result_file", args=[item.job.public_id, item.index])


def signed_download_url(item: ResultImage, request: HttpRequest) -> tuple[str, datetime]:
    """A URL that works without a token for an hour; with the token it works any time."""
    signature = signing.dumps(_download_claim(item), salt=_DOWNLOAD_SALT, compress=True)
    expires = timezone.now() + DOWNLOAD_URL_LIFETIME
    url = request.build_absolute_uri(f"{download_path(item)}?signature={signature}")
    return url, expires


def _download_claim(item: ResultImage) -> str:
    return f"{item.job.public_id}:{item.index}"


def signature_allows(signature: str, public_id: str, index: int) -> bool:
    max_age = DOWNLOAD_URL_LIFETIME.total_seconds()
    try:
        claim = signing.loads(signature, salt=_DOWNLOAD_SALT, max_age=max_age)
    except signing.BadSignature:
        return False
    return claim == f"{public_id}:{index}"


# ----- providers --------------------------------------------------------------------------
def provider_data(cls: type[Provider], team: Team) -> dict[str, Any]:
    return {
        "slug": cls.slug,
        "name": cls.name,
        "summary": cls.summary,
        "is_async": cls.is_async,
        "input_kinds": [str(kind) for kind in cls.input_kinds],
        "takes": accounts.takes(cls),
        "cannot_take": accounts.cannot_take(cls),
        "options": [option.describe() for option in cls.options],
        "reference_fields": [f.describe() for f in cls.reference_fields],
        "limits": _limits(cls),
        "account": _account_state(cls, team),
    }


def _limits(cls: type[Provider]) -> dict[str, Any]:
    limits = cls.limits
    return {
        "formats": sorted(limits.formats),
        "max_bytes": limits.max_bytes,
        "max_width": limits.max_width,
        "max_height": limits.max_height,
    }


def _account_state(cls: type[Provider], team: Team) -> dict[str, Any]:
    if not cls.needs_network:
        return {"needed": False, "configured": True, "sandbox": False}
    account = (
        ProviderAccount.objects.filter(team=team, provider=cls.slug, is_active=True)
        .order_by("is_sandbox", "id")
        .first()
    )
    return {
        "needed": True,
        "configured": account is not None,
        "sandbox": bool(account and account.is_sandbox),
    }


def providers(team: Team) -> list[dict[str, Any]]:
    return [provider_data(cls, team) for cls in PROVIDERS.values()]
