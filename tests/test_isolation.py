"""Every page and file is scoped to the user's team: another team's things are a 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.factories import local_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign_job(other_team: Any, other_user: Any) -> Any:
    job = local_job(other_team, other_user, run=True)
    assert job.status == "succeeded"
    return job


def foreign_urls(job: Any) -> list[str]:
    result = job.results.get()
    return [
        reverse("jobs:job_detail", args=[job.public_id]),
        reverse("jobs:job_row", args=[job.public_id]),
        reverse("jobs:result_file", args=[result.pk]),
        reverse("jobs:result_file", args=[result.pk]) + "?download=1",
        reverse("jobs:result_thumb", args=[result.pk]),
        reverse("jobs:source_file", args=[job.source_id]),
    ]


def test_other_teams_objects_are_404(alice: Any, foreign_job: Any) -> None:
    for url in foreign_urls(foreign_job):
        response = alice.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, url


def test_owner_team_can_see_them(client: Any, other_user: Any, foreign_job: Any) -> None:
    client.force_login(other_user)
    for url in foreign_urls(foreign_job):
        assert client.get(url, HTTP_HX_REQUEST="true").status_code in (200, 286), url


def test_lists_show_only_own_team(alice: Any, team: Any, user: Any, foreign_job: Any) -> None:
    own = local_job(team, user, run=True, name="mine.png")
    jobs_page = alice.get(reverse("jobs:job_list")).content.decode()
    assert "mine.png" in jobs_page
    assert str(foreign_job.public_id) not in jobs_page
    gallery = alice.get(reverse("jobs:gallery")).content.decode()
    assert reverse("jobs:result_thumb", args=[own.results.get().pk]) in gallery
    assert reverse("jobs:result_thumb", args=[foreign_job.results.get().pk]) not in gallery


def test_cannot_submit_other_teams_source(alice: Any, foreign_job: Any) -> None:
    response = alice.post(
        reverse("jobs:upload"),
        {"provider": "local", "opt_scale": "2", "source_ids": [foreign_job.source_id]},
    )
    assert response.status_code == 400
    assert foreign_job.team.jobs.count() == 1


def test_pages_need_login(client: Any, foreign_job: Any) -> None:
    for url in [reverse("jobs:job_list"), reverse("jobs:gallery"), *foreign_urls(foreign_job)]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
