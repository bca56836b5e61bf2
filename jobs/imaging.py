"""Everything that opens an image. Pillow only; images are untrusted input.

Pillow's decompression-bomb guard stays on: `Image.MAX_IMAGE_PIXELS` is never raised
globally. Legitimately huge provider outputs are opened with a per-call pixel limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

UPLOAD_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"})
RESULT_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
THUMBNAIL_SIZE = (480, 480)
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
EXTENSIONS["TIFF"] = "tif"


class ImageRejected(ValueError):
    """The file is not an image we are willing to process; the message is for the user."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size_bytes: int
    sha256: str

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, "bin")


@contextlib.contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """Apply a bomb limit for one call. Warnings become errors so half-bombs fail too."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def inspect(
    file: IO[bytes], *, allowed: frozenset[str], max_pixels: int, max_bytes: int
) -> ImageInfo:
    """Check an untrusted file is a whole image of an allowed format and size, and describe it.

    Reads the header for format and size, then decodes fully with `verify` so truncated or
    corrupt files are refused here rather than in a worker later.
    """
    size = _size_of(file)
    if size == 0:
        raise ImageRejected("The file is empty.")
    if size > max_bytes:
        raise ImageRejected(f"The file is {_mb(size)}; the limit is {_mb(max_bytes)}.")
    digest = _sha256(file)
    try:
        with _pixel_limit(max_pixels):
            file.seek(0)
            with Image.open(file) as image:
                fmt, width, height = image.format or "", image.width, image.height
                _check_format(fmt, allowed)
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            f"The image is too large to process safely (over {max_pixels:,} pixels)."
        ) from None
    except UnidentifiedImageError:
        raise ImageRejected("This file is not an image we can read.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageRejected):
            raise
        raise ImageRejected("The image is damaged or incomplete.") from None
    finally:
        file.seek(0)
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=size, sha256=digest)


def _check_format(fmt: str, allowed: frozenset[str]) -> None:
    if fmt not in allowed:
        names = ", ".join(sorted(allowed))
        raise ImageRejected(f"{fmt or 'This'} files are not supported; use {names}.")


def _size_of(file: IO[bytes]) -> int:
    file.seek(0, io.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


def _sha256(file: IO[bytes]) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def thumbnail_webp(file: IO[bytes], *, max_pixels: int) -> bytes:
    """A small WebP preview, orientation applied, metadata dropped.

    `draft` lets JPEG decode at a reduced scale, so even an 8k result thumbnails in a few
    MB of memory.
    """
    file.seek(0)
    with _pixel_limit(max_pixels), Image.open(file) as image:
        image.draft("RGB", (THUMBNAIL_SIZE[0] * 2, THUMBNAIL_SIZE[1] * 2))
        orientation = image.getexif().get(ORIENTATION_TAG)
        # Shrink first, rotate after: rotating the full image would copy every pixel
        # (measured: 514 MB instead of 265 MB for an 8192x8192 PNG).
        image.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS, reducing_gap=2.0)
        image = _apply_orientation(image, orientation)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        out = io.BytesIO()
        image.save(out, "WEBP", quality=80, method=4)
    file.seek(0)
    return out.getvalue()


ORIENTATION_TAG = 0x0112
_TRANSPOSES = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


def _apply_orientation(image: Image.Image, orientation: int | None) -> Image.Image:
    """What EXIF orientation asks for, applied to an image that no longer carries the tag."""
    for method in _TRANSPOSES.get(orientation or 1, []):
        image = image.transpose(method)
    return image


def strip_metadata(file: IO[bytes], *, max_pixels: int) -> tuple[bytes, str]:
    """Re-encode an image without EXIF, GPS, XMP or comments, orientation applied.

    For anything served publicly. Returns the bytes and the Pillow format name.
    """
    file.seek(0)
    with _pixel_limit(max_pixels), Image.open(file) as image:
        fmt = image.format if image.format in RESULT_FORMATS else "PNG"
        clean = ImageOps.exif_transpose(image)
        # Pillow writes some of `info` back on save (a JPEG's comment, for one): keep only
        # what the pixels need to look right.
        clean.info = {k: v for k, v in clean.info.items() if k in ("transparency", "icc_profile")}
        if fmt == "JPEG" and clean.mode not in ("RGB", "L"):
            clean = clean.convert("RGB")
        out = io.BytesIO()
        params = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        clean.save(out, fmt, **params)
    file.seek(0)
    return out.getvalue(), fmt


def content_type_for(fmt: str) -> str:
    return {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}.get(
        fmt, "application/octet-stream"
    )
