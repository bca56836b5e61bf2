"""A JPEG carrying GPS coordinates and a comment comes out of every public endpoint without
either: the original, the result, its thumbnail and the download."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse
from PIL import ExifTags, Image

from jobs import engine, results, services
from jobs.models import ResultImage
from jobs.providers.base import ResultRef
from tests.conftest import image_bytes
from tests.sharing.conftest import share

pytestmark = pytest.mark.django_db

COMMENT = b"shot at 12 Secret Lane by alice"
GPS_TAG = ExifTags.IFD.GPSInfo


def jpeg_with_gps_and_comment(size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.open(io.BytesIO(image_bytes("JPEG", size)))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif.get_ifd(GPS_TAG).update({1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=COMMENT)
    return out.getvalue()


def carries_metadata(data: bytes) -> list[str]:
    found = []
    with Image.open(io.BytesIO(data)) as image:
        if image.info.get("exif") or len(image.getexif()):
            found.append("exif")
        if image.getexif().get_ifd(GPS_TAG):
            found.append("gps")
        if image.info.get("comment"):
            found.append("comment")
    if COMMENT in data or b"SpyCam" in data:
        found.append("raw bytes")
    return found


@pytest.fixture
def tagged_result(team: Any, user: Any) -> ResultImage:
    """A source with GPS and a comment, and a result stored with them too (as a careless
    provider might return it)."""
    source = services.ingest_upload(
        team, user, io.BytesIO(jpeg_with_gps_and_comment()), "holiday.jpg"
    )
    job = services.submit_jobs(team, user, [services.JobSpec("local", {"scale": 2}, source)])[0]
    engine.process_job(job.pk)
    results.store_inline(job, [ResultRef(), ResultRef(data=jpeg_with_gps_and_comment((128, 96)))])
    return job.results.get(index=1)


def test_the_inputs_really_carry_gps_and_a_comment(tagged_result: ResultImage) -> None:
    assert set(carries_metadata(tagged_result.job.source.file.read())) >= {"gps", "comment"}
    assert set(carries_metadata(tagged_result.file.read())) >= {"gps", "comment"}


@pytest.mark.parametrize("item", ["result", "board"])
def test_every_public_image_is_stripped(
    client: Any, team: Any, user: Any, tagged_result: ResultImage, item: str
) -> None:
    target = {"result": tagged_result} if item == "result" else {"batch": tagged_result.job.batch}
    if item == "board":
        type(tagged_result.job.batch).objects.filter(pk=tagged_result.job.batch_id).update(
            is_comparison=True
        )
    new = share(team, user, allow_download=True, **target)
    for kind in ("thumb", "full", "download", "source"):
        url = reverse("jobs:shared_image", args=[new.token, tagged_result.pk, kind])
        response = client.get(url)
        assert response.status_code == 200, url
        data = b"".join(response)
        assert carries_metadata(data) == [], url
        # Served twice (the second time from the clean copy), still clean.
        assert carries_metadata(b"".join(client.get(url))) == [], url
