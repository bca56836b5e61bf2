"""Property test: any interleaving of submit, poll, webhook, retry, crash and refund keeps
the books right, through the real services, engine and ledger (providers are scripted).

After every step: at most one entry of each kind per job (so at most one capture), no
negative balance anywhere, every budget's usage equal to what the ledger commits, and
every reservation settled once its job is over (UNKNOWN keeps its hold by design).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from jobs import engine, ledger, services
from jobs.models import (
    TERMINAL_STATUSES,
    BudgetUsage,
    JobStatus,
    LedgerEntry,
    LedgerKind,
    UpscaleJob,
)
from jobs.providers.registry import get_provider_class
from tests.spend.helpers import (
    Scripts,
    accepted,
    budget,
    done,
    failed,
    reported,
    run_to_end,
    running,
    scripted,
    spec_for,
    step,
    transient,
    unknown,
    unsafe,
)

PROVIDERS = ["aimlapi", "ideogram", "imagineapi", "useapi", "uwear"]
ANSWERS = ["ok", "ok_cost", "fail", "transient", "unknown", "running", "running_cost", "unsafe"]
JOB_OPS = ["poll", "webhook", "retry", "crash", "crash_after_send", "refund", "late_capture"]

submit_op = st.tuples(
    st.just("submit"),
    st.sampled_from(PROVIDERS),
    st.integers(1, 3),
    st.lists(st.sampled_from(ANSWERS), max_size=4),
)
job_op = st.tuples(st.sampled_from(JOB_OPS), st.integers(0, 30))
scenarios = st.lists(st.one_of(submit_op, job_op), min_size=1, max_size=25)


def answer_for(provider: str, call: str, word: str) -> Any:
    """What the scripted provider says for one call, in the provider's own style."""
    is_async = get_provider_class(provider).is_async
    if word == "transient":
        return transient()
    if word == "unknown" and call == "submit":
        return unknown()
    if word == "fail":
        return failed()
    if is_async and call == "submit":
        return accepted(reported(0, 40) if word == "running_cost" else None)
    if is_async and word in ("running", "running_cost", "unknown"):
        return running(reported(0, 40) if word == "running_cost" else None)
    if word == "unsafe":
        return done(None, unsafe())
    return done(reported(45_000, 90_000) if word == "ok_cost" else None)


