"""What Upscaler tracks: teams, source images, jobs, results and the money they cost.

Models hold data and small derived properties only; every write that changes a job's
state or money goes through `jobs.services`, `jobs.engine` or `jobs.ledger`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


def _random_key() -> str:
    return secrets.token_urlsafe(16)


class Team(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ProviderAccount(models.Model):
    """A team's credentials for one provider. The key is stored encrypted (jobs.crypto)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="provider_accounts")
    provider = models.CharField(max_length=32)
    label = models.CharField(max_length=80, default="Default")
    is_sandbox = models.BooleanField(
        default=False, help_text="Talks to the built-in sandbox, not the real provider."
    )
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_hint = models.CharField(max_length=16, blank=True, editable=False)
    base_url = models.URLField(blank=True, help_text="Leave empty for the provider's default.")
    max_in_flight = models.PositiveIntegerField(
        default=4, help_text="Jobs this account may have running at the provider at once."
    )
    is_active = models.BooleanField(default=True)
    health_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "provider", "label"], name="one_label")
        ]

    def __str__(self) -> str:
        suffix = " (Sandbox)" if self.is_sandbox else ""
        return f"{self.provider}: {self.label}{suffix}"


def source_upload_to(instance: SourceImage, filename: str) -> str:
    # Unguessable names: media may live in a bucket where keys must not be enumerable.
    ext = (instance.format or "bin").lower()
    return f"sources/{instance.team_id}/{_random_key()}.{ext}"


def result_upload_to(instance: ResultImage, filename: str) -> str:
    return f"results/{instance.team_id}/{_random_key()}.{filename.rsplit('.', 1)[-1]}"


def thumb_upload_to(instance: ResultImage, filename: str) -> str:
    return f"thumbs/{instance.team_id}/{_random_key()}.webp"


