"""Writers for teams, uploads and job submission. Views and the API call these, never `.save()`.

The engine (`jobs.engine`) owns every job transition after submission, and the ledger
(`jobs.ledger`) owns money.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from jobs import crypto, imaging, ledger, spend
from jobs.models import (
    Batch,
    JobEvent,
    JobStatus,
    Membership,
    ProviderAccount,
    Role,
    SourceImage,
    Team,
    UpscaleJob,
)
from jobs.providers.base import InputKind, OptionError
from jobs.providers.registry import get_provider_class

SANDBOX_LABEL = "Sandbox"


class SubmitError(ValueError):
    """A submission was refused before anything was queued; the message is for the user."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BudgetExceeded(SubmitError):
    """A budget refused the whole batch. The API answers 402 with these details."""

    def __init__(
        self, message: str, *, budget: str, remaining_micros: int, needed_micros: int
    ) -> None:
        super().__init__(message, "budget")
        self.budget = budget
        self.remaining_micros = remaining_micros
        self.needed_micros = needed_micros


# ----- teams ---------------------------------------------------------------------------
def create_team(name: str, owner: AbstractBaseUser) -> Team:
    base = slugify(name) or "team"
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    with transaction.atomic():
        team = Team.objects.create(name=name, slug=slug)
        Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def ensure_sandbox_accounts(team: Team) -> list[ProviderAccount]:
    """Give a team one sandbox account per network provider, unless it has one already."""
    from jobs.providers.registry import PROVIDERS

    accounts = []
    for slug, cls in PROVIDERS.items():
        if not cls.needs_network:
            continue
        account, _ = ProviderAccount.objects.get_or_create(
            team=team,
            provider=slug,
            label=SANDBOX_LABEL,
            defaults={"is_sandbox": True, "max_in_flight": 10},
        )
        if not account.api_key_encrypted:
            set_account_key(account, f"sandbox-{slug}-key")
        accounts.append(account)
    return accounts


def set_account_key(account: ProviderAccount, api_key: str) -> None:
    account.api_key_encrypted = crypto.encrypt(api_key)
    account.api_key_hint = crypto.mask(api_key)
    account.save(update_fields=["api_key_encrypted", "api_key_hint"])


# ----- uploads -------------------------------------------------------------------------
def ingest_upload(team: Team, user: AbstractBaseUser, file: IO[bytes], name: str) -> SourceImage:
    """Check and store one uploaded image. Raises imaging.ImageRejected with a user message.

    Nothing is written until the file has been fully decoded, so a rejected upload leaves
    no row and no file behind.
    """
    info = imaging.inspect(
        file,
        allowed=imaging.UPLOAD_FORMATS,
        max_pixels=settings.MAX_UPLOAD_PIXELS,
        max_bytes=settings.MAX_UPLOAD_BYTES,
    )
    source = SourceImage(
        team=team,
        uploaded_by=user,
        original_name=(name or "image")[:255],
        sha256=info.sha256,
        size_bytes=info.size_bytes,
        width=info.width,
        height=info.height,
        format=info.format,
    )
    file.seek(0)
    source.file.save(f"upload.{info.extension}", File(file), save=False)
    try:
        source.save()
    except Exception:
        source.file.delete(save=False)
        raise
    return source


# ----- submission ----------------------------------------------------------------------
@dataclass
class JobSpec:
    """One job to create: which provider, how, on what."""

    provider: str
    options: Mapping[str, Any]
    source: SourceImage | None = None
    reference: Mapping[str, Any] | None = None
    account: ProviderAccount | None = None


def accounts_by_provider(team: Team) -> dict[str, ProviderAccount]:
    """The account jobs of each provider use: active, real before sandbox, oldest first.

    One query for every provider, so pickers listing all of them stay cheap.
    """
    chosen: dict[str, ProviderAccount] = {}
    # Least preferred first, so the preferred account is the one left standing.
    for account in ProviderAccount.objects.filter(team=team, is_active=True).order_by(
        "-is_sandbox", "-id"
    ):
        chosen[account.provider] = account
    return chosen


def account_for(team: Team, provider: str) -> ProviderAccount | None:
    """The account a new job of `provider` will use, or None."""
    return accounts_by_provider(team).get(provider)


