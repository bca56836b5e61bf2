"""Result files: stored under `sandbox/` in default storage, served by signed, expiring URLs.

Files are rendered once, when a job is first seen finished, and stored (rather than
re-rendered on every download) because upscales of uploaded sources depend on pixels the
sandbox would otherwise have to keep anyway, and because slow-drip and oversize downloads
are simplest to fake over a file that already exists.

A URL carries `exp` (unix time) and `sig` (an HMAC of name and exp with SECRET_KEY):
a bad signature or an unknown file answers 403, a valid but expired one 410 Gone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from sandbox import clock
from sandbox.images import Rendered
from sandbox.models import SandboxJob, SandboxResult

_SALT = "sandbox.result-url"
PREFIX = "sandbox"


def origin_of(request: HttpRequest) -> str:
    """scheme://host[:port] the request came in on, so URLs work wherever this is served."""
    return request.build_absolute_uri("/").rstrip("/")


def store(provider: str, data: bytes, ext: str) -> str:
    name = f"{PREFIX}/{provider}/{uuid.uuid4().hex}.{ext}"
    return default_storage.save(name, ContentFile(data))


def save_results(job: SandboxJob, renders: list[Rendered]) -> list[SandboxResult]:
    """Store a job's outputs, all slots in one transaction: a concurrent poller sees all of
    them or none, and when two render at once the loser's files are dropped."""
    now = clock.now()
    rows = [
        SandboxResult(
            job=job,
            index=index,
            file_name=store(job.provider, rendered.data, rendered.ext),
            width=rendered.width,
            height=rendered.height,
            format=rendered.ext,
            size_bytes=len(rendered.data),
            created_at=now,
        )
        for index, rendered in enumerate(renders)
    ]
    try:
        with transaction.atomic():
            SandboxResult.objects.bulk_create(rows)
    except IntegrityError:
        for row in rows:
            default_storage.delete(row.file_name)
    return list(job.results.order_by("index"))


def _signature(name: str, exp: int) -> str:
    return signing.Signer(salt=_SALT).signature(f"{name}:{exp}")


def url_for(origin: str, result: SandboxResult, expires_at: datetime) -> str:
    """The absolute, signed URL of a result, valid until `expires_at`."""
    exp = int(expires_at.timestamp())
    provider, _, filename = result.file_name.removeprefix(f"{PREFIX}/").partition("/")
    path = reverse("sandbox:file", args=[provider, filename])
    query = urlencode({"exp": exp, "sig": _signature(result.file_name, exp)})
    return f"{origin}{path}?{query}"


def check(
    provider: str, filename: str, exp: str, sig: str
) -> tuple[Literal["ok", "forbidden", "expired"], str]:
    """Whether a download may proceed; returns the verdict and the storage name."""
    name = f"{PREFIX}/{provider}/{filename}"
    if not exp.isdigit() or not constant_time_compare(sig, _signature(name, int(exp))):
        return "forbidden", name
    if int(exp) <= clock.now().timestamp():
        return "expired", name
    if "/" in filename or not default_storage.exists(name):
        return "forbidden", name
    return "ok", name
