"""Bad uploads are refused with a clear message per file, and nothing half-made is stored."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.models import SourceImage, UpscaleJob
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_media_root(settings: Any, tmp_path: Path) -> None:
    """A private media dir, so 'nothing was stored' can be checked on disk."""
    settings.MEDIA_ROOT = tmp_path


def media_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "sources"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


BAD_FILES = {
    "not an image": ("notes.png", b"hello, I am text pretending to be a PNG", "not an image"),
    "empty": ("empty.jpg", b"", "empty"),
    "bomb": ("bomb.png", png_claiming_size(30000, 30000), "too large to process safely"),
    "truncated": ("cut.png", image_bytes("PNG", (300, 300))[:400], "damaged or incomplete"),
    "unsupported": ("icon.ico", image_bytes("ICO", (32, 32)), "not supported"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_upload_is_refused_with_a_message(alice: Any, settings: Any, case: str) -> None:
    name, data, message = BAD_FILES[case]
    response = alice.post(reverse("jobs:upload_source"), {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert response.json()["name"] == name
    assert SourceImage.objects.count() == 0
    assert media_files(settings) == []


def test_too_big_file_is_refused(alice: Any, settings: Any) -> None:
    settings.MAX_UPLOAD_BYTES = 1000
    data = image_bytes("BMP", (200, 200))
    response = alice.post(
        reverse("jobs:upload_source"), {"file": SimpleUploadedFile("a.png", data)}
    )
    assert response.status_code == 400
    assert "the limit is" in response.json()["error"]
    assert SourceImage.objects.count() == 0


def test_good_upload_is_described(alice: Any, team: Any) -> None:
    data = image_bytes("JPEG", (120, 80))
    response = alice.post(
        reverse("jobs:upload_source"), {"file": SimpleUploadedFile("p.jpg", data)}
    )
    assert response.status_code == 201
    source = SourceImage.objects.get(pk=response.json()["id"])
    assert (source.team, source.width, source.height, source.format) == (team, 120, 80, "JPEG")
    assert source.size_bytes == len(data)
    assert len(source.sha256) == 64


def test_form_post_reports_each_bad_file_and_queues_the_good_ones(alice: Any) -> None:
    files = [
        SimpleUploadedFile("good.png", image_bytes("PNG")),
        SimpleUploadedFile("bad.png", b"not an image"),
    ]
    response = alice.post(
        reverse("jobs:upload"), {"provider": "local", "opt_scale": "2", "files": files}, follow=True
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "bad.png: This file is not an image we can read." in text
    assert UpscaleJob.objects.count() == 1
    assert SourceImage.objects.count() == 1


def test_only_bad_files_re_renders_the_form(alice: Any) -> None:
    response = alice.post(
        reverse("jobs:upload"),
        {"provider": "local", "opt_scale": "2", "files": [SimpleUploadedFile("x.png", b"nope")]},
    )
    assert response.status_code == 400
    assert "x.png: This file is not an image we can read." in response.content.decode()
    assert UpscaleJob.objects.count() == 0


def test_wrong_option_names_the_field_and_range(alice: Any) -> None:
    source_id = alice.post(
        reverse("jobs:upload_source"), {"file": SimpleUploadedFile("a.png", image_bytes())}
    ).json()["id"]
    response = alice.post(
        reverse("jobs:upload"), {"provider": "local", "opt_scale": "7", "source_ids": [source_id]}
    )
    assert response.status_code == 400
    assert "must be one of 2, 3, 4" in response.content.decode()
    assert UpscaleJob.objects.count() == 0


def test_source_too_large_for_provider_is_refused_before_sending(alice: Any) -> None:
    data = image_bytes("PNG", (2100, 10))
    source_id = alice.post(
        reverse("jobs:upload_source"), {"file": SimpleUploadedFile("wide.png", data)}
    ).json()["id"]
    response = alice.post(
        reverse("jobs:upload"), {"provider": "local", "opt_scale": "2", "source_ids": [source_id]}
    )
    assert response.status_code == 400
    assert "takes images up to 2048×2048 pixels" in response.content.decode()
    assert UpscaleJob.objects.count() == 0


def test_upload_requires_login(client: Any) -> None:
    response = client.post(reverse("jobs:upload_source"), {"file": io.BytesIO(b"x")})
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_url_fetching_provider_without_public_address_is_refused_clearly(
    alice: Any, team: Any, settings: Any
) -> None:
    from jobs import services
    from jobs.models import ProviderAccount

    settings.PUBLIC_BASE_URL = ""
    account = ProviderAccount.objects.create(team=team, provider="uwear", label="Real")
    services.set_account_key(account, "real-uwear-key")
    source_id = alice.post(
        reverse("jobs:upload_source"), {"file": SimpleUploadedFile("a.png", image_bytes())}
    ).json()["id"]
    response = alice.post(
        reverse("jobs:upload"),
        {"provider": "uwear", "opt_model_name": "recraft", "source_ids": [source_id]},
    )
    assert response.status_code == 400
    assert "no public address configured (PUBLIC_BASE_URL)" in response.content.decode()
    assert UpscaleJob.objects.count() == 0
