"""Feed documents to entries: feedparser does the parsing, this module decides identity and order."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from pipeline.models import stable_id

_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|mc_cid|mc_eid|ref|cmpid|smid|ocid)$", re.IGNORECASE)
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Control characters (but tab and newline) come from broken feeds and garble logs and messages.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A feed is a list of recent items; one that lists thousands is an archive or an attack. Only the
# newest are read, so one feed cannot flood the queue.
MAX_ENTRIES = 500


@dataclass
class Entry:
    """One feed item, as much as the worker needs to fetch and label the article."""

    article_id: str
    url: str
    guid: str
    title: str
    published: str | None
    updated: float | None
    source: str
    feed_url: str
    allow_private: bool = False
    seq: int = 0
    # What the feed says about the item (title, summary, date): a new value means the article was edited.
    fingerprint: str = ""
    # Queued again because its feed entry changed: the same article id, to be re-read, not a new article.
    update: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(**data)

    @property
    def identities(self) -> list[str]:
        return [f"guid:{self.guid}" if self.guid else "", f"url:{canonical_url(self.url)}"]


def canonical_url(url: str) -> str:
    """The URL without tracking parameters and fragment, with a lowercase host."""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else ""),
                       path, query, ""))


def article_id_for(guid: str, url: str) -> str:
    """A short id that names the same item in every poll: the GUID when it is already a short token."""
    if guid and _TOKEN.match(guid):
        return guid
    return stable_id(guid or canonical_url(url))


def _timestamp(parsed: Any) -> float | None:
    return float(calendar.timegm(parsed)) if parsed else None


@dataclass
class FeedDocument:
    """A parsed feed; for an HTML page instead of a feed, no entries and the feed links the page names."""

    entries: list[Entry]
    warning: str | None = None
    is_feed: bool = True
    alternates: list[str] = field(default_factory=list)


def parse_entries(body: bytes, feed_url: str, feed_name: str = "", allow_private: bool = False
                  ) -> tuple[list[Entry], str | None]:
    """Entries oldest first, and feedparser's complaint if the feed is malformed (its entries still count)."""
    document = parse_feed(body, feed_url, feed_name, allow_private)
    return document.entries, document.warning


def parse_feed(body: bytes, feed_url: str, feed_name: str = "", allow_private: bool = False) -> FeedDocument:
    """The entries of a feed document oldest first, or the feed links of an HTML page (autodiscovery)."""
    import feedparser

    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    warning = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    if not parsed.get("version") and not parsed.entries:
        return FeedDocument([], warning, is_feed=False, alternates=discover_feeds(body, feed_url))
    entries: list[Entry] = []
    for item in parsed.entries:
        url = item.get("link") or ""
        if not url:
            continue
        guid = item.get("id") or item.get("guid") or ""
        source = _clean((item.get("source") or {}).get("title") or feed_name or parsed.feed.get("title", ""))
        # An Atom <updated> says when the entry changed, not when the story was published.
        published = item.get("published_parsed")
        updated = _timestamp(item.get("updated_parsed") or item.get("published_parsed"))
        title = _clean(item.get("title", ""))
        entries.append(Entry(
            article_id=article_id_for(guid, url),
            url=url,
            guid=guid,
            title=title,
            published=_iso_date(published),
            updated=updated,
            source=source,
            feed_url=feed_url,
            allow_private=allow_private,
            fingerprint=_fingerprint(title, item.get("summary", ""), updated),
        ))
    # Feeds list newest first; arrival order is oldest first, ties keep the feed's own order reversed.
    entries.reverse()
    entries.sort(key=lambda e: e.updated if e.updated is not None else float("inf"))
    if len(entries) > MAX_ENTRIES:
        capped = f"the feed lists {len(entries)} entries; only the newest {MAX_ENTRIES} are read"
        warning = f"{warning}; {capped}" if warning else capped
        entries = entries[-MAX_ENTRIES:]
    return FeedDocument(entries, warning)


def _clean(text: str) -> str:
    return _CONTROL.sub("", text).strip()


def _fingerprint(title: str, summary: str, updated: float | None) -> str:
    text = "\x1f".join((title.strip(), summary.strip(), repr(updated)))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


_FEED_TYPES = ("application/rss+xml", "application/atom+xml")


class _AlternateLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        if "alternate" in rels and values.get("type", "").lower().strip() in _FEED_TYPES and values.get("href"):
            self.links.append(values["href"].strip())


def discover_feeds(html: bytes, page_url: str) -> list[str]:
    """Absolute URLs of the RSS/Atom feeds an HTML page announces with <link rel="alternate">, in page order."""
    finder = _AlternateLinks()
    # Only ASCII attributes matter here, so a wrong guess of the page's charset costs nothing.
    finder.feed(html.decode("utf-8", errors="replace"))
    finder.close()
    return list(dict.fromkeys(urljoin(page_url, href) for href in finder.links))


def _iso_date(parsed: Any) -> str | None:
    if not parsed:
        return None
    return f"{parsed.tm_year:04d}-{parsed.tm_mon:02d}-{parsed.tm_mday:02d}"
