"""Every outbound HTTP request starts here.

`provider_client` is for calls to provider APIs; `download` is for URLs that came from
outside (result URLs, user URLs). Both refuse private, loopback and link-local addresses,
checked on the IP actually connected to (so DNS rebinding and redirects cannot dodge it).
The sandbox and any origin in OUTBOUND_ALLOWED_ORIGINS are reached through an explicit
allow-list instead of switching the guard off.
"""

from __future__ import annotations

import email.utils
import functools
import ipaddress
import socket
import ssl
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

USER_AGENT = "Upscaler/0.1 (+self-hosted)"
SAFE_PORTS = frozenset({80, 443, 8080, 8443})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from now; accepts delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class BlockedAddress(Exception):
    """The URL points somewhere this app must never connect to."""


def _origin(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname.lower(), port


def allowed_origins() -> set[tuple[str, int]]:
    """Origins exempt from the address guard: the sandbox and explicitly trusted hosts."""
    urls = list(getattr(settings, "OUTBOUND_ALLOWED_ORIGINS", []))
    if settings.SANDBOX_ENABLED:
        urls.append(settings.SANDBOX_BASE_URL)
    return {origin for origin in map(_origin, urls) if origin}


# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(ip_text: str) -> bool:
    """True only for a globally routable unicast address, IPv4 hidden inside IPv6 included."""
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(str(embedded))
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, checks every address, then connects to a checked one."""

    def __init__(self, allowed: set[tuple[str, int]]) -> None:
        self._inner = httpcore.SyncBackend()
        self._allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if (host.lower(), port) in self._allowed:
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        if port not in SAFE_PORTS:
            raise BlockedAddress(f"Refusing to connect to port {port}: not a web port.")
        address = self._checked_address(host, port)
        return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    @staticmethod
    def _checked_address(host: str, port: int) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"Cannot resolve {host}: {exc}") from exc
        addresses = [info[4][0] for info in infos]
        blocked = [a for a in addresses if not is_public_address(a)]
        if blocked or not addresses:
            raise BlockedAddress(
                f"Refusing to connect to {host}: it resolves to a private or local address."
            )
        return addresses[0]

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs ~25 ms, and a
    client is made for every request. Contexts are safe to share between connections."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, *, allowed: set[tuple[str, int]], retries: int = 0) -> None:
        context = _ssl_context()
        super().__init__(verify=context, retries=retries)
        # httpx has no public hook for the network backend; the pool is rebuilt with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            retries=retries,
            network_backend=GuardedBackend(allowed),
        )


def provider_client(*, timeout: float | None = None) -> httpx.Client:
    """A client for provider APIs: generous read timeout (sync upscales take minutes)."""
    read = timeout if timeout is not None else 60.0
    return httpx.Client(
        # Connection failures happen before anything is sent, so retrying them is safe.
        transport=GuardedTransport(allowed=allowed_origins(), retries=2),
        timeout=httpx.Timeout(connect=10.0, read=read, write=60.0, pool=10.0),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


class DownloadError(Exception):
    """A result could not be fetched. `kind` says whether trying again can help."""

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # expired | too_large | timeout | blocked | transient | bad
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in {"timeout", "transient"}


@dataclass
class Downloaded:
    file: IO[bytes]
    size: int
    content_type: str


MAX_REDIRECTS = 5


def download(url: str, *, max_bytes: int, deadline_seconds: float) -> Downloaded:
    """Stream a URL from outside into a temporary file, within a byte cap and a deadline."""
    if urlsplit(url).scheme not in {"http", "https"}:
        raise DownloadError("Only http and https result URLs are fetched.", kind="blocked")
    started = time.monotonic()
    try:
        with _download_client(deadline_seconds) as client:
            return _stream(client, url, max_bytes, started + deadline_seconds)
    except BlockedAddress as exc:
        raise DownloadError(str(exc), kind="blocked") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        # e.g. a redirect to ftp:// or file://: never followed.
        raise DownloadError(
            f"The result URL leads somewhere unusable: {exc}", kind="blocked"
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise DownloadError("The result URL redirects too many times.", kind="bad") from exc
    except httpx.TimeoutException as exc:
        raise DownloadError("The result download timed out.", kind="timeout") from exc
    except httpx.TransportError as exc:
        raise DownloadError(f"The result download failed: {exc}.", kind="transient") from exc


def _download_client(deadline_seconds: float) -> httpx.Client:
    per_read = min(30.0, deadline_seconds)
    return httpx.Client(
        transport=GuardedTransport(allowed=allowed_origins(), retries=1),
        timeout=httpx.Timeout(connect=10.0, read=per_read, write=30.0, pool=10.0),
        # Images are compressed already; identity keeps the byte cap a cap (no gzip bombs).
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
    )


def _stream(client: httpx.Client, url: str, max_bytes: int, deadline: float) -> Downloaded:
    with client.stream("GET", url) as response:
        _check_status(response)
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > max_bytes:
            raise DownloadError(_too_large(max_bytes), kind="too_large")
        sink = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        try:
            size = _copy_capped(response, sink, max_bytes, deadline)
        except DownloadError:
            sink.close()
            raise
        sink.seek(0)
        content_type = response.headers.get("Content-Type", "")
        return Downloaded(file=sink, size=size, content_type=content_type)


def _copy_capped(response: httpx.Response, sink: IO[bytes], max_bytes: int, deadline: float) -> int:
    """Copy the body as it arrives, stopping at the byte cap or the wall-clock deadline.

    Pieces are taken as the network delivers them (no fixed chunk size), so a slow drip
    is caught at its deadline, not after it has filled a large buffer.
    """
    size = 0
    for piece in response.iter_bytes():
        size += len(piece)
        if size > max_bytes:
            raise DownloadError(_too_large(max_bytes), kind="too_large")
        if time.monotonic() > deadline:
            raise DownloadError("The result download took too long.", kind="timeout")
        sink.write(piece)
    return size


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status in (403, 404, 410):
        raise DownloadError(
            f"The provider no longer has this result (HTTP {status}); its link has expired.",
            kind="expired",
        )
    if status == 429 or status >= 500:
        raise DownloadError(
            f"The result server is busy (HTTP {status}).",
            kind="transient",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if not response.is_success:
        raise DownloadError(f"The result URL answered HTTP {status}.", kind="bad")


def _too_large(max_bytes: int) -> str:
    return f"The result is larger than the {max_bytes // (1024 * 1024)} MB allowed."
