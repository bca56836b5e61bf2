"""Thumbnails honour EXIF orientation exactly as Pillow's own exif_transpose would."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from jobs import imaging


def oriented_jpeg(orientation: int) -> bytes:
    image = Image.new("RGB", (600, 300), "white")
    image.paste((255, 0, 0), (0, 0, 100, 50))  # a red top-left corner to follow
    exif = Image.Exif()
    exif[imaging.ORIENTATION_TAG] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def is_red(pixel: tuple[int, int, int]) -> bool:
    red, green, _ = pixel
    return red > 200 and green < 80


def red_corners(image: Image.Image) -> list[str]:
    image = image.convert("RGB")
    w, h = image.size
    points = {"tl": (2, 2), "tr": (w - 3, 2), "bl": (2, h - 3), "br": (w - 3, h - 3)}
    return [name for name, xy in points.items() if is_red(image.getpixel(xy))]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_thumbnail_orientation_matches_exif_transpose(orientation: int) -> None:
    data = oriented_jpeg(orientation)
    thumb = Image.open(io.BytesIO(imaging.thumbnail_webp(io.BytesIO(data), max_pixels=10**8)))
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    expected.thumbnail(imaging.THUMBNAIL_SIZE)
    assert thumb.size == expected.size
    assert red_corners(thumb) == red_corners(expected) != []
