"""The outbound guard: URLs that came from outside never reach private addresses.

Every refusal happens before a connection is opened (the guard resolves the host itself
and checks the address it would connect to), so none of these tests needs the network.
A small local HTTP server plays an allow-listed origin that misbehaves.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from jobs import outbound
from jobs.providers.base import ErrorKind, ProviderError
from jobs.providers.registry import get_provider_class
from tests.conftest import image_bytes

PNG = image_bytes("PNG", (40, 30))


class Origin(http.server.BaseHTTPRequestHandler):
    """An allow-listed server: serves an image, redirects, drips, and streams too much."""

    routes: dict[str, Any] = {}

    def do_GET(self) -> None:
        handler = self.routes.get(self.path.split("?")[0])
        if handler is None:
            self.send_error(404)
            return
        handler(self)

    def log_message(self, *args: Any) -> None:
        pass


def _image(h: Origin) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.send_header("Content-Length", str(len(PNG)))
    h.end_headers()
    h.wfile.write(PNG)


def _redirect_to(location: str) -> Any:
    def handler(h: Origin) -> None:
        h.send_response(302)
        h.send_header("Location", location.format(port=h.server.server_address[1]))
        h.end_headers()

    return handler


def _endless(h: Origin) -> None:
    # No Content-Length: only counting the bytes as they arrive can stop this.
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.end_headers()
    try:
        for _ in range(2000):
            h.wfile.write(b"\0" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _drip(h: Origin) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    try:
        for _ in range(100):
            h.wfile.write(b"\0" * 100)
            h.wfile.flush()
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass


Origin.routes = {
    "/image.png": _image,
    "/to-loopback": _redirect_to("http://127.0.0.1/secret"),
    "/to-localhost": _redirect_to("http://localhost:{port}/image.png"),
    "/to-redis": _redirect_to("http://127.0.0.1:6379/"),
    "/to-metadata": _redirect_to("http://169.254.169.254/latest/meta-data/"),
    "/to-ftp": _redirect_to("ftp://127.0.0.1/secret"),
    "/to-self": _redirect_to("http://127.0.0.1:{port}/image.png"),
    "/endless": _endless,
    "/drip": _drip,
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def origin(server: str, settings: Any) -> str:
    """The local server, trusted through OUTBOUND_ALLOWED_ORIGINS (and nothing else)."""
    settings.SANDBOX_ENABLED = False
    settings.OUTBOUND_ALLOWED_ORIGINS = [server]
    return server


def refused(url: str) -> outbound.DownloadError:
    with pytest.raises(outbound.DownloadError) as caught:
        outbound.download(url, max_bytes=10_000_000, deadline_seconds=10)
    return caught.value


# ----- direct URLs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/x.png",
        "http://localhost/x.png",
        "http://2130706433/x.png",  # 127.0.0.1 written as one decimal number
        "http://0x7f000001/x.png",
        "http://[::ffff:127.0.0.1]/x.png",  # IPv4-mapped IPv6
        "http://[::1]/x.png",
        "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
        "http://10.1.2.3/x.png",
        "http://192.168.0.10/x.png",
        "http://172.16.0.1/x.png",
        "http://0.0.0.0/x.png",
        "http://[fe80::1]/x.png",
        "http://[fc00::1]/x.png",
        "http://[2002:7f00:1::]/x.png",  # 6to4 wrapping 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/x.png",  # NAT64 wrapping 169.254.169.254
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url):
    error = refused(url)
    assert error.kind == "blocked" and not error.retryable
    assert "private or local address" in error.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6379/", "http://8.8.8.8:6379/", "http://8.8.8.8:22/"]
)
def test_non_web_ports_are_refused(url):
    error = refused(url)
    assert error.kind == "blocked" and "port" in error.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.png", "gopher://x/"])
def test_only_http_urls_are_fetched(url):
    assert refused(url).kind == "blocked"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo hiding 127.0.0.1
        ("224.0.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
    ],
)
def test_address_classification(address, public):
    assert outbound.is_public_address(address) is public


# ----- an allow-listed origin that redirects ------------------------------------------------------
def test_the_allow_listed_origin_itself_works(origin):
    fetched = outbound.download(f"{origin}/image.png", max_bytes=10_000_000, deadline_seconds=10)
    with Image.open(fetched.file) as image:
        assert image.size == (40, 30)
    assert fetched.size == len(PNG) and fetched.content_type == "image/png"


def test_the_sandbox_origin_is_allowed_only_while_the_sandbox_is_on(server, settings):
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    settings.SANDBOX_BASE_URL = server
    settings.SANDBOX_ENABLED = True
    fetched = outbound.download(f"{server}/image.png", max_bytes=10_000_000, deadline_seconds=10)
    assert fetched.size == len(PNG)

    settings.SANDBOX_ENABLED = False
    assert refused(f"{server}/image.png").kind == "blocked"


def test_a_redirect_within_the_allowed_origin_is_followed(origin):
    fetched = outbound.download(f"{origin}/to-self", max_bytes=10_000_000, deadline_seconds=10)
    assert fetched.size == len(PNG)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/to-loopback", "private or local address"),
        ("/to-localhost", "port"),  # same server, but not the allow-listed name
        ("/to-redis", "port 6379"),
        ("/to-metadata", "private or local address"),
        ("/to-ftp", "unusable"),
    ],
)
def test_redirects_from_an_allowed_origin_are_checked_again(origin, path, words):
    error = refused(f"{origin}{path}")
    assert error.kind == "blocked" and words in error.message


# ----- caps ---------------------------------------------------------------------------------------
def test_a_body_without_content_length_is_stopped_at_the_byte_cap(origin):
    with pytest.raises(outbound.DownloadError) as caught:
        outbound.download(f"{origin}/endless", max_bytes=2 * 1024 * 1024, deadline_seconds=10)
    assert caught.value.kind == "too_large" and "2 MB" in caught.value.message


def test_a_slow_drip_is_stopped_at_the_deadline(origin):
    # Bytes keep arriving (no read timeout fires): only the wall-clock deadline stops it.
    with pytest.raises(outbound.DownloadError) as caught:
        outbound.download(f"{origin}/drip", max_bytes=10_000_000, deadline_seconds=1)
    assert caught.value.kind == "timeout" and caught.value.retryable
    assert caught.value.message == "The result download took too long."


# ----- provider API calls go through the same guard -----------------------------------------------
def test_a_provider_base_url_on_a_private_address_is_refused(settings):
    settings.SANDBOX_ENABLED = False
    provider = get_provider_class("aimlapi")(api_key="k", base_url="http://10.0.0.5/v1")
    with pytest.raises(ProviderError) as caught:
        provider.check_connection()
    assert caught.value.kind == ErrorKind.INPUT
    assert "private or local address" in caught.value.message


def test_retry_after_reads_seconds_and_http_dates():
    assert outbound.parse_retry_after("7") == 7.0
    now = 1_700_000_000.0
    assert outbound.parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now=now) == 20.0
    assert outbound.parse_retry_after("soon") is None and outbound.parse_retry_after(None) is None