def validate_spec(team: Team, spec: JobSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clean options and the input for a provider, or raise SubmitError. No network."""
    try:
        cls = get_provider_class(spec.provider)
    except LookupError:
        raise SubmitError(f"Unknown provider {spec.provider!r}.", "provider") from None
    try:
        options = cls.clean_options(spec.options)
    except OptionError as exc:
        raise SubmitError(f"{cls.name}: {exc.field} {exc.message}", exc.field) from None
    reference = _validate_input(cls, spec)
    return options, reference


def _validate_input(cls: Any, spec: JobSpec) -> dict[str, Any]:
    if spec.reference:
        if InputKind.REFERENCE not in cls.input_kinds:
            raise SubmitError(f"{cls.name} does not take a provider reference.", "source_ref")
        try:
            return cls.clean_reference(spec.reference)
        except OptionError as exc:
            raise SubmitError(f"{cls.name}: {exc.field} {exc.message}", exc.field) from None
    if spec.source is None:
        raise SubmitError("Choose an image to upscale.", "files")
    takes_image = {InputKind.UPLOAD, InputKind.PUBLIC_URL} & set(cls.input_kinds)
    if not takes_image:
        raise SubmitError(
            f"{cls.name} can only upscale images it generated itself; give a provider reference.",
            "source_ref",
        )
    problems = cls.limits.problems(
        format=spec.source.format,
        size_bytes=spec.source.size_bytes,
        width=spec.source.width,
        height=spec.source.height,
    )
    if problems:
        detail = "; ".join(problems)
        raise SubmitError(f"{spec.source.original_name}: {cls.name} {detail}.", "files")
    return {}


def submit_jobs(
    team: Team, user: AbstractBaseUser, specs: Iterable[JobSpec], *, comparison: bool = False
) -> list[UpscaleJob]:
    """Validate every spec, then create all jobs in one transaction and queue them on commit.

    Either every job of the batch is created or none is.
    """
    prepared = []
    for spec in specs:
        options, reference = validate_spec(team, spec)
        account = spec.account or _required_account(team, spec.provider)
        _check_source_reachable(spec, account)
        prepared.append((spec, options, reference, account))
    if not prepared:
        raise SubmitError("Nothing to submit.")
    with transaction.atomic():
        batch = Batch.objects.create(team=team, created_by=user, is_comparison=comparison)
        jobs = [_create_job(team, user, batch, *item) for item in prepared]
        _reserve(team, user, jobs)
    return jobs


def _check_source_reachable(spec: JobSpec, account: ProviderAccount | None) -> None:
    """Providers that fetch the upload themselves need a public URL of this installation."""
    cls = get_provider_class(spec.provider)
    fetches_url = InputKind.UPLOAD not in cls.input_kinds
    if spec.source is None or not fetches_url or settings.PUBLIC_BASE_URL:
        return
    if account is not None and account.is_sandbox:
        return  # the sandbox fetches from this very server
    raise SubmitError(
        f"{cls.name} downloads the image itself from a public link, and this installation has "
        "no public address configured (PUBLIC_BASE_URL). Ask an admin to set it, or choose a "
        "provider that takes uploads.",
        "provider",
    )


def _reserve(team: Team, user: AbstractBaseUser, jobs: list[UpscaleJob]) -> None:
    """Hold the batch's cost on every budget; a refusal rolls the whole batch back.

    Jobs are queued on commit, so nothing reaches a worker unless this succeeded.
    """
    try:
        ledger.reserve_batch(team, user, list(zip(jobs, spend.estimates_for(jobs), strict=True)))
    except ledger.BudgetRefused as refused:
        raise BudgetExceeded(
            refused.message,
            budget=refused.budget_label,
            remaining_micros=refused.remaining_micros,
            needed_micros=refused.needed_micros,
        ) from None


def _required_account(team: Team, provider: str) -> ProviderAccount | None:
    cls = get_provider_class(provider)
    if not cls.needs_network:
        return None
    account = account_for(team, provider)
    if account is None:
        raise SubmitError(
            f"Your team has no {cls.name} account yet. Add its API key under Providers.",
            "provider",
        )
    return account


def _create_job(
    team: Team,
    user: AbstractBaseUser,
    batch: Batch,
    spec: JobSpec,
    options: dict[str, Any],
    reference: dict[str, Any],
    account: ProviderAccount | None,
) -> UpscaleJob:
    from jobs import dedupe, engine

    cls = get_provider_class(spec.provider)
    job = UpscaleJob.objects.create(
        team=team,
        created_by=user,
        batch=batch,
        source=spec.source,
        source_ref=reference,
        provider=spec.provider,
        account=account,
        options=options,
        status=JobStatus.QUEUED,
        next_action_at=timezone.now() + engine.DISPATCH_GRACE,
        fingerprint=dedupe.fingerprint_for(spec.source, reference, spec.provider, options),
    )
    record_event(job, "queued", f"Queued for {cls.name}.")
    transaction.on_commit(lambda: engine.enqueue(job.pk))
    return job


def record_event(job: UpscaleJob, kind: str, message: str) -> None:
    JobEvent.objects.create(job=job, kind=kind, message=message[:500])


# ----- cancel ----------------------------------------------------------------------------
class CancelError(ValueError):
    """A job could not be canceled; the message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def cancel_job(job: UpscaleJob, user: AbstractBaseUser) -> UpscaleJob:
    """Cancel a job that has not finished: locally while queued, at the provider while waiting.

    A job being sent or downloaded right now cannot be stopped safely (the create may have
    reached the provider; the result is already paid for), so those are refused.
    """
    if job.is_finished:
        raise CancelError(f"This job has already finished ({job.get_status_display().lower()}).")
    who = user.get_username() if user else "someone"
    if job.status == JobStatus.QUEUED:
        canceled = _mark_canceled(job, JobStatus.QUEUED, lease_token=None)
        if not canceled:
            raise CancelError("The job was picked up by a worker just now; try again shortly.")
        return _after_cancel(job, f"Canceled by {who} before it was sent.")
    if job.status == JobStatus.WAITING:
        return _cancel_at_provider(job, who)
    raise CancelError(
        f"This job is {job.get_status_display().lower()} right now and cannot be stopped safely."
    )


def _cancel_at_provider(job: UpscaleJob, who: str) -> UpscaleJob:
    """Canceled at the provider where it has a cancel call, else here only (engine)."""
    from jobs import engine

    claimed = _claim_waiting(job)
    if claimed is None:
        raise CancelError("A worker is checking this job right now; try again shortly.")
    message = engine.cancel_waiting(claimed, who)
    if message is None:
        cls = get_provider_class(job.provider)
        raise CancelError(
            f"{cls.name} could not cancel this job: it is too far along. It will finish and "
            "be charged as usual."
        )
    record_event(job, "canceled", message)
    job.refresh_from_db()
    return job


def _claim_waiting(job: UpscaleJob, tries: int = 5) -> UpscaleJob | None:
    """Take the job from the poller; a poll holds it for a moment only, so wait briefly."""
    from jobs import engine

    for attempt in range(tries):
        claimed = engine.claim(job.pk, JobStatus.WAITING)  # keeps pollers away while we ask
        if claimed is not None or attempt == tries - 1:
            return claimed
        time.sleep(0.2)
    return None


def _mark_canceled(job: UpscaleJob, from_status: str, *, lease_token: str | None) -> bool:
    now = timezone.now()
    rows = UpscaleJob.objects.filter(pk=job.pk, status=from_status)
    if lease_token is not None:
        rows = rows.filter(lease_token=lease_token)
    return bool(
        rows.update(
            status=JobStatus.CANCELED,
            lease_token="",
            lease_until=None,
            next_action_at=None,
            finished_at=now,
            updated_at=now,
        )
    )


def _after_cancel(job: UpscaleJob, message: str) -> UpscaleJob:
    ledger.release(job, "Canceled")
    record_event(job, "canceled", message)
    job.refresh_from_db()
    return job


# ----- retry -----------------------------------------------------------------------------
def retry_job(job: UpscaleJob, user: AbstractBaseUser) -> UpscaleJob:
    """A new job with the same input, provider and options; the old one stays as it was.

    Goes through `submit_jobs`, so validation, budgets and the reservation apply again.
    """
    if not job.is_finished:
        raise SubmitError("This job has not finished yet; cancel it first, or wait for it.")
    account = job.account if job.account is not None and job.account.is_active else None
    spec = JobSpec(
        provider=job.provider,
        options=job.options,
        source=job.source,
        reference=job.source_ref or None,
        account=account,
    )
    new = submit_jobs(job.team, user, [spec])[0]
    record_event(job, "retried", f"Retried by {user.get_username()} as job {new.public_id}.")
    record_event(new, "retry", f"Retry of job {job.public_id}.")
    return new
