"""Turn a `POST /api/v1/jobs` request into job specs.

The body is multipart (with an `image` file) or JSON (with `source_url` or `source_ref`).
`provider` names one provider or several (a list, or comma-separated); several providers
make a comparison group. With several providers, `options` and `source_ref` may be keyed
by provider slug: {"local": {"scale": 4}, "aimlapi": {...}}.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from jobs import imaging, outbound, services
from jobs.api.errors import ApiError, invalid
from jobs.models import SourceImage
from jobs.providers.registry import PROVIDERS
from jobs.tokens import TokenAuth

SOURCE_FIELDS = ("image", "source_url", "source_ref")
SOURCE_URL_DEADLINE_SECONDS = 60


@dataclass
class Submission:
    specs: list[services.JobSpec]
    comparison: bool


def parse(request: HttpRequest, auth: TokenAuth) -> Submission:
    body = _body(request)
    providers = _providers(body.get("provider", body.get("providers")))
    options = _json_object(body.get("options"), "options")
    reference = _json_object(body.get("source_ref"), "source_ref")
    present = [name for name in SOURCE_FIELDS if _given(request, body, name)]
    if len(present) != 1:
        raise invalid(
            "Give exactly one source: an `image` file, a `source_url`, or a `source_ref`.",
            "image",
        )
    source = None
    if present[0] != "source_ref":
        source = _source(request, auth, body, present[0])
    specs = [
        services.JobSpec(
            provider=slug,
            options=_for_provider(options, slug, providers, "options"),
            source=source,
            reference=_for_provider(reference, slug, providers, "source_ref") or None,
        )
        for slug in providers
    ]
    return Submission(specs=specs, comparison=len(providers) > 1)


# ----- the body ---------------------------------------------------------------------------
def _body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except RequestDataTooBig:
            raise ApiError(
                413, "too_large", "The JSON body is too large; send images as multipart files."
            ) from None
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "The JSON body must be an object.")
        return data
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _form_body(request)
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send multipart/form-data (with an image file) or application/json.",
    )


def _form_body(request: HttpRequest) -> dict[str, Any]:
    try:
        posted = request.POST
        request.FILES  # noqa: B018 - parsed together with POST; errors surface here
    except MultiPartParserError as exc:
        raise ApiError(
            400, "invalid_multipart", f"The multipart body is malformed: {exc}"
        ) from None
    except RequestDataTooBig:
        raise ApiError(
            413, "too_large", "The form fields are too large; send the image as a file part."
        ) from None
    except SuspiciousOperation as exc:  # e.g. too many fields or files
        raise ApiError(400, "invalid_multipart", f"The form was refused: {exc}") from None
    data: dict[str, Any] = {}
    for name in posted:
        values = posted.getlist(name)
        data[name] = values if name in ("provider", "providers") else values[-1]
    return data


def _given(request: HttpRequest, body: Mapping[str, Any], name: str) -> bool:
    if name == "image":
        return "image" in request.FILES
    return body.get(name) not in (None, "", {})


def _providers(raw: Any) -> list[str]:
    names: list[str] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if not isinstance(item, str):
            raise invalid("`provider` must be a provider slug or a list of them.", "provider")
        names.extend(part.strip() for part in item.split(",") if part.strip())
    if not names:
        raise invalid("Name a `provider` (see GET /api/v1/providers).", "provider")
    unknown = [name for name in names if name not in PROVIDERS]
    if unknown:
        known = ", ".join(PROVIDERS)
        raise invalid(f"Unknown provider {unknown[0]!r}; use one of {known}.", "provider")
    return list(dict.fromkeys(names))  # same order, no duplicates


def _json_object(raw: Any, field: str) -> dict[str, Any]:
    """A JSON object given as JSON, or as a JSON string in a multipart field."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise invalid(f"`{field}` must be a JSON object.", field) from None
    if not isinstance(raw, dict):
        raise invalid(f"`{field}` must be a JSON object.", field)
    return raw


def _for_provider(
    mapping: dict[str, Any], slug: str, providers: list[str], field: str
) -> dict[str, Any]:
    keyed = bool(mapping) and set(mapping) <= set(providers)
    if keyed and all(isinstance(value, dict) for value in mapping.values()):
        return mapping.get(slug, {})
    if len(providers) > 1 and mapping:
        raise invalid(
            f"With several providers, key `{field}` by provider slug, e.g. "
            f'{{"{providers[0]}": {{...}}}}.',
            field,
        )
    return mapping


# ----- the image --------------------------------------------------------------------------
def _source(
    request: HttpRequest, auth: TokenAuth, body: Mapping[str, Any], kind: str
) -> SourceImage:
    if kind == "image":
        upload = request.FILES["image"]
        return _ingest(auth, upload, upload.name or "image", "image")
    return _fetch(auth, body["source_url"])


def _ingest(auth: TokenAuth, file: Any, name: str, field: str) -> SourceImage:
    try:
        return services.ingest_upload(auth.team, auth.user, file, name)
    except imaging.ImageRejected as exc:
        raise ApiError(400, "image_rejected", f"{name}: {exc}", details={"field": field}) from None


def _fetch(auth: TokenAuth, url: Any) -> SourceImage:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise invalid("`source_url` must be an http or https URL.", "source_url")
    try:
        fetched = outbound.download(
            url, max_bytes=settings.MAX_UPLOAD_BYTES, deadline_seconds=SOURCE_URL_DEADLINE_SECONDS
        )
    except outbound.DownloadError as exc:
        reason = FETCH_FAILURES.get(exc.kind, exc.message)
        raise ApiError(
            400,
            "source_url_failed",
            f"Could not fetch source_url: {reason}",
            details={"field": "source_url", "reason": exc.kind},
        ) from None
    try:
        return _ingest(auth, fetched.file, _name_from_url(url), "source_url")
    finally:
        fetched.file.close()


# outbound.download words its errors for provider results; a script's own URL needs these.
FETCH_FAILURES = {
    "expired": "the server has no file there (it answered 403, 404 or 410).",
    "too_large": "the file is larger than uploads may be.",
    "timeout": "it took too long to download.",
    "transient": "the server could not be reached, or it was busy.",
    "bad": "the server did not answer with a file.",
}


def _name_from_url(url: str) -> str:
    return posixpath.basename(urlsplit(url).path)[:255] or "image"
