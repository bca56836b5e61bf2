"""Keeping the sandbox small: old jobs, their files and old log rows go away."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage

from sandbox import clock
from sandbox.models import SandboxJob, SandboxRequest, SandboxResult


def purge(older_than: timedelta = timedelta(days=2)) -> int:
    """Delete jobs (with their files) and log rows older than `older_than`; returns jobs."""
    cutoff = clock.now() - older_than
    jobs = SandboxJob.objects.filter(created_at__lt=cutoff)
    names = list(SandboxResult.objects.filter(job__in=jobs).values_list("file_name", flat=True))
    names += [name for name in jobs.values_list("source_file", flat=True) if name]
    for name in names:
        default_storage.delete(name)
    count = jobs.count()
    jobs.delete()
    SandboxRequest.objects.filter(at__lt=cutoff).delete()
    return count
