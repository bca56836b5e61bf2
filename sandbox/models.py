"""State of the sandbox: fault knobs per provider, provider-side jobs, results, a request log.

Everything lives in the database because the web app may run in several processes: a job
created by one process is polled through another, and a knob counter set in the admin
must be seen (and decremented) by all of them.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Provider(models.TextChoices):
    AIMLAPI = "aimlapi", "AI/ML API"
    USEAPI = "useapi", "useapi.net (Dreamina)"
    IMAGINEAPI = "imagineapi", "ImagineAPI"
    UWEAR = "uwear", "uwear.ai"
    IDEOGRAM = "ideogram", "Ideogram"


class SandboxKnobs(models.Model):
    """Fault and timing knobs of one provider's fake. One row per provider, made lazily."""

    provider = models.CharField(max_length=20, choices=Provider.choices, unique=True)
    latency_seconds = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0)],
        help_text="Sleep this long before answering any API request.",
    )
    async_seconds = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(0)],
        help_text="How long an asynchronous job takes (fixed when the job is created).",
    )
    failure_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Fraction of jobs that end failed (0 = none, 1 = all; decided per job id).",
    )
    rate_limit_next = models.PositiveIntegerField(
        default=0, help_text="The next N API requests answer 429 with Retry-After."
    )
    retry_after_seconds = models.PositiveIntegerField(
        default=1, help_text="Retry-After sent with the 429s above."
    )
    server_errors_next = models.PositiveIntegerField(
        default=0, help_text="The next N API requests answer a server error."
    )
    server_error_status = models.PositiveSmallIntegerField(
        default=503,
        validators=[MinValueValidator(500), MaxValueValidator(599)],
        help_text="Status of those server errors (500, 502, 503, 504…).",
    )
    out_of_credits = models.BooleanField(
        default=False, help_text="Every create answers the provider's out-of-credits error."
    )
    account_broken = models.BooleanField(
        default=False,
        help_text="Every request is refused as if the account were broken "
        "(useapi 596, the others their 401).",
    )
    stuck = models.BooleanField(
        default=False, help_text="Jobs created while on never leave their first status."
    )
    result_ttl_seconds = models.PositiveIntegerField(
        default=24 * 3600, help_text="How long result URLs work (0 = already expired)."
    )
    malformed = models.BooleanField(
        default=False, help_text="Successful API replies carry broken JSON."
    )
    slow_drip_bytes_per_second = models.PositiveIntegerField(
        default=0, help_text="Result downloads trickle at this rate (0 = full speed)."
    )
    oversize_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Result downloads are padded to this many bytes (0 = off)."
    )
    unsafe_results = models.BooleanField(
        default=False,
        help_text="Ideogram only: results come back with is_image_safe false and no URL.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "knobs"
        verbose_name_plural = "knobs"
        ordering = ["provider"]

    def __str__(self) -> str:
        return f"Knobs of {self.get_provider_display()}"


class JobKind(models.TextChoices):
    GENERATION = "generation", "Generation"
    UPSCALE = "upscale", "Upscale"


class Fate(models.TextChoices):
    """How a job ends, decided when it is created so its whole life is consistent."""

    COMPLETE = "complete", "Completes"
    FAIL = "fail", "Fails"
    STUCK = "stuck", "Never leaves its first status"


class Phase(models.TextChoices):
    """Provider-neutral progress; each fake translates it into its own status words."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class SandboxJob(models.Model):
    """A job as the fake provider sees it. Its status is derived from time when polled."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    external_id = models.CharField(max_length=200, help_text="The id the provider hands out.")
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    params = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    source_index = models.PositiveSmallIntegerField(null=True, blank=True)
    # A copy of an uploaded or fetched source, in default storage, until results exist.
    source_file = models.CharField(max_length=300, blank=True)
    fate = models.CharField(max_length=16, choices=Fate.choices, default=Fate.COMPLETE)
    duration_seconds = models.FloatField(default=3.0)
    status_override = models.CharField(
        max_length=16,
        choices=Phase.choices,
        blank=True,
        help_text="Force a status from the admin, whatever the clock says.",
    )
    error = models.TextField(blank=True, help_text="Why the job fails, when it does.")
    origin = models.CharField(
        max_length=300, blank=True, help_text="scheme://host of the create request."
    )
    client_ref = models.CharField(max_length=200, blank=True)
    webhook_url = models.TextField(blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    # Not auto_now_add: tests and the admin move it back in time to age a job.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="sandbox_job_id")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.external_id}"


class SandboxResult(models.Model):
    """One stored output image. Its pk doubles as uwear's `generation_result_id`."""

    job = models.ForeignKey(SandboxJob, on_delete=models.CASCADE, related_name="results")
    index = models.PositiveSmallIntegerField()
    file_name = models.CharField(max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=8)
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="sandbox_result_slot")]

    def __str__(self) -> str:
        return f"{self.job} #{self.index} {self.width}x{self.height}"


class SandboxRequest(models.Model):
    """Every request a fake answered, so tests can assert what the provider saw."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    is_create = models.BooleanField(default=False, help_text="A call that may start paid work.")
    client_ref = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    status_code = models.PositiveSmallIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["provider", "is_create"], name="sandbox_req_creates")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status_code}"
