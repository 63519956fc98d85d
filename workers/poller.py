"""The poller: reads feeds on their intervals and queues every entry it has not seen before."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.config import Feed, Settings
from pipeline.feeds import Entry, parse_entries
from pipeline.fetch import FetchError, fetch
from workers.queues import enqueue_entry
from workers.store import Store

log = logging.getLogger("storywatch.poller")


@dataclass
class PollResult:
    feed: Feed
    status: str
    new: list[Entry] = field(default_factory=list)
    warning: str | None = None


class Poller:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def poll(self, feed: Feed) -> PollResult:
        """Poll one feed now: conditional GET, parse, dedupe, enqueue in arrival order."""
        state = self.store.feed_state(feed.url)
        headers = {}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            page = fetch(feed.url, timeout=self.settings.fetch_timeout, max_bytes=self.settings.fetch_max_bytes,
                         allow_private=feed.allow_private, user_agent=self.settings.user_agent, headers=headers)
        except FetchError as exc:
            failures = int(state.get("failures", "0")) + 1
            self.store.save_feed_state(feed.url, {"last_status": f"error: {exc}", "last_attempt": now,
                                                  "failures": str(failures)})
            log.warning("feed %s failed (%d in a row): %s", feed.url, failures, exc)
            return PollResult(feed=feed, status=f"error: {exc}")
        if page.status == 304:
            self.store.save_feed_state(feed.url, {"last_status": "304 not modified", "last_success": now,
                                                  "last_attempt": now, "failures": "0"})
            return PollResult(feed=feed, status="not modified")
        entries, warning = parse_entries(page.body, feed.url, feed.name, feed.allow_private)
        if warning:
            log.warning("feed %s is malformed (%s); its %d entries are still read", feed.url, warning, len(entries))
        new = [entry for entry in entries if self.store.claim_entry(entry.identities, entry.article_id)]
        for entry in new:
            entry.seq = self.store.next_sequence()
            try:
                enqueue_entry(self.store, entry, self.settings)
            except Exception:
                self.store.forget_entry(entry.identities)
                raise
        seen = int(state.get("items_seen", "0")) + len(new)
        self.store.save_feed_state(feed.url, {
            "etag": page.headers.get("etag", ""), "last_modified": page.headers.get("last-modified", ""),
            "last_status": f"{page.status} ok, {len(new)} new", "last_success": now, "last_attempt": now,
            "failures": "0", "items_seen": str(seen)})
        return PollResult(feed=feed, status="ok", new=new, warning=warning)

    def run(self, feeds: list[Feed], stop: threading.Event) -> None:
        """Poll each feed on its interval until ``stop`` is set."""
        due = {feed.url: 0.0 for feed in feeds}
        while not stop.is_set():
            now = time.monotonic()
            for feed in feeds:
                if due[feed.url] <= now:
                    result = self.poll(feed)
                    if result.new:
                        log.info("feed %s: %d new entries queued", feed.url, len(result.new))
                    due[feed.url] = time.monotonic() + (feed.interval or self.settings.poll_interval)
            stop.wait(max(0.5, min(due.values()) - time.monotonic()) if due else 1.0)
