"""Hostile and broken input from a loopback server: each is refused or bounded, with a reason that says why."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.analysis import Analyser
from pipeline.claims import MAX_CLAIMS, MAX_TEXT_CHARS
from pipeline.config import load_settings
from pipeline.extract import ExtractError
from pipeline.feeds import MAX_ENTRIES, Entry, parse_feed
from pipeline.fetch import FetchError, check_address, client_options, fetch, fetch_async
from pipeline.models import Article
from workers.connection import redact
from workers.jobs import analyse_entry
from workers.loopback import LoopbackSite, Response

BIG = 200 * 1024 * 1024
CAP = 1_000_000

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
<!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;"><!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">]>
<rss version="2.0"><channel><title>t</title>
<item><title>&i;</title><link>http://example.org/laughs</link></item>
<item><title>Plain</title><link>http://example.org/plain</link></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<rss version="2.0"><channel><title>t</title><item><title>before &x; after</title>
<link>http://example.org/x</link></item></channel></rss>"""

BROKEN_TITLES = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><item>'
                 b"<title>Bells\x07 and\x1b[31m caf\xe9 \xff news</title><link>http://example.org/t</link>"
                 b"</item></channel></rss>")


def _items(count: int) -> bytes:
    items = "".join(f"<item><title>Item {i}</title><link>http://example.org/{i}</link><guid>g{i}</guid>"
                    f"<pubDate>Mon, 03 Nov 2025 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} GMT</pubDate>"
                    "</item>" for i in range(count))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


ROUTES: dict[str, tuple[dict[str, str], bytes]] = {
    "/bomb": ({"Content-Type": "text/html", "Content-Encoding": "gzip"}, gzip.compress(b"\0" * 20_000_000)),
    "/binary": ({"Content-Type": "text/html"}, b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8),
    "/mislabelled": ({"Content-Type": "text/html; charset=utf-8"}, "<p>Le café de Zoë</p>".encode("latin-1")),
    "/understated": ({"Content-Type": "text/html; charset=iso-8859-1"}, "<p>Grüße aus Köln</p>".encode()),
    "/meta": ({"Content-Type": "text/html"},
              '<meta charset="iso-8859-1"><p>Señor Muñoz</p>'.encode("latin-1")),
    "/unlabelled": ({"Content-Type": "text/html"}, "<p>naïve “quotes”</p>".encode("cp1252")),
    "/empty": ({"Content-Type": "text/html"}, b"<html><head><title>x</title></head><body></body></html>"),
    "/laughs": ({"Content-Type": "application/rss+xml"}, LAUGHS),
    "/xxe": ({"Content-Type": "application/rss+xml"}, XXE),
    "/titles": ({"Content-Type": "application/rss+xml"}, BROKEN_TITLES),
    "/many": ({"Content-Type": "application/rss+xml"}, _items(10_000)),
}


def trickle() -> Iterator[bytes]:
    for _ in range(120):
        yield b"x"
        time.sleep(1.0)


