"""The gallery: filters, keyset pagination, team isolation, and the before/after page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import JobStatus, UpscaleJob
from jobs.views import gallery
from tests.factories import local_job

pytestmark = pytest.mark.django_db


def tiles(response: Any) -> int:
    return response.content.decode().count('<figure class="tile"')


def bulk_jobs(team: Any, user: Any, count: int, **fields: Any) -> list[UpscaleJob]:
    """Rows only (no files): enough for filters and paging. created_at is auto_now_add,
    so it is moved afterwards to spread the jobs one minute apart."""
    jobs = UpscaleJob.objects.bulk_create(
        UpscaleJob(team=team, created_by=user, provider="local", options={"scale": 2}, **fields)
        for _ in range(count)
    )
    start = timezone.now() - timedelta(days=10)
    for n, job in enumerate(jobs):
        UpscaleJob.objects.filter(pk=job.pk).update(created_at=start + timedelta(minutes=n))
    return jobs


def test_gallery_shows_a_tile_per_job_with_a_meaningful_download(
    alice: Any, team: Any, user: Any
) -> None:
    job = local_job(team, user, run=True, name="harbour.png")
    result = job.results.get()
    page = alice.get(reverse("jobs:gallery")).content.decode()
    assert "harbour.png" in page
    assert reverse("jobs:result_detail", args=[result.pk]) in page
    download = alice.get(reverse("jobs:result_file", args=[result.pk]) + "?download=1")
    assert download["Content-Disposition"] == 'attachment; filename="harbour-local-128x96.png"'


def test_keyset_pages_walk_every_job_once_in_both_directions(
    alice: Any, team: Any, user: Any
) -> None:
    jobs = bulk_jobs(team, user, gallery.PAGE_SIZE * 2 + 5)
    seen: list[int] = []
    url = reverse("jobs:gallery")
    pages = []
    while url:
        response = alice.get(url)
        page = response.context["page"]
        seen += [job.pk for job in page.items]
        pages.append(page)
        url = f"{reverse('jobs:gallery')}?after={page.older}" if page.older else ""
    assert seen == sorted((j.pk for j in jobs), reverse=True)
    assert [len(p.items) for p in pages] == [gallery.PAGE_SIZE, gallery.PAGE_SIZE, 5]
    back = alice.get(f"{reverse('jobs:gallery')}?before={pages[2].newer}").context["page"]
    assert [j.pk for j in back.items] == [j.pk for j in pages[1].items]
    first = alice.get(f"{reverse('jobs:gallery')}?before={pages[1].newer}").context["page"]
    assert first.is_first and first.newer is None


def test_ties_on_created_at_are_neither_lost_nor_repeated(alice: Any, team: Any, user: Any) -> None:
    jobs = bulk_jobs(team, user, gallery.PAGE_SIZE + 3)
    UpscaleJob.objects.filter(team=team).update(created_at=timezone.now())
    first = alice.get(reverse("jobs:gallery")).context["page"]
    second = alice.get(f"{reverse('jobs:gallery')}?after={first.older}").context["page"]
    shown = [j.pk for j in first.items + second.items]
    assert sorted(shown) == sorted(j.pk for j in jobs) and len(set(shown)) == len(shown)


def test_a_garbled_cursor_shows_the_first_page(alice: Any, team: Any, user: Any) -> None:
    bulk_jobs(team, user, 3)
    for cursor in ("nonsense", "1-2-3", "99999999999999999999999-1", ""):
        response = alice.get(reverse("jobs:gallery"), {"after": cursor})
        assert response.status_code == 200 and tiles(response) == 3


def test_filters_by_provider_user_status_batch_and_dates(
    alice: Any, team: Any, user: Any, django_user_model: Any
) -> None:
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    team.memberships.create(user=bob)
    mine = bulk_jobs(team, user, 4)
    UpscaleJob.objects.filter(pk=mine[0].pk).update(provider="aimlapi", status=JobStatus.FAILED)
    bobs = bulk_jobs(team, bob, 2)
    done = local_job(team, user, run=True)
    url = reverse("jobs:gallery")
    assert tiles(alice.get(url, {"provider": "aimlapi"})) == 1
    assert tiles(alice.get(url, {"user": bob.pk})) == 2
    assert tiles(alice.get(url, {"status": "failed"})) == 1
    assert tiles(alice.get(url, {"batch": done.batch_id})) == 1
    today = timezone.localdate()
    assert tiles(alice.get(url, {"since": today.isoformat()})) == 1
    old_day = timezone.localtime(bobs[0].created_at).date()
    assert tiles(alice.get(url, {"since": old_day, "until": old_day})) >= 1
    assert tiles(alice.get(url, {"until": (today - timedelta(days=30)).isoformat()})) == 0


def test_a_bad_filter_is_reported_and_ignored(alice: Any, team: Any, user: Any) -> None:
    bulk_jobs(team, user, 2)
    response = alice.get(reverse("jobs:gallery"), {"status": "bogus", "since": "yesterday"})
    assert response.status_code == 200 and tiles(response) == 2
    assert "Enter a valid date" in response.content.decode()


def test_filter_choices_list_only_this_teams_people(
    alice: Any, team: Any, other_user: Any, other_team: Any
) -> None:
    page = alice.get(reverse("jobs:gallery")).content.decode()
    assert "mallory" not in page


def test_other_teams_jobs_never_show(
    alice: Any, team: Any, user: Any, other_team: Any, other_user: Any
) -> None:
    foreign = local_job(other_team, other_user, run=True, name="secret.png")
    page = alice.get(reverse("jobs:gallery"), {"batch": foreign.batch_id}).content.decode()
    assert "secret.png" not in page
    assert (
        alice.get(reverse("jobs:result_detail", args=[foreign.results.get().pk])).status_code == 404
    )


def test_gallery_query_count_does_not_grow_with_results(alice: Any, team: Any, user: Any) -> None:
    bulk_jobs(team, user, 5)
    with CaptureQueriesContext(connection) as small:
        alice.get(reverse("jobs:gallery"))
    bulk_jobs(team, user, gallery.PAGE_SIZE * 3)
    with CaptureQueriesContext(connection) as large:
        page = alice.get(reverse("jobs:gallery")).context["page"]
    with CaptureQueriesContext(connection) as deep:
        alice.get(f"{reverse('jobs:gallery')}?after={page.older}")
    assert len(small) == len(large) == len(deep)
    job_queries = [q["sql"] for q in large.captured_queries if "jobs_upscalejob" in q["sql"]]
    assert job_queries and not any("COUNT(" in sql.upper() for sql in job_queries)


def test_result_page_has_before_after_and_facts(alice: Any, team: Any, user: Any) -> None:
    job = local_job(team, user, run=True, scale=3, name="field.png")
    result = job.results.get()
    response = alice.get(reverse("jobs:result_detail", args=[result.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-compare data-width="192" data-height="144"' in page
    assert reverse("jobs:source_file", args=[job.source_id]) in page
    assert reverse("jobs:result_file", args=[result.pk]) in page
    assert "Scale: 3" in page and "compare.js" in page
    assert f"{reverse('jobs:compare')}?source={job.source_id}" in page
