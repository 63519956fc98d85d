"""Feed documents to entries: feedparser does the parsing, this module decides identity and order."""

from __future__ import annotations

import calendar
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipeline.models import stable_id

_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|mc_cid|mc_eid|ref|cmpid|smid|ocid)$", re.IGNORECASE)
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


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


def parse_entries(body: bytes, feed_url: str, feed_name: str = "", allow_private: bool = False
                  ) -> tuple[list[Entry], str | None]:
    """Entries oldest first, and feedparser's complaint if the feed is malformed (its entries still count)."""
    import feedparser

    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    warning = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    entries: list[Entry] = []
    for item in parsed.entries:
        url = item.get("link") or ""
        if not url:
            continue
        guid = item.get("id") or item.get("guid") or ""
        source = (item.get("source") or {}).get("title") or feed_name or parsed.feed.get("title", "")
        published = item.get("published_parsed") or item.get("updated_parsed")
        entries.append(Entry(
            article_id=article_id_for(guid, url),
            url=url,
            guid=guid,
            title=item.get("title", ""),
            published=_iso_date(published),
            updated=_timestamp(item.get("updated_parsed") or item.get("published_parsed")),
            source=source,
            feed_url=feed_url,
            allow_private=allow_private,
        ))
    # Feeds list newest first; arrival order is oldest first, ties keep the feed's own order reversed.
    entries.reverse()
    entries.sort(key=lambda e: e.updated if e.updated is not None else float("inf"))
    return entries, warning


def _iso_date(parsed: Any) -> str | None:
    if not parsed:
        return None
    return f"{parsed.tm_year:04d}-{parsed.tm_mon:02d}-{parsed.tm_mday:02d}"
