"""Don't pay twice: find work the team already paid for.

A request's fingerprint is a sha256 over the source image's own sha256 (or, for providers
that upscale their own images, the reference), the provider and the *cleaned* options as
canonical JSON. Cleaning first matters: `{"scale": "2"}` from a form and `{"scale": 2}`
from the API are the same request and must collide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch

from jobs import ledger
from jobs.models import JobStatus, ResultImage, SourceImage, Team, UpscaleJob
from jobs.providers.base import Cost

if TYPE_CHECKING:
    from jobs.services import JobSpec

# What the person chose on the confirmation page.
REUSE = "reuse"
AGAIN = "again"


def canonical_json(value: Mapping[str, Any]) -> str:
    """One spelling per value: sorted keys, no spaces, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(
    provider: str,
    options: Mapping[str, Any],
    *,
    source_sha256: str = "",
    reference: Mapping[str, Any] | None = None,
) -> str:
    """The identity of a request. `options` must already be cleaned by the provider."""
    image = f"sha256:{source_sha256}" if source_sha256 else f"ref:{canonical_json(reference or {})}"
    text = "\n".join([image, provider, canonical_json(options)])
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_for(
    source: SourceImage | None,
    reference: Mapping[str, Any] | None,
    provider: str,
    options: Mapping[str, Any],
) -> str:
    sha = source.sha256 if source is not None else ""
    return fingerprint(provider, options, source_sha256=sha, reference=reference)


@dataclass(frozen=True)
class PriorRun:
    """An identical job that already succeeded: who ran it, when, and what it cost."""

    job: UpscaleJob
    cost: Cost

    @property
    def who(self) -> str:
        user = self.job.created_by
        return user.get_username() if user is not None else "a former member"

    @property
    def when(self) -> datetime:
        return self.job.finished_at or self.job.created_at

    @property
    def result(self) -> ResultImage | None:
        usable = [r for r in self.job.results.all() if r.file and r.is_safe]
        return usable[0] if usable else None


def find_identical(team: Team, fingerprints: Iterable[str]) -> dict[str, PriorRun]:
    """The newest succeeded job of the team for each fingerprint that has one."""
    wanted = {fp for fp in fingerprints if fp}
    if not wanted:
        return {}
    jobs = (
        UpscaleJob.objects.filter(team=team, fingerprint__in=wanted, status=JobStatus.SUCCEEDED)
        .filter(results__isnull=False)
        .select_related("created_by", "source")
        .prefetch_related(Prefetch("results", queryset=ResultImage.objects.order_by("index")))
        .order_by("-finished_at", "-id")
        .distinct()
    )
    found: dict[str, PriorRun] = {}
    for job in jobs:
        if job.fingerprint not in found:
            found[job.fingerprint] = PriorRun(job=job, cost=ledger.job_spend(job))
    return found


def spec_fingerprint(spec: JobSpec) -> str:
    """The fingerprint a spec will get, from the options as its provider cleans them."""
    from jobs.providers.registry import get_provider_class

    try:
        cls = get_provider_class(spec.provider)
        options = cls.clean_options(spec.options)
        reference = cls.clean_reference(spec.reference) if spec.reference else None
    except (LookupError, ValueError):
        return ""  # submission will refuse it with a proper message
    return fingerprint_for(spec.source, reference, spec.provider, options)


@dataclass
class DuplicateCheck:
    """What to do with a submission once earlier identical work is known."""

    matches: list[tuple[JobSpec, PriorRun]] = field(default_factory=list)
    to_submit: list[JobSpec] = field(default_factory=list)
    needs_confirmation: bool = False

    @property
    def reused(self) -> list[PriorRun]:
        return [prior for _, prior in self.matches]

    @property
    def saved_micros(self) -> int:
        return sum(prior.cost.usd_micros for prior in self.reused)


def check(team: Team, specs: Sequence[JobSpec], decision: str = "") -> DuplicateCheck:
    """Split a submission into specs already done in the team and specs still to run.

    Without a decision the caller must ask the person first (`needs_confirmation`);
    "reuse" drops the done ones, "again" submits everything.
    """
    if decision == AGAIN:
        return DuplicateCheck(to_submit=list(specs))
    prints = [spec_fingerprint(spec) for spec in specs]
    found = find_identical(team, prints)
    result = DuplicateCheck()
    for spec, fp in zip(specs, prints, strict=True):
        if fp in found:
            result.matches.append((spec, found[fp]))
        else:
            result.to_submit.append(spec)
    result.needs_confirmation = bool(result.matches) and decision != REUSE
    return result
