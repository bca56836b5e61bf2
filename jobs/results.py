"""Storing what providers return, and the URLs providers use to reach us.

Results are checked to be real images within the provider's limits before a row exists,
and each (job, index) slot is stored at most once even if two workers race.
"""

from __future__ import annotations

import io
import logging
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.urls import reverse

from jobs import imaging, outbound
from jobs.models import ResultImage, SourceImage, UpscaleJob
from jobs.providers.base import ErrorKind, Provider, ProviderError, ResultRef

log = logging.getLogger(__name__)
SOURCE_URL_MAX_AGE = 60 * 60  # a signed source URL works for an hour
_SOURCE_SALT = "upscaler.source-url"


class ResultRejected(ValueError):
    """The provider sent something that is not a usable image."""


def store_inline(job: UpscaleJob, refs: list[ResultRef]) -> int:
    """Store results that need no download (bytes in hand, or withheld as unsafe)."""
    stored = 0
    for index, ref in enumerate(refs):
        if ref.data is not None:
            _store(job, index, io.BytesIO(ref.data), job.provider)
            stored += 1
        elif not ref.url:
            _store_withheld(job, index)
            stored += 1
    return stored


def pending_refs(refs: list[ResultRef]) -> list[dict[str, Any]]:
    """The results still to download, as JSON the job row keeps until they are stored."""
    return [
        {"index": index, "url": ref.url}
        for index, ref in enumerate(refs)
        if ref.data is None and ref.url
    ]


def is_stored(job: UpscaleJob, index: int) -> bool:
    return ResultImage.objects.filter(job=job, index=index).exists()


def fetch_and_store(job: UpscaleJob, item: dict[str, Any], provider_cls: type[Provider]) -> None:
    fetched = outbound.download(
        item["url"],
        max_bytes=provider_cls.max_result_bytes,
        deadline_seconds=settings.RESULT_DOWNLOAD_DEADLINE_SECONDS,
    )
    try:
        _store(job, item["index"], fetched.file, job.provider)
    finally:
        fetched.file.close()


def _store(job: UpscaleJob, index: int, file: IO[bytes], provider_slug: str) -> None:
    from jobs.providers.registry import get_provider_class

    cls = get_provider_class(provider_slug)
    try:
        info = imaging.inspect(
            file,
            allowed=imaging.RESULT_FORMATS,
            max_pixels=cls.max_result_pixels,
            max_bytes=cls.max_result_bytes,
        )
        thumb = imaging.thumbnail_webp(file, max_pixels=cls.max_result_pixels)
    except imaging.ImageRejected as exc:
        raise ResultRejected(f"The provider's result was refused: {exc}") from None
    result = ResultImage(
        job=job,
        team_id=job.team_id,
        index=index,
        width=info.width,
        height=info.height,
        format=info.format,
        size_bytes=info.size_bytes,
    )
    result.file.save(f"result.{info.extension}", File(file), save=False)
    result.thumbnail.save("thumb.webp", ContentFile(thumb), save=False)
    _insert_once(result)


def _store_withheld(job: UpscaleJob, index: int) -> None:
    _insert_once(ResultImage(job=job, team_id=job.team_id, index=index, is_safe=False))


def _insert_once(result: ResultImage) -> None:
    try:
        with transaction.atomic():
            result.save()
    except IntegrityError:
        # Another worker stored this slot first; keep theirs, drop our files.
        for field in (result.file, result.thumbnail):
            if field:
                field.delete(save=False)


# ----- URLs a provider calls back on -------------------------------------------------------


def webhook_url(job: UpscaleJob) -> str:
    """An unguessable per-job URL the provider may call; only a hint to re-fetch the job."""
    base = settings.PUBLIC_BASE_URL
    if not base:
        return ""
    return base + reverse("jobs:webhook", args=[job.provider, job.webhook_token])


def public_source_url(source: SourceImage, *, sandbox: bool = False) -> str:
    """A signed, expiring URL of an upload, for providers that fetch the image themselves."""
    base = settings.PUBLIC_BASE_URL or (settings.SANDBOX_BASE_URL if sandbox else "")
    if not base:
        raise ProviderError(
            "This provider downloads the image from a public URL, and this installation has "
            "no PUBLIC_BASE_URL configured. Set it, or use a provider that takes uploads.",
            kind=ErrorKind.INPUT,
        )
    token = signing.dumps(source.pk, salt=_SOURCE_SALT, compress=True)
    return base + reverse("jobs:public_source", args=[token])


def source_from_token(token: str) -> SourceImage | None:
    try:
        pk = signing.loads(token, salt=_SOURCE_SALT, max_age=SOURCE_URL_MAX_AGE)
    except signing.BadSignature:
        return None
    return SourceImage.objects.filter(pk=pk).first()
