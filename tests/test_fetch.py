"""The page fetcher against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.fetch import FetchError, fetch

ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/page": (200, {"Content-Type": "text/html; charset=utf-8"}, "<p>Grüße</p>".encode()),
    "/latin": (200, {"Content-Type": "text/html; charset=iso-8859-1"}, "<p>café</p>".encode("latin-1")),
    "/big": (200, {"Content-Type": "text/html"}, b"x" * 5000),
    "/binary": (200, {"Content-Type": "text/html"}, b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" * 10),
    "/pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"),
    "/gone": (404, {"Content-Type": "text/html"}, b"no"),
    "/busy": (503, {"Content-Type": "text/html"}, b"later"),
    "/hop": (301, {"Location": "/page"}, b""),
    "/loop": (302, {"Location": "/loop"}, b""),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_page_and_charset(site: str) -> None:
    assert "Grüße" in fetch(f"{site}/page", allow_private=True).text()
    assert "café" in fetch(f"{site}/latin", allow_private=True).text()


def test_redirect_is_followed(site: str) -> None:
    page = fetch(f"{site}/hop", allow_private=True)
    assert page.final_url.endswith("/page") and page.status == 200


@pytest.mark.parametrize(("path", "reason", "transient"), [
    ("/big", "exceeds the cap", False),
    ("/binary", "binary content", False),
    ("/pdf", "not a text page", False),
    ("/gone", "HTTP 404", False),
    ("/busy", "HTTP 503", True),
    ("/loop", "more than 5 redirects", False),
])
def test_refusals_say_why(site: str, path: str, reason: str, transient: bool) -> None:
    with pytest.raises(FetchError, match=reason) as caught:
        fetch(f"{site}{path}", allow_private=True, max_bytes=1000)
    assert caught.value.transient is transient


def test_loopback_refused_unless_allowed(site: str) -> None:
    with pytest.raises(FetchError, match="non-public address 127.0.0.1"):
        fetch(f"{site}/page")
