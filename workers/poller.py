"""The poller: reads feeds on adaptive intervals and queues every entry it has not seen before.

One process polls thousands of feeds over one asynchronous HTTP client, polite to each host.
Several processes may share a Redis: a per-feed lease, and the schedule kept in the feed's state,
make sure a feed is polled once per period whichever process gets to it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field, fields, replace
from urllib.parse import urlsplit

import httpx

from pipeline.config import Feed, Settings
from pipeline.feeds import Entry, FeedDocument, parse_feed
from pipeline.fetch import TOTAL_TIMEOUT_FACTOR, FetchError, Page, client_options, fetch_async
from workers.queues import enqueue_entry
from workers.store import Store

log = logging.getLogger("storywatch.poller")

MAX_FAILURES = 8
MAX_BACKOFF = 6 * 3600.0
MAX_RETRY_AFTER = 24 * 3600.0
# Spread polls of feeds that share an interval, so they do not all hit at the same second forever.
JITTER = 0.1
# A disabled feed is looked at again now and then: `storywatch feeds enable` may have revived it.
DISABLED_RECHECK = 600.0
# Another process holds the feed's lease: it is polling it right now.
BUSY_RECHECK = 30.0
# Redis unreachable or a bug while polling one feed: retry it soon, keep the others going.
ERROR_RECHECK = 60.0


@dataclass
class FeedState:
    """The poll state of one feed, as kept in its Redis hash (every value a string there)."""

    location: str = ""  # where the feed is polled now, after permanent redirects or autodiscovery
    etag: str = ""
    last_modified: str = ""
    body_hash: str = ""  # catches unchanged bodies from servers whose validators change on every request
    last_attempt: float = 0.0
    last_success: float = 0.0
    last_status: str = ""
    failures: int = 0
    disabled: str = ""  # why, when disabled
    next_poll: float = 0.0
    interval: float = 0.0
    change_period: float = 0.0  # running estimate of the seconds between changes of the feed
    last_change: float = 0.0
    items_seen: int = 0
    updates_seen: int = 0

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> FeedState:
        state = cls()
        for spec in fields(cls):
            if spec.name in raw:
                kind = type(getattr(state, spec.name))
                # States written by older versions hold dates as ISO text: those start afresh.
                with contextlib.suppress(ValueError):
                    setattr(state, spec.name, kind(raw[spec.name]))
        return state

    def to_hash(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


@dataclass
class PollResult:
    feed: Feed
    status: str
    new: list[Entry] = field(default_factory=list)  # queued entries, oldest first; edits have update=True
    warning: str | None = None
    next_poll: float = 0.0


def interval_bounds(feed: Feed, default: int) -> tuple[float, float, float]:
    """(lowest, starting, highest) interval of a feed; unset bounds follow from its interval."""
    base = float(feed.interval or default)
    low = float(feed.min_interval or min(base, max(60.0, base / 4)))
    high = float(feed.max_interval or base * 8)
    return low, min(max(base, low), high), high


def adapt(state: FeedState, changed: bool, now: float, bounds: tuple[float, float, float]) -> float:
    """The next interval: half the feed's change period, so a new item waits a quarter period on average.

    A quiet spell longer than the estimate counts as evidence too, so a feed that stopped changing
    drifts towards the upper bound instead of being polled at its old pace forever.
    """
    low, base, high = bounds
    if changed:
        if state.last_change:
            gap = now - state.last_change
            state.change_period = (state.change_period + gap) / 2 if state.change_period else gap
        state.last_change = now
    if not state.change_period:
        return base
    estimate = max(state.change_period, now - state.last_change)
    return min(max(estimate / 2, low), high)


def failure_delay(failures: int, interval: float, retry_after: float | None) -> float:
    """Seconds until the next try: the server's Retry-After when it gave one, else exponential back-off."""
    if retry_after is not None:
        return min(max(retry_after, interval), MAX_RETRY_AFTER)
    return max(interval, min(interval * 2 ** (failures - 1), MAX_BACKOFF))


class HostGate:
    """Politeness per host: at most ``concurrency`` requests at once, starts at least ``gap`` seconds apart."""

    def __init__(self, concurrency: int, gap: float) -> None:
        self.concurrency = concurrency
        self.gap = gap
        self._next_start: dict[str, float] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a semaphore belongs to the event loop it first waited on
            self._loop, self._slots = loop, {}
        semaphore = self._slots.setdefault(host, asyncio.Semaphore(self.concurrency))
        async with semaphore:
            now = loop.time()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + self.gap
            if start > now:
                await asyncio.sleep(start - now)
            yield


