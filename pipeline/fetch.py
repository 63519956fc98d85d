"""Fetching a page over HTTP with limits: timeouts, a size cap, a content-type check and an address guard.

Feed-supplied URLs may point anywhere; unless a feed is explicitly allowed, addresses in private,
loopback and link-local ranges are refused, checked after DNS resolution and on every redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml",
               "application/rss+xml", "application/atom+xml", "application/rdf+xml")


class FetchError(Exception):
    """A page that could not be fetched, with the reason for people and whether a retry may help."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Page:
    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    encoding: str | None
    headers: dict[str, str]

    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", errors="replace")


def check_address(url: str, allow_private: bool) -> None:
    """Refuse URLs whose host resolves to a private, loopback, link-local or reserved address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: only http(s) URLs with a host are fetched")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise FetchError(f"{url}: cannot resolve {parts.hostname} ({exc.strerror})", transient=True) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise FetchError(f"{url}: refused, {parts.hostname} resolves to non-public address {address}")


def fetch(url: str, *, timeout: float = 20.0, max_bytes: int = 5_000_000, allow_private: bool = False,
          user_agent: str = "storywatch", headers: dict[str, str] | None = None,
          client: httpx.Client | None = None) -> Page:
    """GET ``url``, following at most MAX_REDIRECTS redirects, each checked by the address guard."""
    own = client is None
    client = client or httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": user_agent})
    try:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            check_address(current, allow_private)
            outcome = _get_once(client, url, current, max_bytes, headers or {})
            if isinstance(outcome, Page):
                return outcome
            current = outcome
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
    finally:
        if own:
            client.close()


def _get_once(client: httpx.Client, url: str, current: str, max_bytes: int,
              headers: dict[str, str]) -> Page | str:
    """The page, or the address a redirect points to."""
    try:
        with client.stream("GET", current, headers=headers) as response:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"{current}: redirect without a Location header")
                return urljoin(current, location)
            if response.status_code >= 400:
                transient = response.status_code in (408, 425, 429) or response.status_code >= 500
                raise FetchError(f"{current}: HTTP {response.status_code}", transient=transient)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type and not content_type.startswith(_TEXT_TYPES):
                raise FetchError(f"{current}: not a text page (content-type {content_type})")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"{current}: page of {int(declared)} bytes exceeds the cap of {max_bytes}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{current}: page exceeds the cap of {max_bytes} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
            if b"\x00" in body[:4096]:
                raise FetchError(f"{current}: binary content served as {content_type or 'unknown type'}")
            return Page(url=url, final_url=str(response.url), status=response.status_code,
                        content_type=content_type, body=body, encoding=response.charset_encoding,
                        headers={k.lower(): v for k, v in response.headers.items()})
    except httpx.TimeoutException:
        raise FetchError(f"{current}: timed out", transient=True) from None
    except httpx.TransportError as exc:
        raise FetchError(f"{current}: {type(exc).__name__}: {exc}", transient=True) from None
