"""Real pictures for the fakes, made with Pillow: checking sources, synthetic art, upscales.

Sources are untrusted: a format allow-list, byte and pixel limits, and Pillow's
decompression-bomb limit (kept on, its warning turned into a refusal). Outputs are real
images of the documented size, stamped "SANDBOX" so nobody mistakes them for AI work.
"""

from __future__ import annotations

import io
import random
import textwrap
import warnings
from dataclasses import dataclass

from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError, features

# Upscales of user images are capped here so one request cannot eat the server's memory.
MAX_OUTPUT_SIDE = 8192
SYNTHETIC_LONG_SIDE = 512

ENCODINGS: dict[str, tuple[str, dict, str]] = {
    # Fast settings on purpose: 8k outputs must encode in about a second.
    "png": ("PNG", {"compress_level": 1}, "image/png"),
    "jpeg": ("JPEG", {"quality": 88}, "image/jpeg"),
    "webp": ("WEBP", {"quality": 80, "method": 0}, "image/webp"),
}


class ImageProblem(ValueError):
    """A source was refused. `reason` is one of format, bytes, pixels, side, corrupt."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    formats: frozenset[str]
    max_bytes: int
    max_side: int | None = None
    max_pixels: int = 50_000_000


# Files the sandbox wrote itself: already checked, only bounded against surprises.
STORED = Limits(
    formats=frozenset({"JPEG", "PNG", "WEBP"}), max_bytes=200 * 1024 * 1024, max_pixels=8192**2
)


@dataclass
class Rendered:
    data: bytes
    ext: str
    width: int
    height: int


def open_source(data: bytes, limits: Limits) -> Image.Image:
    """Decode an untrusted image within `limits`, upright and in RGB(A)."""
    if len(data) > limits.max_bytes:
        raise ImageProblem(f"The image is larger than {limits.max_bytes} bytes.", "bytes")
    image = _open(data)
    if image.format not in limits.formats:
        allowed = ", ".join(sorted(limits.formats))
        raise ImageProblem(f"Unsupported image format {image.format}; use {allowed}.", "format")
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageProblem(f"The image has more than {limits.max_pixels} pixels.", "pixels")
    if limits.max_side and max(width, height) > limits.max_side:
        side = limits.max_side
        raise ImageProblem(f"The image is larger than {side}x{side} pixels.", "side")
    try:
        image.load()
    except OSError as exc:
        raise ImageProblem(f"The image data is damaged ({exc}).", "corrupt") from None
    return _normalise(ImageOps.exif_transpose(image))


def open_stored(name: str) -> Image.Image:
    """A picture the sandbox stored itself (a generation it made, a source it checked)."""
    with default_storage.open(name, "rb") as handle:
        return open_source(handle.read(), STORED)


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # Over MAX_IMAGE_PIXELS Pillow only warns; over twice that it raises. Refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageProblem("The image has too many pixels.", "pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageProblem("The file is not an image Pillow can read.", "corrupt") from None


def _normalise(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


# ----- sizes ------------------------------------------------------------------------------
def long_side_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The size whose longer side is `long_side`, keeping the aspect ratio."""
    width, height = size
    ratio = long_side / max(width, height)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def scaled_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """`size` times `factor`, the long side capped at MAX_OUTPUT_SIDE."""
    width, height = round(size[0] * factor), round(size[1] * factor)
    if max(width, height) > MAX_OUTPUT_SIDE:
        return long_side_size((width, height), MAX_OUTPUT_SIDE)
    return width, height


def ratio_size(ratio: str, long_side: int = SYNTHETIC_LONG_SIDE) -> tuple[int, int]:
    """A size for an aspect ratio such as "16:9"; square when it cannot be read."""
    try:
        w_text, h_text = ratio.split(":", 1)
        width, height = float(w_text), float(h_text)
    except (AttributeError, ValueError):
        return long_side, long_side
    if width <= 0 or height <= 0 or max(width / height, height / width) > 4:
        return long_side, long_side
    return long_side_size((round(width * 100), round(height * 100)), long_side)


# ----- drawing ----------------------------------------------------------------------------
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if features.check("freetype2"):
        return ImageFont.load_default(size=size)
    return ImageFont.load_default()


def synthetic(prompt: str, size: tuple[int, int], seed: int | str) -> Image.Image:
    """A picture "generated" from a prompt: a gradient, some shapes, the prompt's words.

    Deterministic in (prompt, seed), so the same job always shows the same picture.
    """
    rng = random.Random(f"{prompt}|{seed}")
    colour = lambda: tuple(rng.randrange(30, 226) for _ in range(3))  # noqa: E731
    mask = rng.choice([Image.linear_gradient, Image.radial_gradient])("L")
    mask = mask.transpose(rng.choice(list(Image.Transpose))).resize(size)
    first, second = Image.new("RGB", size, colour()), Image.new("RGB", size, colour())
    image = Image.composite(first, second, mask)
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(rng.randrange(3, 7)):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(2, min(size) // 12), max(3, min(size) // 3))
        box = (x - radius, y - radius, x + radius, y + radius)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape(box, fill=colour(), outline=(255, 255, 255), width=max(1, width // 200))
    text = "\n".join(textwrap.wrap(prompt or "sandbox", width=28)[:4])
    draw.multiline_text((12, 12), text, fill=(255, 255, 255), font=_font(max(12, width // 24)))
    return image


def grid(images: list[Image.Image]) -> Image.Image:
    """Four pictures in a 2x2 grid, as a Midjourney-style job shows them."""
    width, height = images[0].size
    sheet = Image.new("RGB", (width * 2, height * 2))
    for index, image in enumerate(images[:4]):
        sheet.paste(image, ((index % 2) * width, (index // 2) * height))
    return sheet


def upscale(image: Image.Image, size: tuple[int, int], label: str) -> Image.Image:
    """Resize to `size` (bicubic: fast enough at 8k) and stamp a label in the corner."""
    result = image.resize(size, Image.Resampling.BICUBIC)
    stamp(result, label)
    return result


def stamp(image: Image.Image, label: str) -> None:
    draw = ImageDraw.Draw(image)
    font = _font(max(10, image.width // 60))
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    pad = max(4, (bottom - top) // 3)
    y = image.height - (bottom - top) - 3 * pad
    draw.rectangle((0, y, right - left + 2 * pad, image.height), fill=(0, 0, 0))
    draw.text((pad, y + pad - top), label, fill=(255, 255, 255), font=font)


def encode(image: Image.Image, ext: str) -> Rendered:
    """Encode as png, jpeg or webp with fast settings."""
    fmt, options, _ = ENCODINGS[ext]
    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return Rendered(data=out.getvalue(), ext=ext, width=image.width, height=image.height)


def content_type(ext: str) -> str:
    return ENCODINGS.get(ext, ("", {}, "application/octet-stream"))[2]