class LedgerProperties(TestCase):
    def setUp(self) -> None:
        from django.contrib.auth import get_user_model

        self.user = get_user_model().objects.create_user("alice", password="pw-alice-123")
        self.team = services.create_team("Property studio", self.user)
        services.ensure_sandbox_accounts(self.team)
        self.budget = budget(self.team, "0.25")
        self.sources = [spec_for(self.team, self.user, "ideogram").source for _ in range(2)]

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(scenarios)
    def test_the_books_always_balance(self, scenario: list[tuple]) -> None:
        scripts = Scripts()
        jobs: list[UpscaleJob] = []
        with scripted(scripts):
            for op in scenario:
                self.apply(op, jobs, scripts)
                self.check_books(jobs)
            for job in jobs:  # let every job reach its end (scripts run out: success)
                run_to_end(job)
            self.check_books(jobs)
        for job in jobs:
            job.refresh_from_db()
            assert job.status in TERMINAL_STATUSES
            event(f"ended {job.status}")  # shown by --hypothesis-show-statistics

    # ----- operations ---------------------------------------------------------------------
    def apply(self, op: tuple, jobs: list[UpscaleJob], scripts: Scripts) -> None:
        if op[0] == "submit":
            self.submit(op, jobs, scripts)
            return
        # Refunds only exist for charged jobs: aim them there, or they would rarely happen.
        pool = self.charged(jobs) if op[0] == "refund" else jobs
        if not pool:
            return
        job = pool[op[1] % len(pool)]
        job.refresh_from_db()
        getattr(self, op[0])(job)

    def charged(self, jobs: list[UpscaleJob]) -> list[UpscaleJob]:
        ids = set(
            LedgerEntry.objects.filter(kind=LedgerKind.CAPTURE).values_list("job_id", flat=True)
        )
        return [job for job in jobs if job.pk in ids]

    def submit(self, op: tuple, jobs: list[UpscaleJob], scripts: Scripts) -> None:
        _, provider, count, words = op
        specs = []
        for index in range(count):
            spec = spec_for(self.team, self.user, provider)
            if spec.source is not None:
                spec.source = self.sources[index % len(self.sources)]
            specs.append(spec)
        try:
            new = services.submit_jobs(self.team, self.user, specs)
        except services.BudgetExceeded:
            event("a batch was refused by the budget")
            return
        for job in new:
            calls = ["submit"] + ["poll"] * len(words)
            scripts.plan(
                job, *(answer_for(provider, c, w) for c, w in zip(calls, words, strict=False))
            )
        jobs.extend(new)

    def poll(self, job: UpscaleJob) -> None:
        if job.status not in TERMINAL_STATUSES:
            step(job)

    def webhook(self, job: UpscaleJob) -> None:
        """The provider's (unsigned) callback only wakes the job; then a worker runs it."""
        self.client.post(reverse("jobs:webhook", args=[job.provider, job.webhook_token]))
        engine.process_job(job.pk)

    def retry(self, job: UpscaleJob) -> None:
        """The queue delivers the same task twice (django-q re-delivery)."""
        engine.process_job(job.pk)
        engine.process_job(job.pk)

    def crash(self, job: UpscaleJob, sent: bool = False) -> None:
        """A worker takes the job and dies mid-step; its lease runs out; the reconciler runs."""
        if job.status not in (JobStatus.QUEUED, JobStatus.WAITING):
            return
        changes: dict[str, Any] = {}
        if job.status == JobStatus.QUEUED:
            changes = {
                "status": JobStatus.RUNNING,
                "create_sent_at": timezone.now() if sent else None,
            }
        if engine.claim(job.pk, job.status, **changes) is None:
            return
        UpscaleJob.objects.filter(pk=job.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        engine.reconcile()

    def crash_after_send(self, job: UpscaleJob) -> None:
        self.crash(job, sent=True)

    def refund(self, job: UpscaleJob) -> None:
        if ledger.refund(job, "Refunded by the provider's support"):
            event("a charge was refunded")

    def late_capture(self, job: UpscaleJob) -> None:
        """A late or repeated report of what the job cost."""
        ledger.capture(job, reported(99_000, 198_000))

    # ----- the books --------------------------------------------------------------------
    def check_books(self, jobs: list[UpscaleJob]) -> None:
        repeated = LedgerEntry.objects.values("job", "kind").annotate(n=Count("id")).filter(n__gt=1)
        assert not repeated.exists(), "a job has two entries of one kind"
        for job in jobs:
            self.check_job(job)
        for usage in BudgetUsage.objects.select_related("budget", "budget__team"):
            assert usage.used_micros >= 0
            assert usage.used_micros == ledger.committed_micros(usage.budget, usage.month)

    def check_job(self, job: UpscaleJob) -> None:
        entries = dict(LedgerEntry.objects.filter(job=job).values_list("kind", "usd_micros"))
        assert entries.get(LedgerKind.RESERVE) is not None
        if LedgerKind.RELEASE in entries:
            assert entries[LedgerKind.RELEASE] == entries[LedgerKind.RESERVE]
        if LedgerKind.REFUND in entries:
            assert entries[LedgerKind.REFUND] == entries.get(LedgerKind.CAPTURE)
        status = UpscaleJob.objects.values_list("status", flat=True).get(pk=job.pk)
        if status in TERMINAL_STATUSES and status != JobStatus.UNKNOWN:
            assert LedgerKind.RELEASE in entries, f"{status} job {job.pk} still holds money"
        if status == JobStatus.UNKNOWN and LedgerKind.RELEASE not in entries:
            assert entries[LedgerKind.RESERVE] >= 0  # held until a person settles it
