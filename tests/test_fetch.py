"""The page fetcher against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator

import httpx
import pytest

from pipeline.fetch import FetchError, Page, client_options, fetch, fetch_async, retry_after_seconds
from workers.loopback import LoopbackSite

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
    "/gz": (200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
            gzip.compress(b"<rss>" + b"news " * 2000 + b"</rss>")),
    "/bomb": (200, {"Content-Type": "text/xml", "Content-Encoding": "gzip"}, gzip.compress(b" " * 100_000)),
    "/moved": (308, {"Location": "/hop"}, b""),
    "/detour": (302, {"Location": "/hop"}, b""),
    "/same": (304, {"ETag": '"x"'}, b""),
    "/limited": (429, {"Retry-After": "120"}, b""),
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LoopbackSite(lambda path, headers: ROUTES.get(path)) as loopback:
        yield loopback.base_url


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
    with pytest.raises(FetchError, match=r"non-public address 127\.0\.0\.1"):
        fetch(f"{site}/page")


def fetch_both(url: str, **kwargs: object) -> list[Page]:
    """The same fetch, blocking and asynchronous: both must see the same page."""

    async def run() -> Page:
        async with httpx.AsyncClient(**client_options(5.0, "test")) as client:
            return await fetch_async(url, client, allow_private=True, **kwargs)  # type: ignore[arg-type]

    return [fetch(url, allow_private=True, **kwargs), asyncio.run(run())]  # type: ignore[arg-type]


def test_gzip_is_decoded_and_counted_compressed(site: str) -> None:
    for page in fetch_both(f"{site}/gz"):
        assert page.body.startswith(b"<rss>news") and len(page.body) == 10011
        assert page.wire_bytes < 200


def test_the_cap_counts_decoded_bytes(site: str) -> None:
    with pytest.raises(FetchError, match="exceeds the cap of 50000"):
        fetch(f"{site}/bomb", allow_private=True, max_bytes=50_000)


def test_permanent_redirects_tell_where_the_page_moved(site: str) -> None:
    for page in fetch_both(f"{site}/moved"):
        assert page.moved_to == f"{site}/page" and page.final_url == f"{site}/page"
    assert all(page.moved_to is None for page in fetch_both(f"{site}/detour"))


def test_304_is_an_answer_not_a_redirect(site: str) -> None:
    assert [page.status for page in fetch_both(f"{site}/same")] == [304, 304]


def test_retry_after(site: str) -> None:
    with pytest.raises(FetchError) as caught:
        fetch_both(f"{site}/limited")
    assert caught.value.status == 429 and caught.value.retry_after == 120.0 and caught.value.transient
    assert retry_after_seconds("Wed, 21 Oct 2015 07:30:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT") == 120.0
    assert retry_after_seconds("soon") is None


def test_async_guard_refuses_loopback(site: str) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(**client_options(5.0, "test")) as client:
            await fetch_async(f"{site}/page", client)

    with pytest.raises(FetchError, match="non-public address"):
        asyncio.run(run())
