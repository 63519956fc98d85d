"""Fetching a page over HTTP with limits: timeouts, a size cap, a content-type check and an address guard.

Feed-supplied URLs may point anywhere; unless a feed is explicitly allowed, addresses in private,
loopback and link-local ranges are refused, checked after DNS resolution and on every redirect.
`fetch` (blocking) and `fetch_async` (for a poller with thousands of feeds) run the same checks;
only the I/O calls differ between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5
# A server trickling bytes just inside the read timeout would hold a slot forever: bound the whole fetch.
TOTAL_TIMEOUT_FACTOR = 3
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml",
               "application/rss+xml", "application/atom+xml", "application/rdf+xml")
_RETRY_AFTER_STATUSES = (429, 503)
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """A page that could not be fetched, with the reason for people and whether a retry may help.

    ``retry_after`` is the server's own Retry-After (429/503) in seconds, when it sent one.
    """

    def __init__(self, message: str, *, transient: bool = False, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    encoding: str | None
    headers: dict[str, str]
    # Where a chain of only permanent redirects (301/308) from ``url`` ends: the address to use from now on.
    moved_to: str | None = None
    # Bytes on the wire (compressed), against ``len(body)`` decoded.
    wire_bytes: int = 0

    def text(self) -> str:
        """The body as text, surviving a wrong or missing charset.

        Valid UTF-8 is taken for UTF-8 whatever the header says (a page that declares latin-1 yet
        decodes as UTF-8 is almost surely UTF-8), then the declared charset, then the page's own
        ``<meta charset>``; a body none of them decodes is read as windows-1252, which fits most
        legacy pages and never fails.
        """
        for encoding in ("utf-8", self.encoding, _meta_charset(self.body)):
            if encoding:
                with contextlib.suppress(LookupError, UnicodeDecodeError):
                    return self.body.decode(encoding)
        return self.body.decode("cp1252", errors="replace")


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)


def _meta_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:4096])
    return found.group(1).decode("ascii") if found else None


def client_options(timeout: float, user_agent: str) -> dict[str, Any]:
    """Options shared by the blocking and the asynchronous client; redirects are followed by hand."""
    return {"timeout": timeout, "follow_redirects": False, "headers": {"User-Agent": user_agent}}


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: only http(s) URLs with a host are fetched")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _refuse_private(url: str, host: str, infos: list[Any]) -> None:
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise FetchError(f"{url}: refused, {host} resolves to non-public address {address}")


def _unresolved(url: str, host: str, exc: socket.gaierror) -> FetchError:
    return FetchError(f"{url}: cannot resolve {host} ({exc.strerror})", transient=True)


def check_address(url: str, allow_private: bool) -> None:
    """Refuse URLs whose host resolves to a private, loopback, link-local or reserved address."""
    host, port = _host_port(url)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port)
    except socket.gaierror as exc:
        raise _unresolved(url, host, exc) from None
    _refuse_private(url, host, infos)


async def check_address_async(url: str, allow_private: bool) -> None:
    """`check_address` without blocking the event loop on DNS."""
    host, port = _host_port(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except socket.gaierror as exc:
        raise _unresolved(url, host, exc) from None
    _refuse_private(url, host, infos)


def retry_after_seconds(value: str | None, date: str | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds, or an HTTP date measured from the response's own Date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        until = parsedate_to_datetime(value).timestamp()
        sent = parsedate_to_datetime(date).timestamp() if date else time.time()
    except (TypeError, ValueError):
        return None
    return max(0.0, until - sent)


class _Fetch:
    """One fetch's redirect chain and the checks on each response, independent of blocking or async I/O."""

    def __init__(self, url: str, max_bytes: int, timeout: float) -> None:
        self.url = url
        self.current = url
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout * TOTAL_TIMEOUT_FACTOR
        self.hops = 0
        self.moved_to: str | None = None
        self.permanent_so_far = True
        self.chunks: list[bytes] = []
        self.size = 0

    def redirected(self, response: httpx.Response) -> bool:
        """Check a response's head: True when it redirected (``current`` moved on), False to read its body."""
        # httpx calls every 3xx a redirect, 304 Not Modified included: that one is an answer, with no body.
        if response.status_code in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"{self.current}: redirect without a Location header")
            if self.hops >= MAX_REDIRECTS:
                raise FetchError(f"{self.url}: more than {MAX_REDIRECTS} redirects")
            self.hops += 1
            self.current = urljoin(self.current, location)
            self.permanent_so_far = self.permanent_so_far and response.status_code in (301, 308)
            if self.permanent_so_far:
                self.moved_to = self.current
            return True
        status = response.status_code
        if status >= 400:
            retry_after = retry_after_seconds(response.headers.get("retry-after"), response.headers.get("date")) \
                if status in _RETRY_AFTER_STATUSES else None
            raise FetchError(f"{self.current}: HTTP {status}", status=status, retry_after=retry_after,
                             transient=status in (408, 425, 429) or status >= 500)
        content_type = self._content_type(response)
        if content_type and not content_type.startswith(_TEXT_TYPES):
            raise FetchError(f"{self.current}: not a text page (content-type {content_type})")
        declared = response.headers.get("content-length")
        # With Content-Encoding the declared length is the compressed one; the streaming check still applies.
        if declared and declared.isdigit() and int(declared) > self.max_bytes \
                and not response.headers.get("content-encoding"):
            raise FetchError(f"{self.current}: page of {int(declared)} bytes exceeds the cap of {self.max_bytes}")
        return False

    def add(self, chunk: bytes) -> None:
        """Take one decoded chunk; the cap counts decoded bytes, so a gzip bomb stops at the cap too."""
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise FetchError(f"{self.current}: page exceeds the cap of {self.max_bytes} bytes")
        if time.monotonic() > self.deadline:
            raise FetchError(f"{self.current}: too slow, still reading after the total time limit", transient=True)
        self.chunks.append(chunk)

    def page(self, response: httpx.Response) -> Page:
        body = b"".join(self.chunks)
        content_type = self._content_type(response)
        if b"\x00" in body[:4096]:
            raise FetchError(f"{self.current}: binary content served as {content_type or 'unknown type'}")
        return Page(url=self.url, final_url=str(response.url), status=response.status_code,
                    content_type=content_type, body=body, encoding=response.charset_encoding,
                    headers={k.lower(): v for k, v in response.headers.items()}, moved_to=self.moved_to,
                    wire_bytes=response.num_bytes_downloaded)

    @staticmethod
    def _content_type(response: httpx.Response) -> str:
        return response.headers.get("content-type", "").split(";")[0].strip().lower()

    @contextlib.contextmanager
    def transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException:
            raise FetchError(f"{self.current}: timed out", transient=True) from None
        except httpx.TransportError as exc:
            raise FetchError(f"{self.current}: {type(exc).__name__}: {exc}", transient=True) from None
        except httpx.DecodingError as exc:
            raise FetchError(f"{self.current}: undecodable body ({exc})") from None


