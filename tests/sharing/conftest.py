"""Shared builders for the sharing tests: finished results and links to them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jobs import engine, services, sharing
from jobs.models import Batch, ResultImage
from tests.factories import local_job, source

SOURCE_NAME = "secret-client-photo.png"


@pytest.fixture
def result(team: Any, user: Any) -> ResultImage:
    return local_job(team, user, run=True, name=SOURCE_NAME).results.get()


@pytest.fixture
def foreign_result(other_team: Any, other_user: Any) -> ResultImage:
    return local_job(other_team, other_user, run=True, name="their-photo.png").results.get()


@pytest.fixture
def board(team: Any, user: Any) -> Batch:
    image = source(team, user, name=SOURCE_NAME)
    specs = [services.JobSpec(provider="local", options={"scale": s}, source=image) for s in (2, 3)]
    jobs = services.submit_jobs(team, user, specs, comparison=True)
    for job in jobs:
        engine.process_job(job.pk)
    return jobs[0].batch


def share(team: Any, user: Any, **kwargs: Any) -> sharing.NewLink:
    kwargs.setdefault("label", "for the Acme review")
    return sharing.create_link(team, user, **kwargs)


def expire(link: Any) -> None:
    type(link).objects.filter(pk=link.pk).update(expires_at=link.created_at - timedelta(days=1))
