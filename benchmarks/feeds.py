"""Poller benchmark: a real feed replayed through the real poller, and 2,000 feeds polled by one process.

1. NYT World, 400 recorded polls (../shared/data/nyt-world-feed.jsonl.gz), served on loopback as
   a well-behaved server would (ETag, Last-Modified, gzip, 304): items found against the GUIDs in the
   snapshots, duplicates queued, requests made and bytes against an unconditional, uncompressed poller.
   Once at the recorded times, once on the poller's own adaptive schedule over the same nine days.
2. 2,000 feeds on 1,000 loopback hosts (a server in a child process, 50 ms to answer), all answering
   304 on the measured pass: feeds polled per second, asynchronous against one feed at a time.

Run: .venv/bin/python benchmarks/feeds.py
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import multiprocessing
import sys
import tempfile
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
from rq import Queue
from rq.job import Job

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import Feed, Settings
from workers.poller import Poller
from workers.server import EmbeddedServer
from workers.store import Store

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nyt-world-feed.jsonl.gz"
FEEDS = 2000
HOSTS = 1000


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Snapshots:
    """The recorded feed as served at the clock's time: the last snapshot taken at or before it."""

    def __init__(self, rows: list[dict[str, str]], clock: Clock) -> None:
        self.times = [datetime.fromisoformat(row["polled_at"]).timestamp() for row in rows]
        self.bodies = [row["xml"].encode() for row in rows]
        self.compressed = [gzip.compress(body) for body in self.bodies]
        self.clock = clock
        self.requests = self.not_modified = self.wire_bytes = self.plain_bytes = self.saved_by_304 = 0

    def current(self) -> int:
        return max(i for i, t in enumerate(self.times) if t <= self.clock.now)

    def serve(self) -> ThreadingHTTPServer:
        snapshots = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index = snapshots.current()
                body = snapshots.bodies[index]
                etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
                snapshots.requests += 1
                snapshots.plain_bytes += len(body)
                if self.headers.get("If-None-Match") == etag:
                    snapshots.not_modified += 1
                    snapshots.saved_by_304 += len(body)
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = snapshots.compressed[index]
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", format_datetime(
                    datetime.fromtimestamp(snapshots.times[index]).astimezone(), usegmt=False))
                if body is snapshots.compressed[index]:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                snapshots.wire_bytes += len(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def settings(folder: Path) -> Settings:
    return Settings(config_dir=folder, data_dir=folder, fetch_timeout=10.0)


def queued(store: Store) -> list[dict[str, object]]:
    queue = Queue(store.queue_name, connection=store.client)
    return [job.args[1] for job in Job.fetch_many(queue.job_ids, connection=store.client) if job is not None]


def replay_nyt(client: redis.Redis, folder: Path, adaptive: bool) -> None:
    with gzip.open(DATA, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    truth = {guid for row in rows for guid in _guids(row["xml"])}
    clock = Clock(datetime.fromisoformat(rows[0]["polled_at"]).timestamp())
    snapshots = Snapshots(rows, clock)
    server = snapshots.serve()
    store = Store(client, f"bench-nyt-{'adaptive' if adaptive else 'recorded'}-{int(time.time())}")
    poller = Poller(store, settings(folder), clock=clock, host_gap=0.0)
    feed = Feed(url=f"http://127.0.0.1:{server.server_address[1]}/World.xml", name="NYT World", interval=600,
                allow_private=True)
    started = time.perf_counter()
    if adaptive:
        intervals = []
        while clock.now <= snapshots.times[-1]:
            result = poller.poll(feed)
            intervals.append(result.next_poll - clock.now)
            clock.now = result.next_poll
    else:
        for moment in snapshots.times:
            clock.now = moment
            poller.poll(feed)
    elapsed = time.perf_counter() - started
    server.shutdown()
    server.server_close()
    jobs = queued(store)
    new = [job["guid"] for job in jobs if not job["update"]]
    updates = len(jobs) - len(new)
    label = "adaptive schedule" if adaptive else "recorded poll times"
    print(f"NYT World, {label}: {len(set(new) & truth)}/{len(truth)} GUIDs found, "
          f"{len(new) - len(set(new))} duplicates queued, {updates} edits queued as updates "
          f"({elapsed:.1f}s)")
    print(f"  requests {snapshots.requests} ({snapshots.not_modified} answered 304), bytes on the wire "
          f"{snapshots.wire_bytes:,} vs {snapshots.plain_bytes:,} unconditional and uncompressed "
          f"({snapshots.plain_bytes / max(1, snapshots.wire_bytes):.1f}x fewer; conditional GET saved "
          f"{snapshots.saved_by_304:,}, gzip the rest)")
    if adaptive:
        ordered = sorted(intervals)
        print(f"  intervals chosen: median {ordered[len(ordered) // 2] / 60:.0f} min, "
              f"min {ordered[0] / 60:.0f}, max {ordered[-1] / 60:.0f} (feed published every "
              f"{(snapshots.times[-1] - snapshots.times[0]) / len(rows) / 60:.0f} min in the recording)")
    store.expire_all(600)


def _guids(xml: str) -> list[str]:
    import re

    return re.findall(r"<guid[^>]*>([^<]+)</guid>", xml)


# ---- 2,000 feeds ------------------------------------------------------------------------------------

SMALL_FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>'
              + b"".join(f"<item><title>Story {n}</title><link>https://news.example/{n}</link>"
                         f"<guid>https://news.example/{n}</guid></item>".encode() for n in range(3))
              + b"</channel></rss>")
HEAD_200 = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: \"v1\"\r\n"
            b"Content-Length: %d\r\n\r\n" % len(SMALL_FEED)) + SMALL_FEED
