"""Cancel and retry from the job page: POST only, CSRF, team-scoped, members only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from jobs import services
from jobs.models import JobStatus, Membership, Role, UpscaleJob
from sandbox.models import SandboxRequest
from tests.engine.conftest import events, held, step, submit, useapi_reference
from tests.factories import local_job

pytestmark = pytest.mark.django_db


def cancel_url(job: UpscaleJob) -> str:
    return reverse("jobs:job_cancel", args=[job.public_id])


def retry_url(job: UpscaleJob) -> str:
    return reverse("jobs:job_retry", args=[job.public_id])


def test_cancel_a_queued_job(alice, team, user):
    job = local_job(team, user)

    reply = alice.post(cancel_url(job), follow=True)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and job.finished_at
    assert "The job was canceled." in reply.content.decode()
    assert events(job)[-1] == "canceled: Canceled by alice before it was sent."
    assert held(job) == {"reserve", "release"}  # the reservation is given back


def test_a_finished_job_cannot_be_canceled(alice, team, user):
    job = local_job(team, user, run=True)

    reply = alice.post(cancel_url(job), follow=True)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert "already finished" in reply.content.decode()


def test_actions_are_post_only_and_csrf_checked(team, user):
    job = local_job(team, user)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)

    assert strict.get(cancel_url(job)).status_code == 405
    assert strict.post(cancel_url(job)).status_code == 403  # no CSRF token
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_another_teams_job_is_not_found(client, other_user, other_team, team, user):
    job = local_job(team, user)
    client.force_login(other_user)

    assert client.post(cancel_url(job)).status_code == 404
    assert client.post(retry_url(job)).status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_viewers_cannot_cancel_or_retry(client, django_user_model, team, user):
    job = local_job(team, user)
    viewer = django_user_model.objects.create_user("victor", password="pw-victor-123")
    Membership.objects.create(team=team, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)

    assert client.post(cancel_url(job)).status_code == 403
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Cancel job" not in page and "Retry" not in page


def test_retry_makes_a_new_job_with_the_same_settings(alice, team, user):
    job = local_job(team, user, scale=3)
    services.cancel_job(job, user)

    reply = alice.post(retry_url(job))

    new = UpscaleJob.objects.exclude(pk=job.pk).get()
    assert reply.status_code == 302 and reply["Location"] == new.get_absolute_url()
    assert (new.provider, new.options, new.source_id) == (job.provider, job.options, job.source_id)
    assert new.status == JobStatus.QUEUED and new.batch_id != job.batch_id
    assert f"Retry of job {job.public_id}." in events(new)[-1]
    assert str(new.public_id) in events(job)[-1]


def test_a_running_job_cannot_be_retried(alice, team, user):
    job = local_job(team, user)
    reply = alice.post(retry_url(job), follow=True)
    assert "has not finished yet" in reply.content.decode()
    assert UpscaleJob.objects.count() == 1


def test_retrying_an_unknown_job_needs_a_confirmation(alice, team, user):
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(status=JobStatus.UNKNOWN)

    refused = alice.post(retry_url(job), follow=True)
    assert "check the provider" in refused.content.decode()
    assert UpscaleJob.objects.count() == 1

    assert alice.post(retry_url(job), {"confirm": "yes"}).status_code == 302
    assert UpscaleJob.objects.count() == 2


def test_the_job_page_offers_what_fits_the_status(alice, team, user):
    job = local_job(team, user)
    page = alice.get(job.get_absolute_url()).content.decode()
    assert cancel_url(job) in page and retry_url(job) not in page

    services.cancel_job(job, user)
    page = alice.get(job.get_absolute_url()).content.decode()
    assert retry_url(job) in page and cancel_url(job) not in page

    UpscaleJob.objects.filter(pk=job.pk).update(status=JobStatus.UNKNOWN)
    page = alice.get(job.get_absolute_url()).content.decode()
    assert 'name="confirm"' in page and "record the charge" in page  # alice owns the team


def test_the_live_partial_keeps_the_buttons(alice, team, user):
    job = local_job(team, user)
    live = alice.get(job.get_absolute_url(), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-live")
    assert live.status_code == 200 and cancel_url(job) in live.content.decode()


# ----- at the provider -------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sandbox")
def test_cancel_a_waiting_job_cancels_it_at_the_provider(alice, team, user):
    job = submit(team, user, "useapi", reference=useapi_reference(team))
    step(job)
    assert job.status == JobStatus.WAITING

    alice.post(cancel_url(job))

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and job.lease_token == ""
    assert SandboxRequest.objects.get(provider="useapi", method="DELETE").status_code == 204
    assert events(job)[-1] == "canceled: Canceled at useapi.net (Dreamina) by alice."
    assert "release" in held(job)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sandbox")
def test_a_provider_without_a_cancel_call_is_canceled_here_only(alice, team, user):
    job = submit(team, user, "uwear")
    step(job)
    assert job.status == JobStatus.WAITING

    alice.post(cancel_url(job))

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED
    assert "has no cancel call, so it may still finish the job" in events(job)[-1]
    assert held(job) >= {"reserve", "release"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sandbox")
def test_a_job_too_far_along_to_cancel_is_left_to_finish(alice, team, user):
    from tests.engine.conftest import age

    job = submit(team, user, "useapi", reference=useapi_reference(team))
    step(job)
    age(120, kind="upscale")  # done at the provider: its scheduler no longer has it

    reply: Any = alice.post(cancel_url(job), follow=True)

    job.refresh_from_db()
    assert "too far along" in reply.content.decode()
    assert job.status == JobStatus.WAITING and job.lease_token == ""
    step(job)
    assert job.status == JobStatus.SUCCEEDED and job.results.count() == 1