def fetch(url: str, *, timeout: float = 20.0, max_bytes: int = 5_000_000, allow_private: bool = False,
          user_agent: str = "storywatch", headers: dict[str, str] | None = None,
          client: httpx.Client | None = None) -> Page:
    """GET ``url``, following at most MAX_REDIRECTS redirects, each checked by the address guard."""
    own = client is None
    client = client or httpx.Client(**client_options(timeout, user_agent))
    state = _Fetch(url, max_bytes, timeout)
    try:
        while True:
            check_address(state.current, allow_private)
            with state.transport_errors(), client.stream("GET", state.current, headers=headers or {}) as response:
                if state.redirected(response):
                    continue
                for chunk in response.iter_bytes():
                    state.add(chunk)
                return state.page(response)
    finally:
        if own:
            client.close()


async def fetch_async(url: str, client: httpx.AsyncClient, *, timeout: float = 20.0, max_bytes: int = 5_000_000,
                      allow_private: bool = False, headers: dict[str, str] | None = None) -> Page:
    """`fetch` on an asynchronous client (made with `client_options`), for many feeds at once."""
    state = _Fetch(url, max_bytes, timeout)
    while True:
        await check_address_async(state.current, allow_private)
        with state.transport_errors():
            async with client.stream("GET", state.current, headers=headers or {}) as response:
                if state.redirected(response):
                    continue
                async for chunk in response.aiter_bytes():
                    state.add(chunk)
                return state.page(response)
