"""Writers for teams, uploads and job submission. Views and the API call these, never `.save()`.

The engine (`jobs.engine`) owns every job transition after submission, and the ledger
(`jobs.ledger`) owns money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from jobs import crypto, imaging, ledger
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


def account_for(team: Team, provider: str) -> ProviderAccount | None:
    """The team's active account for a provider (real accounts before the sandbox)."""
    return (
        ProviderAccount.objects.filter(team=team, provider=provider, is_active=True)
        .order_by("is_sandbox", "id")
        .first()
    )


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
        prepared.append((spec, options, reference, account))
    if not prepared:
        raise SubmitError("Nothing to submit.")
    with transaction.atomic():
        batch = Batch.objects.create(team=team, created_by=user, is_comparison=comparison)
        jobs = [_create_job(team, user, batch, *item) for item in prepared]
    return jobs


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
    from jobs import engine

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
    )
    provider = cls(api_key="", base_url="")
    ledger.reserve(job, provider.estimate(options))
    record_event(job, "queued", f"Queued for {cls.name}.")
    transaction.on_commit(lambda: engine.enqueue(job.pk))
    return job


def record_event(job: UpscaleJob, kind: str, message: str) -> None:
    JobEvent.objects.create(job=job, kind=kind, message=message[:500])


def store_bytes(field_file: Any, name: str, data: bytes) -> None:
    field_file.save(name, ContentFile(data), save=False)
