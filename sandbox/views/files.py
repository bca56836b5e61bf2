"""The fake CDN: serves result files by signed, expiring URL.

403 for a bad signature or unknown file, 410 Gone for an expired link (adapters should
treat both as "this URL is dead"). The slow-drip and oversize knobs of the provider that
made the file apply here; rate limits and server errors do not (CDNs are not the API).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from sandbox import knobs as knobs_mod
from sandbox import log
from sandbox.images import content_type
from sandbox.knobs import Knobs
from sandbox.models import Provider
from sandbox.results import check

CHUNK = 64 * 1024


@require_safe
def download(request: HttpRequest, provider: str, filename: str) -> HttpResponse:
    if provider not in Provider.values:
        return _plain(403, "Forbidden")
    verdict, name = check(
        provider, filename, request.GET.get("exp", ""), request.GET.get("sig", "")
    )
    if verdict == "forbidden":
        response = _plain(403, "Forbidden: this link is not valid.")
    elif verdict == "expired":
        response = _plain(410, "Gone: this link has expired.")
    else:
        knobs = knobs_mod.current(provider, request.GET)
        response = _stream(name, filename.rpartition(".")[2], knobs)
    log.record(
        provider,
        method="GET",
        path=request.get_full_path(),
        status_code=response.status_code,
    )
    return response


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _stream(name: str, ext: str, knobs: Knobs) -> StreamingHttpResponse:
    size = default_storage.size(name)
    total = max(size, knobs.oversize_bytes)
    chunks = _chunks(name, size, total)
    if knobs.slow_drip_bytes_per_second:
        chunks = _drip(chunks, knobs.slow_drip_bytes_per_second)
    response = StreamingHttpResponse(chunks, content_type=content_type(ext))
    response["Content-Length"] = str(total)
    response["Cache-Control"] = "private, max-age=60"
    return response


def _chunks(name: str, size: int, total: int) -> Iterator[bytes]:
    """The file, then zero padding up to `total` (the oversize knob): decoders ignore
    trailing bytes, so only a client without a byte cap gets into trouble."""
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
    padding = total - size
    while padding > 0:
        step = min(CHUNK, padding)
        yield bytes(step)
        padding -= step


def _drip(chunks: Iterator[bytes], rate: int) -> Iterator[bytes]:
    """Re-cut the stream into tenth-of-a-second slices sent at `rate` bytes per second."""
    slice_size = max(1, rate // 10)
    for chunk in chunks:
        for start in range(0, len(chunk), slice_size):
            piece = chunk[start : start + slice_size]
            time.sleep(len(piece) / rate)
            yield piece