HEAD_304 = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'
# Loopback answers in microseconds; real servers take tens of milliseconds, which is what async overlaps.
LATENCY = 0.05


def host(index: int) -> str:
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def serve_many(port: int, ready: multiprocessing.synchronize.Event) -> None:
    """A minimal HTTP/1.1 server on HOSTS loopback addresses: 304 to a matching If-None-Match, else 200."""

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                answer = HEAD_304 if b'if-none-match: "v1"' in head.lower() else HEAD_200
                asyncio.get_running_loop().call_later(LATENCY, self.transport.write, answer)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Protocol, host=[host(i) for i in range(HOSTS)], port=port, backlog=1024)
        ready.set()
        await asyncio.Future()

    asyncio.run(main())


async def timed(poller: Poller, feeds: list[Feed], sequential: bool) -> float:
    async with poller.client() as client:
        started = time.perf_counter()
        if sequential:
            for feed in feeds:
                await poller.poll_async(feed, client)
        else:
            results = await poller.poll_many(feeds, client)
            assert all(r.status == "not modified" for r in results), {r.status for r in results}
        return time.perf_counter() - started


def many_feeds(client: redis.Redis, folder: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    ready = multiprocessing.get_context("spawn").Event()
    child = multiprocessing.get_context("spawn").Process(target=serve_many, args=(port, ready), daemon=True)
    child.start()
    ready.wait(30)
    try:
        feeds = [Feed(url=f"http://{host(i % HOSTS)}:{port}/feed/{i}.xml", interval=600, allow_private=True)
                 for i in range(FEEDS)]
        clock = Clock(time.time())
        store = Store(client, f"bench-many-{int(time.time())}")
        poller = Poller(store, settings(folder), clock=clock)
        asyncio.run(timed(poller, feeds, sequential=True))  # first pass: 200s, 3 items each, deduped
        clock.now += 3600
        elapsed = asyncio.run(timed(poller, feeds, sequential=False))
        clock.now += 3600
        sample = feeds[:200]
        sequential = asyncio.run(timed(poller, sample, sequential=True)) / len(sample) * len(feeds)
        print(f"{FEEDS} feeds on {HOSTS} hosts answering 304 after {LATENCY * 1000:.0f} ms: "
              f"{FEEDS / elapsed:.0f} feeds/s on one poller process "
              f"({elapsed:.1f}s a pass; one feed at a time: {FEEDS / sequential:.0f} feeds/s, "
              f"{sequential / elapsed:.1f}x slower); {len(queued(store))} articles queued from {FEEDS * 3} items")
        store.expire_all(600)
    finally:
        child.terminate()
        child.join()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as temporary:
        folder = Path(temporary)
        server = EmbeddedServer(folder / "valkey")
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            replay_nyt(client, folder, adaptive=False)
            replay_nyt(client, folder, adaptive=True)
            many_feeds(client, folder)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
