"""The sandbox's own outbound calls: fetching `image_url`s and posting webhooks.

A real provider fetches the URL it is given, so the fake does too, with plain httpx, a
short timeout and a byte cap. In development (DEBUG, or SANDBOX_FETCH_PRIVATE_ADDRESSES)
it may reach loopback, which is how it fetches the app's own signed source URLs;
otherwise private addresses are refused except the sandbox's and the app's own origins.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

FETCH_TIMEOUT = 5.0
WEBHOOK_TIMEOUT = 3.0
MAX_REDIRECTS = 3
USER_AGENT = "UpscalerSandbox/1.0"


class FetchError(Exception):
    """The URL could not be fetched as an image; the message says why, for the user."""


def fetch(url: str, *, max_bytes: int, timeout: float = FETCH_TIMEOUT) -> bytes:
    """GET `url` and return at most `max_bytes` bytes, or raise FetchError."""
    check_url(url)
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"Fetching the image failed with HTTP {response.status_code}.")
            return _read_capped(response, max_bytes)
    except httpx.HTTPError as exc:
        raise FetchError(f"Could not fetch the image: {type(exc).__name__}.") from None


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"The image is larger than {max_bytes} bytes.")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"The image is larger than {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("The image URL must be an http(s) URL.")
    if _private_allowed() or _trusted_origin(url):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchError(f"Could not resolve {parts.hostname}.") from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_global:
            raise FetchError("The image URL points to a private address.")


def _private_allowed() -> bool:
    """SANDBOX_FETCH_PRIVATE_ADDRESSES, by default on in development (DEBUG) only."""
    return bool(getattr(settings, "SANDBOX_FETCH_PRIVATE_ADDRESSES", settings.DEBUG))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _trusted_origin(url: str) -> bool:
    own = [getattr(settings, name, "") for name in ("SANDBOX_BASE_URL", "PUBLIC_BASE_URL")]
    return _origin(url) in {_origin(base) for base in own if base}


def post_json(url: str, payload: Any, *, timeout: float = WEBHOOK_TIMEOUT) -> int:
    """Best-effort POST of a webhook body; returns the status, or 0 when it did not arrive."""
    try:
        check_url(url)
        response = httpx.post(
            url, json=payload, timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
    except (FetchError, httpx.HTTPError):
        return 0
    return response.status_code
