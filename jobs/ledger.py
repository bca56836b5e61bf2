"""The only module that writes money.

Append-only: a job gets at most one entry of each kind (a unique constraint), so a retried
task or a late webhook can never charge twice. Reserve at submit, capture what the
provider actually charged, release what was reserved but not charged.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum

from jobs.models import LedgerEntry, LedgerKind, UpscaleJob
from jobs.providers.base import Cost


def _write(job: UpscaleJob, kind: str, cost: Cost, note: str = "") -> LedgerEntry | None:
    """Insert one entry; None if this job already has an entry of this kind."""
    try:
        with transaction.atomic():
            return LedgerEntry.objects.create(
                team_id=job.team_id,
                job=job,
                user_id=job.created_by_id,
                provider=job.provider,
                kind=kind,
                credits=cost.credits,
                usd_micros=cost.usd_micros,
                source=cost.source,
                note=note[:200],
            )
    except IntegrityError:
        return None


def reserve(job: UpscaleJob, estimate: Cost) -> LedgerEntry | None:
    return _write(job, LedgerKind.RESERVE, estimate, "Estimate held at submit")


def capture(job: UpscaleJob, actual: Cost) -> LedgerEntry | None:
    return _write(job, LedgerKind.CAPTURE, actual, "Charged by the provider")


def release(job: UpscaleJob, note: str = "Nothing was charged") -> LedgerEntry | None:
    """Give back a reservation that will never be captured."""
    held = _amount(job, LedgerKind.RESERVE)
    if held is None:
        return None
    return _write(job, LedgerKind.RELEASE, held, note)


def refund(job: UpscaleJob, note: str) -> LedgerEntry | None:
    """The provider returned a captured charge (e.g. ImagineAPI refunds failed jobs)."""
    charged = _amount(job, LedgerKind.CAPTURE)
    if charged is None:
        return None
    return _write(job, LedgerKind.REFUND, charged, note)


def _amount(job: UpscaleJob, kind: str) -> Cost | None:
    entry = LedgerEntry.objects.filter(job=job, kind=kind).first()
    if entry is None:
        return None
    return Cost(credits=entry.credits, usd_micros=entry.usd_micros, source=entry.source or "")


def job_spend(job: UpscaleJob) -> Cost:
    """What this job cost in the end: captured minus refunded."""
    totals = {
        row["kind"]: row
        for row in LedgerEntry.objects.filter(
            job=job, kind__in=[LedgerKind.CAPTURE, LedgerKind.REFUND]
        )
        .values("kind")
        .annotate(usd=Sum("usd_micros"), credits=Sum("credits"))
    }
    captured = totals.get(LedgerKind.CAPTURE, {"usd": 0, "credits": Decimal(0)})
    refunded = totals.get(LedgerKind.REFUND, {"usd": 0, "credits": Decimal(0)})
    return Cost(
        credits=captured["credits"] - refunded["credits"],
        usd_micros=captured["usd"] - refunded["usd"],
        source="reported",
    )
