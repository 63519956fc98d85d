"""The poller against a real HTTP server on loopback and the embedded Valkey; time is a fake clock."""

from __future__ import annotations

import asyncio
import gzip
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job

from pipeline.config import Feed, Settings
from workers.loopback import LoopbackSite, Response
from workers.poller import FeedState, Poller, PollResult, adapt, failure_delay
from workers.server import EmbeddedServer
from workers.store import Store

Route = Callable[[dict[str, str]], Response]


DATES = {"a": "Sat, 01 Nov 2025 10:00:00 GMT", "b": "Sun, 02 Nov 2025 10:00:00 GMT",
         "c": "Mon, 03 Nov 2025 10:00:00 GMT"}


def rss(*items: tuple[str, str, str], extra: str = "") -> bytes:
    """An RSS document of (guid, link, title) items, newest first as feeds list them."""
    body = "".join(f"<item><title>{title}</title><link>{link}</link>"
                   + (f"<guid>{guid}</guid>" if guid else "")
                   + f"<pubDate>{DATES.get(link.split('?')[0][-1], 'Sun, 09 Nov 2025 10:00:00 GMT')}</pubDate>"
                   + f"{extra}</item>"
                   for guid, link, title in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def static(body: bytes, etag: str | None = None, kind: str = "application/rss+xml") -> Route:
    """A feed that answers 304 to its own ETag, as a well-behaved server does."""

    def route(headers: dict[str, str]) -> Response:
        if etag and headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": kind, **({"ETag": etag} if etag else {})}, body

    return route


class Site:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.loopback = LoopbackSite(self.respond)
        self.base = self.loopback.base_url

    def respond(self, path: str, headers: dict[str, str]) -> Response | None:
        self.requests.append((path, headers))
        route = self.routes.get(path)
        return route(headers) if route else None

    def feed(self, path: str, **kwargs: object) -> Feed:
        return Feed(url=self.base + path, allow_private=True, interval=600, **kwargs)  # type: ignore[arg-type]

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[Site]:
    site = Site()
    yield site
    site.loopback.close()


@pytest.fixture
def site(server: Site) -> Site:
    server.routes.clear()
    server.requests.clear()
    return server


@pytest.fixture
def store(embedded: EmbeddedServer) -> Store:
    return Store(redis.Redis.from_url(embedded.url), f"test-poller-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def poller(store: Store, clock: Clock, tmp_path: Path) -> Poller:
    settings = Settings(config_dir=tmp_path, data_dir=tmp_path, fetch_timeout=5.0)
    return Poller(store, settings, clock=clock, rng=random.Random(7), max_failures=3, host_gap=0.0)


def queued(store: Store) -> list[dict[str, object]]:
    queue = Queue(store.queue_name, connection=store.client)
    return [Job.fetch(job_id, connection=store.client).args[1] for job_id in queue.job_ids]


def state(store: Store, feed: Feed) -> FeedState:
    return FeedState.from_hash(store.feed_state(feed.url))


def poll_due(poller: Poller, feeds: list[Feed]) -> list[PollResult]:
    """What the scheduler does: poll only feeds that are due, not held off, and free of other pollers."""

    async def run() -> list[PollResult]:
        async with poller.client() as client:
            return await poller.poll_many(feeds, client)

    return asyncio.run(run())


A = ("https://news.example/a", "https://news.example/a", "First")
B = ("https://news.example/b", "https://news.example/b", "Second")
C = ("https://news.example/c", "https://news.example/c", "Third")


def test_conditional_get_304_and_changing_etag(site: Site, store: Store, poller: Poller, clock: Clock) -> None:
    feed = site.feed("/feed")
    site.routes["/feed"] = static(rss(B, A), etag='"v1"')
    first = poller.poll(feed)
    assert first.status == "ok" and [e.title for e in first.new] == ["First", "Second"]
    assert [e.seq for e in first.new] == [1, 2]
    clock.now += 600
    assert poller.poll(feed).status == "not modified"
    assert site.requests[-1][1]["if-none-match"] == '"v1"'
    site.routes["/feed"] = static(rss(C, B, A), etag='"v2"')
    clock.now += 600
    third = poller.poll(feed)
    assert [e.title for e in third.new] == ["Third"]
    assert [item["title"] for item in queued(store)] == ["First", "Second", "Third"]
    saved = state(store, feed)
    assert saved.etag == '"v2"' and saved.items_seen == 3 and saved.failures == 0
    assert saved.last_status == "200 ok, 1 new, 0 updated"


def test_broken_validators_fall_back_to_the_body_hash(site: Site, store: Store, poller: Poller) -> None:
    feed = site.feed("/feed")
    tags = iter(range(100))
    site.routes["/feed"] = lambda headers: (200, {"ETag": f'"{next(tags)}"'}, rss(A))
    assert len(poller.poll(feed).new) == 1
    again = poller.poll(feed)
    assert again.status == "ok" and again.new == []
    assert state(store, feed).last_status == "200 same body"
    assert len(queued(store)) == 1


def test_429_retry_after_holds_the_feed_and_its_host(site: Site, store: Store, poller: Poller,
                                                      clock: Clock) -> None:
    feed, sibling = site.feed("/busy"), site.feed("/other")
    site.routes["/busy"] = lambda headers: (429, {"Retry-After": "7200"}, b"slow down")
    site.routes["/other"] = static(rss(A))
    result = poller.poll(feed)
    assert result.status.startswith("error") and "HTTP 429" in result.status
    assert result.next_poll == clock.now + 7200  # the server's word, not jittered
    [deferred] = poll_due(poller, [sibling])
    assert deferred.status.startswith("deferred") and deferred.next_poll == clock.now + 7200
    assert "/other" not in site.paths()
    clock.now += 7201
    assert [r.status.split(":")[0] for r in poll_due(poller, [feed, sibling])] == ["error", "ok"]


def test_failures_back_off_then_disable_with_the_reason(site: Site, store: Store, poller: Poller,
                                                        clock: Clock) -> None:
    feed = site.feed("/broken")
    site.routes["/broken"] = lambda headers: (500, {}, b"oops")
    delays = []
    for _ in range(3):
        result = poller.poll(feed)
        delays.append(result.next_poll - clock.now)
    assert 540 <= delays[0] <= 660 and 1080 <= delays[1] <= 1320  # doubled, within the jitter
    saved = state(store, feed)
    assert saved.failures == 3
    assert saved.disabled == f"3 failures in a row, the last: {site.base}/broken: HTTP 500"
    clock.now += 10 ** 6
    [skipped] = poll_due(poller, [feed])
    assert skipped.status.startswith("disabled: 3 failures")
    assert site.paths().count("/broken") == 3
    site.routes["/broken"] = static(rss(A))
    assert poller.poll(feed).status == "ok" and state(store, feed).disabled == ""


def test_permanent_redirect_moves_the_feed(site: Site, store: Store, poller: Poller, clock: Clock) -> None:
    feed = site.feed("/old")
    site.routes["/old"] = lambda headers: (301, {"Location": "/new"}, b"")
    site.routes["/new"] = static(rss(A), etag='"n"')
    result = poller.poll(feed)
    assert len(result.new) == 1 and result.warning == f"feed moved to {site.base}/new"
    assert state(store, feed).location == f"{site.base}/new"
    clock.now += 600
    assert poller.poll(feed).status == "not modified"
    assert site.paths() == ["/old", "/new", "/new"]


def test_temporary_redirect_keeps_the_address(site: Site, store: Store, poller: Poller) -> None:
    feed = site.feed("/tmp")
    site.routes["/tmp"] = lambda headers: (302, {"Location": "/new"}, b"")
    site.routes["/new"] = static(rss(A))
    assert len(poller.poll(feed).new) == 1
    assert state(store, feed).location == ""


def test_gzip_body(site: Site, store: Store, poller: Poller) -> None:
    body = rss(B, A)
    site.routes["/gz"] = lambda headers: (200, {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
                                          gzip.compress(body))
    assert len(poller.poll(site.feed("/gz")).new) == 2
    assert "gzip" in site.requests[-1][1]["accept-encoding"]


def test_malformed_feed_still_yields_entries(site: Site, store: Store, poller: Poller) -> None:
    site.routes["/bozo"] = static(rss(B, A).replace(b"</channel></rss>", b"<item><title>&bogus;</title>"))
    result = poller.poll(site.feed("/bozo"))
    assert len(result.new) == 2 and result.warning and result.warning.startswith("malformed feed")


def test_html_page_leads_to_its_feed(site: Site, store: Store, poller: Poller) -> None:
    feed = site.feed("/")
    site.routes["/"] = static(b'<!doctype html><html><head><link rel="stylesheet" href="/s.css">'
                              b'<link rel="alternate" type="application/atom+xml" href="/atom.xml" title="x">'
                              b"</head><body><p>Welcome</p></body></html>", kind="text/html; charset=utf-8")
    site.routes["/atom.xml"] = static(b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry>'
                                      b"<id>urn:1</id><title>Atomic</title><link href='https://news.example/1'/>"
                                      b"<updated>2025-11-01T00:00:00Z</updated></entry></feed>",
                                      kind="application/atom+xml")
    assert [e.title for e in poller.poll(feed).new] == ["Atomic"]
    assert state(store, feed).location == f"{site.base}/atom.xml"
    site.routes["/nofeed"] = static(b"<html><body>no feed here</body></html>", kind="text/html")
    assert "announces no RSS or Atom feed" in poller.poll(site.feed("/nofeed")).status


def test_duplicates_across_feeds_and_tracking_parameters(site: Site, store: Store, poller: Poller) -> None:
    site.routes["/one"] = static(rss(B, A))
    # The same story under the same GUID, and another linked with tracking parameters and no GUID.
    site.routes["/two"] = static(rss(B, ("", "https://NEWS.example/a?utm_source=rss&smid=tw#x", "First (wire)")))
    assert len(poller.poll(site.feed("/one")).new) == 2
    assert poller.poll(site.feed("/two")).new == []
    assert [item["title"] for item in queued(store)] == ["First", "Second"]


def test_edited_article_is_queued_again_as_an_update(site: Site, store: Store, poller: Poller) -> None:
    feed = site.feed("/feed")
    site.routes["/feed"] = static(rss(B, A))
    poller.poll(feed)
    site.routes["/feed"] = static(rss(B, ("https://news.example/a", "https://news.example/a", "First, revised")))
    [edit] = poller.poll(feed).new
    assert edit.update and edit.title == "First, revised" and edit.seq == 3
    jobs = queued(store)
    assert jobs[0]["article_id"] == jobs[2]["article_id"] and jobs[2]["update"] is True
    assert poller.poll(feed).new == []  # an unchanged body again: nothing more
    assert state(store, feed).updates_seen == 1


def test_other_feeds_wording_is_not_an_edit(site: Site, store: Store, poller: Poller) -> None:
    site.routes["/one"] = static(rss(A, extra="<description>Their words</description>"))
    site.routes["/two"] = static(rss(A, extra="<description>Our words</description>"))
    for _ in range(2):
        for path in ("/one", "/two"):
            poller.poll(site.feed(path))
    assert len(queued(store)) == 1


def test_a_feed_is_polled_once_per_period_across_pollers(site: Site, store: Store, poller: Poller,
                                                         clock: Clock, tmp_path: Path) -> None:
    feed = site.feed("/feed")
    site.routes["/feed"] = static(rss(A))
    other = Poller(store, poller.settings, clock=clock, host_gap=0.0)
    assert store.lease_feed(feed.url, other.owner, 60_000) is not None
    assert poll_due(poller, [feed])[0].status.startswith("busy")
    store.save_and_release_feed(feed.url, other.owner, None)
    first = poll_due(poller, [feed])[0]
    assert first.status == "ok"
    [second] = poll_due(other, [feed])
    assert second.status == "not due" and second.next_poll == first.next_poll
    assert site.paths() == ["/feed"]


def test_interval_follows_how_often_the_feed_changes() -> None:
    bounds = (60.0, 600.0, 4800.0)
    state = FeedState()
    t = 1_700_000_000.0
    assert adapt(state, True, t, bounds) == 600.0  # one change tells nothing yet
    assert adapt(state, True, t + 400, bounds) == 200.0  # changes every 400 s: poll every 200 s
    assert adapt(state, False, t + 600, bounds) == 200.0
    assert adapt(state, False, t + 4400, bounds) == 2000.0  # quiet for 4000 s: slow down
    assert adapt(state, False, t + 40000, bounds) == 4800.0  # never above the upper bound
    assert adapt(state, True, t + 40100, bounds) == 4800.0  # the long quiet spell weighs in the estimate
    assert failure_delay(3, 600.0, None) == 2400.0
    assert failure_delay(30, 600.0, None) == 6 * 3600.0
    assert failure_delay(1, 600.0, 30.0) == 600.0
