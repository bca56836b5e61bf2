"""`local`: a free upscale with Pillow's Lanczos filter, run in the worker, no network.

It goes through exactly the same engine path as the paid providers, which makes it the
end-to-end proof of the pipeline and a zero-cost option for quick previews.
"""

from __future__ import annotations

import io
from typing import ClassVar

from PIL import Image

from jobs.providers.base import (
    ErrorKind,
    InputKind,
    InputLimits,
    JobRequest,
    JobState,
    Option,
    Outcome,
    Provider,
    ProviderError,
    ResultRef,
)


class LocalProvider(Provider):
    slug = "local"
    name = "Local (Pillow)"
    needs_network = False
    input_kinds = (InputKind.UPLOAD,)
    summary = "Free Lanczos upscale on this server. No AI detail, no network, no cost."
    options: ClassVar[tuple[Option, ...]] = (
        Option("scale", "Scale", "choice", default=2, choices=(2, 3, 4), help="Output size ×"),
    )
    # Keeps the output at most 8192 px a side whatever the scale.
    limits = InputLimits(
        formats=frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}),
        max_width=2048,
        max_height=2048,
    )

    def submit(self, request: JobRequest) -> Outcome:
        if request.source.data is None:
            raise ProviderError("The local provider needs an uploaded image.", kind=ErrorKind.INPUT)
        scale = int(request.options["scale"])
        data = upscale_bytes(request.source.data, scale)
        return Outcome(
            state=JobState.SUCCEEDED,
            results=[ResultRef(data=data)],
            cost=self.estimate(request.options),
        )

    def check_connection(self) -> str:
        return "Runs on this server; nothing to connect to."


def upscale_bytes(data: bytes, scale: int) -> bytes:
    """Lanczos-resize an image by `scale`, keeping JPEG as JPEG and everything else as PNG."""
    with Image.open(io.BytesIO(data)) as image:
        source_format = image.format
        image.load()
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        size = (image.width * scale, image.height * scale)
        upscaled = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if source_format == "JPEG" and upscaled.mode in ("RGB", "L"):
        upscaled.save(out, "JPEG", quality=92)
    else:
        upscaled.save(out, "PNG", optimize=False, compress_level=3)
    return out.getvalue()