def respond(path: str, headers: dict[str, str]) -> Response | None:
    if path.startswith("/hop/"):
        # An endless chain of distinct redirects.
        return 302, {"Location": f"/hop/{int(path.rsplit('/', 1)[1]) + 1}"}, b""
    if path in ("/huge", "/huge-chunked"):
        block = b"<p>" + b"x" * 65_536 + b"</p>"
        length = {"Content-Length": str(BIG)} if path == "/huge" else {}
        return 200, {"Content-Type": "text/html", **length}, (block for _ in range(BIG // len(block)))
    if path == "/trickle":
        return 200, {"Content-Type": "text/html"}, trickle()
    if path in ROUTES:
        page_headers, body = ROUTES[path]
        return 200, page_headers, body
    return None


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LoopbackSite(respond) as loopback:
        yield loopback.base_url


def get(url: str, **kwargs: Any) -> Any:
    return fetch(url, allow_private=True, max_bytes=CAP, **kwargs)


@pytest.mark.parametrize(("path", "reason"), [
    ("/bomb", f"exceeds the cap of {CAP}"),
    ("/huge", f"page of {BIG} bytes exceeds the cap"),
    ("/huge-chunked", f"page exceeds the cap of {CAP}"),
    ("/binary", "binary content served as text/html"),
    ("/hop/0", "more than 5 redirects"),
])
def test_refused_with_a_reason(site: str, path: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        get(f"{site}{path}")


def test_trickling_server_is_cut_off_at_the_total_time_limit(site: str) -> None:
    with pytest.raises(FetchError, match="too slow") as caught:
        get(f"{site}/trickle", timeout=1.5)  # each byte inside the read timeout
    assert caught.value.transient


@pytest.mark.parametrize(("path", "text"), [
    ("/mislabelled", "Le café de Zoë"),  # declared utf-8, is latin-1
    ("/understated", "Grüße aus Köln"),  # declared latin-1, is utf-8
    ("/meta", "Señor Muñoz"),  # no charset in the header, one in the page
    ("/unlabelled", "naïve “quotes”"),  # no charset anywhere, windows-1252
])
def test_wrong_or_missing_charset(site: str, path: str, text: str) -> None:
    assert text in get(f"{site}{path}").text()


def test_empty_article_is_skipped_with_a_reason(site: str) -> None:
    entry = Entry(article_id="empty", url=f"{site}/empty", guid="", title="", published=None, updated=None,
                  source="", feed_url="", allow_private=True)
    with pytest.raises(ExtractError, match="no article text"):
        analyse_entry(entry, load_settings())


def test_entity_expansion_and_external_entities_stay_unexpanded(site: str) -> None:
    laughs = parse_feed(get(f"{site}/laughs").body, f"{site}/laughs")
    assert "http://example.org/plain" in [entry.url for entry in laughs.entries]
    assert all(len(entry.title) < 100 for entry in laughs.entries)
    [entry] = parse_feed(get(f"{site}/xxe").body, f"{site}/xxe").entries
    assert entry.title.startswith("before") and len(entry.title) < 30


def test_feed_of_ten_thousand_items_reads_the_newest(site: str) -> None:
    document = parse_feed(fetch(f"{site}/many", allow_private=True).body, f"{site}/many")
    assert len(document.entries) == MAX_ENTRIES
    assert document.entries[-1].guid == "g9999" and document.entries[0].guid == f"g{10_000 - MAX_ENTRIES}"
    assert document.warning is not None and "10000 entries" in document.warning


def test_control_characters_and_invalid_utf8_in_titles(site: str) -> None:
    [entry] = parse_feed(get(f"{site}/titles").body, f"{site}/titles").entries
    assert entry.title.startswith("Bells and[31m caf")
    assert not any(ord(char) < 32 or 0x7F <= ord(char) < 0xA0 for char in entry.title)


def test_fifty_thousand_sentences_are_capped(caplog: pytest.LogCaptureFixture) -> None:
    sentence = "The council in Oslo voted {} times on Monday to approve the harbour plan."
    text = "\n".join(sentence.format(i) for i in range(50_000))
    with caplog.at_level(logging.WARNING, logger="storywatch.claims"):
        analysed = Analyser().analyse(Article(id="long", url="", source="", title="t", text=text))
    assert 0 < len(analysed.claims) <= MAX_CLAIMS
    assert f"only the first {MAX_TEXT_CHARS} are analysed" in caplog.text


# --- the address guard --------------------------------------------------------------------------------


def test_loopback_refused_at_the_first_hop(site: str) -> None:
    with pytest.raises(FetchError, match=r"non-public address 127\.0\.0\.1"):
        fetch(f"{site}/hop/0", allow_private=False)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names of a pretend internet: one public host, and names that resolve to private addresses."""
    table = {"news.example.com": "93.184.216.34", "sneaky.example.com": "10.0.0.7",
             "metadata.example.com": "169.254.169.254", "six.example.com": "::1",
             "mapped.example.com": "::ffff:127.0.0.1"}
    real = socket.getaddrinfo

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in table:
            family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (table[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.mark.parametrize("host", ["sneaky.example.com", "metadata.example.com", "six.example.com",
                                  "mapped.example.com", "127.0.0.1", "[::1]", "0.0.0.0"])
def test_private_addresses_refused_after_resolution(fake_dns: None, host: str) -> None:
    with pytest.raises(FetchError, match="refused"):
        check_address(f"http://{host}/x", allow_private=False)


def test_redirect_to_loopback_from_a_public_host_is_refused(fake_dns: None) -> None:
    asked: list[str] = []

    def public_site(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:6379/admin"})

    client = httpx.Client(transport=httpx.MockTransport(public_site), **client_options(5.0, "test"))
    with pytest.raises(FetchError, match=r"127\.0\.0\.1:6379/admin: refused"):
        fetch("http://news.example.com/story", client=client)
    assert asked == ["http://news.example.com/story"], "the private address was never requested"

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(public_site),
                                     **client_options(5.0, "test")) as async_client:
            await fetch_async("http://news.example.com/story", async_client)

    with pytest.raises(FetchError, match="refused"):
        asyncio.run(run())


def test_secrets_are_redacted() -> None:
    url = "rediss://user:hunter2@redis.internal:6380/0"
    assert "hunter2" not in redact(url) and redact(url).startswith("rediss://user:***@redis.internal:6380")
