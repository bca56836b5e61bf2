"""Pillow helpers: untrusted sources are checked, outputs have the documented size."""

from __future__ import annotations

import pytest
from PIL import Image

from sandbox import images
from tests.conftest import image_bytes

LIMITS = images.Limits(formats=frozenset({"PNG", "JPEG"}), max_bytes=1_000_000, max_side=100)


def test_a_good_source_opens_upright_in_rgb():
    image = images.open_source(image_bytes("PNG", (40, 30)), LIMITS)

    assert (image.size, image.mode) == ((40, 30), "RGB")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (image_bytes("GIF", (10, 10)), "format"),
        (image_bytes("PNG", (101, 10)), "side"),
        (b"\x89PNG\r\n\x1a\n garbage", "corrupt"),
        (image_bytes("PNG", (10, 10)) + bytes(1_000_000), "bytes"),
        (image_bytes("PNG", (64, 48))[:-40], "corrupt"),
    ],
)
def test_bad_sources_are_refused_with_a_reason(data, reason):
    with pytest.raises(images.ImageProblem) as problem:
        images.open_source(data, LIMITS)

    assert problem.value.reason == reason


def test_the_decompression_bomb_limit_stays_on(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    limits = images.Limits(formats=frozenset({"PNG"}), max_bytes=10**6)

    with pytest.raises(images.ImageProblem) as problem:
        images.open_source(image_bytes("PNG", (40, 30)), limits)

    assert problem.value.reason == "pixels"


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [((64, 48), 2048, (2048, 1536)), ((30, 60), 4096, (2048, 4096)), ((1, 1000), 10, (1, 10))],
)
def test_long_side_size_keeps_the_aspect_ratio(size, long_side, expected):
    assert images.long_side_size(size, long_side) == expected


def test_scaled_size_is_capped_at_8192():
    assert images.scaled_size((100, 50), 4) == (400, 200)
    assert images.scaled_size((2000, 1000), 12) == (8192, 4096)


def test_ratio_size_reads_aspect_ratios():
    assert images.ratio_size("16:9") == (512, 288)
    assert images.ratio_size("2:3") == (341, 512)
    assert images.ratio_size("nonsense") == (512, 512)
    assert images.ratio_size("10:1") == (512, 512)


def test_synthetic_pictures_are_deterministic_per_prompt_and_seed():
    first = images.synthetic("a fox", (64, 64), 1).tobytes()

    assert first == images.synthetic("a fox", (64, 64), 1).tobytes()
    assert first != images.synthetic("a fox", (64, 64), 2).tobytes()


@pytest.mark.parametrize(("ext", "fmt"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_encode_makes_real_files(ext, fmt):
    rendered = images.encode(Image.new("RGBA", (20, 10)), ext)

    opened = images.open_source(
        rendered.data, images.Limits(formats=frozenset({fmt}), max_bytes=10**6)
    )
    assert opened.size == (rendered.width, rendered.height) == (20, 10)