class Poller:
    def __init__(self, store: Store, settings: Settings, *, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, max_failures: int = MAX_FAILURES, host_concurrency: int = 2,
                 host_gap: float = 1.0, max_in_flight: int = 64) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_failures = max_failures
        self.max_in_flight = max_in_flight
        self.hosts = HostGate(host_concurrency, host_gap)
        # Clock time before which a host that answered 429/503 with Retry-After is left alone.
        self.held_until: dict[str, float] = {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Long enough for a fetch and an autodiscovery fetch at their time limits, with room to save.
        self.lease_ms = int((2 * TOTAL_TIMEOUT_FACTOR * settings.fetch_timeout + 30) * 1000)

    def client(self) -> httpx.AsyncClient:
        # httpcore scans every pooled connection on each request: a small pool beats a big one here.
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=16)
        return httpx.AsyncClient(limits=limits, **client_options(self.settings.fetch_timeout,
                                                                 self.settings.user_agent))

    def poll(self, feed: Feed) -> PollResult:
        """Poll one feed now, due or not, disabled or not (a success enables it again)."""

        async def once() -> PollResult:
            async with self.client() as client:
                return await self.poll_async(feed, client, force=True)

        return asyncio.run(once())

    async def poll_many(self, feeds: list[Feed], client: httpx.AsyncClient, force: bool = False
                        ) -> list[PollResult]:
        """Poll every feed that is due (all of them with ``force``), many at once."""
        limit = asyncio.Semaphore(self.max_in_flight)

        async def one(feed: Feed) -> PollResult:
            async with limit:
                return await self.poll_async(feed, client, force)

        return list(await asyncio.gather(*(one(feed) for feed in feeds)))

    async def poll_async(self, feed: Feed, client: httpx.AsyncClient, force: bool = False) -> PollResult:
        """Poll ``feed`` if it is due and no other poller holds it; its state is saved before the lease goes."""
        raw = self.store.lease_feed(feed.url, self.owner, self.lease_ms)
        if raw is None:
            return PollResult(feed, "busy: another poller is polling it", next_poll=self.clock() + BUSY_RECHECK)
        state = FeedState.from_hash(raw)
        polled = False
        try:
            now = self.clock()
            if not force and state.disabled:
                return PollResult(feed, f"disabled: {state.disabled}", next_poll=now + DISABLED_RECHECK)
            if not force and state.next_poll > now:
                return PollResult(feed, "not due", next_poll=state.next_poll)
            host = urlsplit(state.location or feed.url).hostname or ""
            if not force and self.held_until.get(host, 0.0) > now:
                return PollResult(feed, f"deferred: {host} asked to wait", next_poll=self.held_until[host])
            result = await self._poll_now(feed, state, client, now)
            polled = True
            return result
        finally:
            self.store.save_and_release_feed(feed.url, self.owner, state.to_hash() if polled else None)

    async def _poll_now(self, feed: Feed, state: FeedState, client: httpx.AsyncClient, now: float) -> PollResult:
        bounds = interval_bounds(feed, self.settings.poll_interval)
        state.interval = state.interval or bounds[1]
        state.last_attempt = now
        validators = {"If-None-Match": state.etag, "If-Modified-Since": state.last_modified}
        try:
            page = await self._get(state.location or feed.url, feed, client, {k: v for k, v in validators.items() if v})
            body_hash = hashlib.sha1(page.body).hexdigest()
            document: FeedDocument | None = None
            if page.status != 304 and body_hash != state.body_hash:
                document = parse_feed(page.body, feed.url, feed.name, feed.allow_private)
                if not document.is_feed:
                    page, document = await self._discover(feed, page, document, client)
                    body_hash = hashlib.sha1(page.body).hexdigest()
        except FetchError as exc:
            return self._failed(feed, state, exc, now)
        warning = None
        state.failures, state.disabled, state.last_success = 0, "", now
        if page.moved_to and page.moved_to != (state.location or feed.url):
            warning = f"feed moved to {page.moved_to}"
            log.warning("feed %s: %s", feed.url, warning)
            state.location = page.moved_to
        queued: list[Entry] = []
        if page.status == 304:
            state.last_status = "304 not modified"
        else:
            state.etag, state.last_modified = page.headers.get("etag", ""), page.headers.get("last-modified", "")
            if document is None:
                state.last_status = f"{page.status} same body"
            else:
                state.body_hash = body_hash
                if document.warning:
                    warning = f"malformed feed, its {len(document.entries)} entries still read: {document.warning}"
                    log.warning("feed %s: %s", feed.url, warning)
                queued = self._queue(feed, document.entries)
                updates = sum(entry.update for entry in queued)
                state.items_seen += len(queued) - updates
                state.updates_seen += updates
                state.last_status = f"{page.status} ok, {len(queued) - updates} new, {updates} updated"
        state.interval = adapt(state, bool(queued), now, bounds)
        state.next_poll = now + self._jittered(state.interval)
        return PollResult(feed, "not modified" if page.status == 304 else "ok", queued, warning, state.next_poll)

    async def _get(self, url: str, feed: Feed, client: httpx.AsyncClient, headers: dict[str, str]) -> Page:
        async with self.hosts.slot(urlsplit(url).hostname or ""):
            return await fetch_async(url, client, timeout=self.settings.fetch_timeout,
                                     max_bytes=self.settings.fetch_max_bytes, allow_private=feed.allow_private,
                                     headers=headers)

    async def _discover(self, feed: Feed, page: Page, document: FeedDocument, client: httpx.AsyncClient
                        ) -> tuple[Page, FeedDocument]:
        """A site's HTML page instead of a feed: read the first feed it announces, and poll that from now on."""
        if not document.alternates:
            raise FetchError(f"{page.final_url}: not a feed, and the page announces no RSS or Atom feed")
        url = document.alternates[0]
        found = await self._get(url, feed, client, {})
        parsed = parse_feed(found.body, feed.url, feed.name, feed.allow_private)
        if not parsed.is_feed:
            raise FetchError(f"{url}: announced as a feed by {page.final_url}, but it is not one")
        log.info("feed %s: discovered its feed at %s", feed.url, found.moved_to or url)
        return replace(found, moved_to=found.moved_to or url), parsed

    def _queue(self, feed: Feed, entries: list[Entry]) -> list[Entry]:
        """Queue the new and the edited entries in arrival order; an edit reuses the article's first id."""
        unique: dict[str, Entry] = {}
        for entry in entries:
            unique.setdefault(entry.article_id, entry)
        candidates = list(unique.values())
        sightings = self.store.observe_entries(feed.url, [(e.identities, e.article_id) for e in candidates])
        queued = []
        for entry, seen in zip(candidates, sightings, strict=True):
            if seen.new:
                queued.append(entry)
            elif seen.previous is not None and seen.previous != entry.fingerprint:
                queued.append(replace(entry, article_id=seen.article_id, update=True))
        for done, entry in enumerate(queued):
            entry.seq = self.store.next_sequence()
            try:
                enqueue_entry(self.store, entry, self.settings)
            except Exception:
                # Unclaim what was not queued, so the next poll finds it new again instead of losing it.
                for lost in queued[done:]:
                    if not lost.update:
                        self.store.forget_entry(lost.identities)
                raise
        # Fingerprints are saved only now: a crash before this re-queues an edit rather than missing it.
        self.store.save_fingerprints(feed.url, [(entry.article_id, entry.fingerprint) for entry, seen
                                                in zip(candidates, sightings, strict=True)
                                                if seen.previous != entry.fingerprint])
        return queued

    def _failed(self, feed: Feed, state: FeedState, exc: FetchError, now: float) -> PollResult:
        state.failures += 1
        state.last_status = f"error: {exc}"
        if exc.retry_after is not None:
            host = urlsplit(state.location or feed.url).hostname or ""
            self.held_until[host] = max(self.held_until.get(host, 0.0), now + min(exc.retry_after, MAX_RETRY_AFTER))
        delay = failure_delay(state.failures, state.interval, exc.retry_after)
        state.next_poll = now + (delay if exc.retry_after is not None else self._jittered(delay))
        if exc.status == 410:
            state.disabled = f"the server says the feed is gone for good (HTTP 410) at {state.location or feed.url}"
        elif state.failures >= self.max_failures:
            state.disabled = f"{state.failures} failures in a row, the last: {exc}"
        if state.disabled:
            log.error("feed %s disabled: %s", feed.url, state.disabled)
        else:
            log.warning("feed %s failed (%d in a row), next try in %.0fs: %s", feed.url, state.failures, delay, exc)
        return PollResult(feed, f"error: {exc}", next_poll=state.next_poll)

    def _jittered(self, seconds: float) -> float:
        return seconds * (1 + self.rng.uniform(-JITTER, JITTER))

    def run(self, feeds: list[Feed], stop: threading.Event) -> None:
        """Poll each feed when it is due until ``stop`` is set."""
        asyncio.run(self.run_async(feeds, stop))

    async def run_async(self, feeds: list[Feed], stop: threading.Event) -> None:
        due = [(0.0, index) for index in range(len(feeds))]
        running: set[asyncio.Task[float]] = set()

        def reschedule(task: asyncio.Task[float], index: int) -> None:
            running.discard(task)
            if not task.cancelled():
                heapq.heappush(due, (task.result(), index))

        async with self.client() as client:
            while not stop.is_set():
                now = self.clock()
                while due and due[0][0] <= now and len(running) < self.max_in_flight:
                    _, index = heapq.heappop(due)
                    task = asyncio.create_task(self._scheduled(feeds[index], client))
                    running.add(task)
                    task.add_done_callback(lambda done, index=index: reschedule(done, index))
                # Wake for the next due feed, a finished poll, or (at most a second later) a stop request.
                wait = min(1.0, max(0.01, due[0][0] - now)) if due else 1.0
                if running:
                    await asyncio.wait(running, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(wait)
            if running:
                await asyncio.wait(running)

    async def _scheduled(self, feed: Feed, client: httpx.AsyncClient) -> float:
        """Poll a feed from the schedule; returns when it is due next."""
        try:
            result = await self.poll_async(feed, client)
        except Exception:
            log.exception("feed %s: poll failed, retrying in %.0fs", feed.url, ERROR_RECHECK)
            return self.clock() + ERROR_RECHECK
        if result.new:
            log.info("feed %s: %d entries queued", feed.url, len(result.new))
        return result.next_poll
