"""Small builders for test data that goes through the real services."""

from __future__ import annotations

import io
from typing import Any

from jobs import engine, services
from jobs.models import SourceImage, Team, UpscaleJob
from tests.conftest import image_bytes


def source(
    team: Team,
    user: Any,
    *,
    size: tuple[int, int] = (64, 48),
    fmt: str = "PNG",
    name: str = "photo.png",
) -> SourceImage:
    return services.ingest_upload(team, user, io.BytesIO(image_bytes(fmt, size)), name)


def local_job(
    team: Team, user: Any, *, scale: int = 2, run: bool = False, **source_kw: Any
) -> UpscaleJob:
    """A `local` job; with run=True it is processed inline (no worker) to completion."""
    spec = services.JobSpec(
        provider="local", options={"scale": scale}, source=source(team, user, **source_kw)
    )
    job = services.submit_jobs(team, user, [spec])[0]
    if run:
        engine.process_job(job.pk)
        job.refresh_from_db()
    return job
