"""Media storage helpers: local disk by default, S3-compatible object storage when configured.

Everything reads and writes media through Django's storage API, so the backend is a
setting. With object storage the bucket stays private and team members download through
short-lived signed URLs; public share links are always served through the app.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import FileSystemStorage, Storage
from django.utils.http import content_disposition_header


def is_remote(storage: Storage) -> bool:
    """True for storages that can sign their own URLs (anything but the local disk)."""
    return not isinstance(storage, FileSystemStorage)


def signed_url(field: Any, *, filename: str, attachment: bool, type: str) -> str:
    """A short-lived URL of a private object, with a safe Content-Disposition baked in."""
    disposition = content_disposition_header(attachment, filename)
    parameters = {"ResponseContentDisposition": disposition, "ResponseContentType": type}
    return field.storage.url(field.name, parameters=parameters)