class SourceImage(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sources")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to=source_upload_to, max_length=255)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=16, help_text="Pillow format name, e.g. PNG")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["team", "sha256"])]

    def __str__(self) -> str:
        return self.original_name

    @property
    def content_type(self) -> str:
        return f"image/{self.format.lower()}"


class Batch(models.Model):
    """Jobs submitted together: one upload of many files, or one comparison across providers."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_comparison = models.BooleanField(default=False)
    # A comparison board's verdict: the result a team member picked, and why.
    winner = models.ForeignKey(
        "ResultImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    winner_note = models.TextField(blank=True)
    winner_chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Batch {self.pk}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Sending"
    WAITING = "waiting", "At provider"
    DOWNLOADING = "downloading", "Downloading"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    LOST = "lost", "Result lost"
    UNKNOWN = "unknown", "Needs checking"


TERMINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.LOST, JobStatus.UNKNOWN}
)
ACTIVE_STATUSES = frozenset(set(JobStatus) - TERMINAL_STATUSES)


class ErrorKind(models.TextChoices):
    NONE = "", "No error"
    INPUT = "input", "Input refused"
    ACCOUNT = "account", "Provider account problem"
    PROVIDER = "provider", "Provider failed the job"
    TRANSIENT = "transient", "Provider unavailable"
    UNKNOWN_OUTCOME = "unknown_outcome", "Outcome unknown"
    RESULT_LOST = "result_lost", "Result lost"
    TIMEOUT = "timeout", "Took too long"
    INTERNAL = "internal", "Internal error"


class UpscaleJob(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    source = models.ForeignKey(
        SourceImage, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # Reference-based providers upscale an image they generated: {"jobid": ..., "imageIndex": 0}.
    source_ref = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=32, db_index=True)
    account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    provider_job_id = models.CharField(max_length=255, blank=True)
    # Incremented and committed *before* every create call, so a crash can never hide a send.
    attempts = models.PositiveSmallIntegerField(default=0)
    polls = models.PositiveIntegerField(default=0)
    # Consecutive failed reads (status polls, downloads); reset by any successful read.
    read_failures = models.PositiveSmallIntegerField(default=0)
    create_sent_at = models.DateTimeField(null=True, blank=True)
    error_kind = models.CharField(max_length=24, choices=ErrorKind.choices, blank=True)
    error_message = models.TextField(blank=True)
    provider_message = models.TextField(blank=True)
    # Result URLs reported by the provider and not yet stored, so a crash mid-download resumes.
    pending_results = models.JSONField(default=list, blank=True)
    # Engine bookkeeping: who holds the job and when the ticker should next look at it.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_action_at = models.DateTimeField(null=True, blank=True, db_index=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    webhook_token = models.CharField(max_length=64, default=_random_key, editable=False)
    # sha256 of (source bytes, provider, options): finds identical work already paid for.
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "-created_at"]),
            models.Index(fields=["status", "next_action_at"]),
        ]

    def __str__(self) -> str:
        return f"Job {self.public_id} ({self.provider}, {self.status})"

    def get_absolute_url(self) -> str:
        return reverse("jobs:job_detail", args=[self.public_id])

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration(self) -> float | None:
        end: datetime | None = self.finished_at
        if not (self.started_at and end):
            return None
        return (end - self.started_at).total_seconds()


class JobEvent(models.Model):
    """One line of a job's timeline."""

    job = models.ForeignKey(UpscaleJob, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.kind}: {self.message}"


class ResultImage(models.Model):
    job = models.ForeignKey(UpscaleJob, on_delete=models.CASCADE, related_name="results")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="results")
    index = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=result_upload_to, max_length=255, blank=True)
    thumbnail = models.FileField(upload_to=thumb_upload_to, max_length=255, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    is_safe = models.BooleanField(
        default=True, help_text="False when the provider withheld the image as unsafe."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_result_slot")]
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self) -> str:
        return f"Result {self.index} of {self.job_id}"


class LedgerKind(models.TextChoices):
    RESERVE = "reserve", "Reserved"
    CAPTURE = "capture", "Charged"
    RELEASE = "release", "Released"
    REFUND = "refund", "Refunded"


class LedgerEntry(models.Model):
    """Append-only money movements, written only by `jobs.ledger`.

    USD is kept in integer micro-dollars: AI/ML API bills in 1/2,000,000 of a dollar, so
    cents would round real charges away. The provider's own credits are kept beside it.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ledger")
    job = models.ForeignKey(
        UpscaleJob, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=LedgerKind.choices)
    credits = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    usd_micros = models.BigIntegerField(default=0)
    source = models.CharField(
        max_length=16, blank=True, help_text="reported (by the provider) or price_table"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "kind"], condition=Q(job__isnull=False), name="one_entry_per_kind"
            )
        ]
        indexes = [models.Index(fields=["team", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.usd_micros / 1_000_000:.4f} USD ({self.provider})"

    @property
    def usd(self) -> float:
        return self.usd_micros / 1_000_000


# ----- spend: price tables and budgets ------------------------------------------------------
class PriceEntry(models.Model):
    """One dated row of a provider account's price table.

    A change adds a row with a later `valid_from`; old rows stay, so past spend is never
    recomputed with new prices.
    """

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="prices")
    price_key = models.CharField(max_length=40, help_text="e.g. default, 4x, topaz")
    credits = models.DecimalField(max_digits=20, decimal_places=4)
    usd_micros_per_credit = models.DecimalField(max_digits=20, decimal_places=6)
    valid_from = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "price_key", "-valid_from"]
        indexes = [models.Index(fields=["account", "price_key", "valid_from"])]

    def __str__(self) -> str:
        return f"{self.account} {self.price_key}: {self.credits} from {self.valid_from:%Y-%m-%d}"


class BudgetScope(models.TextChoices):
    TEAM = "team", "Whole team"
    PROVIDER = "provider", "One provider"
    USER = "user", "One person"


class Budget(models.Model):
    """A monthly hard limit with a soft warning threshold (calendar month, team time zone)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="budgets")
    scope = models.CharField(max_length=16, choices=BudgetScope.choices)
    provider = models.CharField(max_length=32, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    monthly_limit_micros = models.BigIntegerField()
    warn_percent = models.PositiveSmallIntegerField(default=80)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "scope", "provider", "user"], name="one_budget_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.scope} {self.provider or ''}{self.user or ''}".strip()


class BudgetUsage(models.Model):
    """What a budget has committed in one month. The row a conditional UPDATE guards."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="usage")
    month = models.DateField(help_text="First day of the month, in the team's time zone")
    used_micros = models.BigIntegerField(default=0)
    warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["budget", "month"], name="one_usage_row")]

    def __str__(self) -> str:
        return f"{self.budget} {self.month:%Y-%m}: {self.used_micros}"


# ----- sharing ------------------------------------------------------------------------------
class ShareLink(models.Model):
    """A public link to one result or one comparison board. Only the token's hash is stored."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.ForeignKey(
        ResultImage, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=120, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means never")
    password_hash = models.CharField(max_length=128, blank=True)
    allow_download = models.BooleanField(default=False)
    view_count = models.PositiveIntegerField(default=0)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(result__isnull=False, batch__isnull=True)
                | Q(result__isnull=True, batch__isnull=False),
                name="share_one_thing",
            )
        ]

    def __str__(self) -> str:
        return self.label or f"Share link {self.pk}"


# ----- people, audit and API tokens ---------------------------------------------------------
class Invitation(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Invitation to {self.team} ({self.role})"


class AuditEvent(models.Model):
    """Who changed what. Never holds a secret (keys are recorded as changed, not their value)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"


class ApiToken(models.Model):
    """A personal API token scoped to one team. Shown once; only its hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class WorkerHeartbeat(models.Model):
    """Each worker node says it is alive every few seconds; the UI shows stale ones."""

    node = models.CharField(max_length=200, unique=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.node} (seen {self.last_seen:%H:%M:%S})"
