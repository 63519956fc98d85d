"""Faults with real processes: a worker SIGKILLed mid-job, a server SIGKILLed, a dead sequence number.

The fleet test runs two worker processes over one story's articles and a few broken pages, kills
the worker fetching one article, and checks that the article still lands once and that the ledger
and alerts equal those of plain sequential processing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker

from pipeline.config import Feed, load_settings
from pipeline.corpus import Document, read_corpus
from pipeline.feeds import parse_feed
from pipeline.fetch import fetch
from pipeline.integrate import integrate
from pipeline.models import Ledger
from pipeline.stories import StoryIndex
from tests.conftest import PROJECT, run_cli
from workers.jobs import analyse_entry
from workers.loopback import LoopbackSite, Response
from workers.poller import Poller
from workers.replay import corpus_responder, fleet_alive
from workers.server import EmbeddedServer
from workers.store import Store
from workers.watchdog import Watchdog

pytestmark = pytest.mark.integration

HOSTILE = {"empty": (b"<html><body></body></html>", "no article text"),
           "binary": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "binary content")}


def wait_for(condition: Callable[[], bool], timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


class Site:
    """The articles as a feed on loopback; fetching article ``gated`` waits until `release`."""

    def __init__(self, documents: list[Document], gated: str) -> None:
        self.requested, self.released = threading.Event(), threading.Event()
        self.gated = gated
        self.corpus = corpus_responder(documents)
        self.loopback = LoopbackSite(self.respond)
        self.base_url = self.loopback.base_url

    def respond(self, path: str, headers: dict[str, str]) -> Response | None:
        name = path.removeprefix("/articles/").removesuffix(".html")
        if name == self.gated and not self.released.is_set():
            self.requested.set()
            self.released.wait(120)
            return None  # the worker that asked is dead by now
        if name in HOSTILE:
            return 200, {"Content-Type": "text/html"}, HOSTILE[name][0]
        return self.corpus(path, headers)

    def close(self) -> None:
        self.released.set()
        self.loopback.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config without watched stories, whose failed articles are retried after a second."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "storywatch.toml").write_text("[workers]\nretry_intervals = [1]\njob_timeout = 120\n")
    return folder


@pytest.fixture
def documents() -> list[Document]:
    seeds = read_corpus(PROJECT / "seeds")[:3]
    ferries = [Document(id=f"ferry_{i}", published="2025-11-03", path=Path(f"ferry_{i}.txt"), text=text) for i, text in
               enumerate(["Officials in Oslo said on Monday that the new ferry line will carry 400 passengers a day "
                          "between the two harbours starting in March.",
                          "The Oslo ferry line announced on Monday will carry 450 passengers a day between the "
                          "harbours from March, the city transport office said.",
                          "Norway's transport minister Jon Ivar Nygard said on Tuesday that the Oslo harbour ferry "
                          "will cost 120 million kroner and start sailing in April."])]
    hostile = [Document(id=name, published=None, path=Path(name), text=f"{name} page of the test stream")
               for name in HOSTILE]
    return [seeds[0], ferries[0], hostile[0], seeds[1], ferries[1], hostile[1], seeds[2], ferries[2]]


def sequential(site: Site, config: Path) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """The facts per story and the alert ids of processing the feed one article at a time, in process."""
    settings = load_settings(config)
    entries = parse_feed(fetch(f"{site.base_url}/feed.xml", allow_private=True).body, "", "", True).entries
    index, ledgers, alerts = StoryIndex([]), {}, []
    for entry in entries:
        if entry.article_id in HOSTILE:
            continue
        outcome = integrate(analyse_entry(entry, settings), index,
                            lambda story: ledgers.get(story) or Ledger(story_id=story), datetime.now(UTC))
        ledgers[outcome.story.id] = outcome.ledger
        for gone in outcome.absorbed:
            ledgers.pop(gone.id, None)
        alerts.append(outcome.alert.id)
    return {story: [(f.id, f.text) for f in ledger.facts] for story, ledger in ledgers.items()}, alerts


@pytest.fixture
def site(documents: list[Document]) -> Iterator[Site]:
    site = Site(documents, gated=documents[3].id)
    yield site
    site.close()


def test_killed_worker_job_lands_once_and_concurrent_ledger_is_sequential(
        embedded: EmbeddedServer, config_dir: Path, site: Site, documents: list[Document]) -> None:
    namespace = f"faults-{os.getpid()}"
    env = {"REDIS_URL": embedded.url}
    cli = ("--namespace", namespace, "--config", str(config_dir))
    fleet = subprocess.Popen([sys.executable, "-m", "workers.cli", *cli, "worker", "-n", "2"],
                             env={**os.environ, **env}, cwd=PROJECT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    client = redis.Redis.from_url(embedded.url)
    store = Store(client, namespace)
    try:
        Poller(store, load_settings(config_dir)).poll(Feed(url=f"{site.base_url}/feed.xml", allow_private=True))
        assert site.requested.wait(120), "no worker fetched the gated article"
        [victim] = [w for w in Worker.all(connection=client) if documents[3].id in (w.get_current_job_id() or "")]
        os.kill(victim.pid, signal.SIGKILL)
        site.released.set()
        wait_for(lambda: store.next_to_integrate() > store.last_sequence())

        good = [doc.id for doc in documents if doc.id not in HOSTILE]
        assert sorted(k.decode() for k in client.hkeys(store.key("articles"))) == sorted(good)
        alerts = [alert for _, alert in store.alerts()]
        assert sorted(alert.article["id"] for alert in alerts) == sorted(good), "one alert per article"
        facts, alert_ids = sequential(site, config_dir)
        assert {story.id: [(f.id, f.text) for f in store.ledger(story.id).facts] for story in store.stories()} == facts
        assert [alert.id for alert in alerts] == alert_ids

        listed = run_cli(*cli, "failed", "list", "--json", env=env)
        reasons = sorted(json.loads(line)["reason"] for line in listed.stdout.splitlines())
        assert len(reasons) == 2 and all(any(r in line for line in reasons) for _, r in HOSTILE.values())
        status = json.loads(run_cli(*cli, "status", "--json", env=env).stdout)
        assert status["integration"]["waiting"] == 0 and sum(status["failed"].values()) == 2
        assert len(status["workers"]) == 2 and status["stories"]["articles"] == len(good)

        # Retried by hand, the broken pages fail again at the end of the stream, which still flows.
        last = store.last_sequence()
        assert "requeued 2" in run_cli(*cli, "failed", "retry", env=env).stdout
        wait_for(lambda: store.last_sequence() == last + 2 and store.next_to_integrate() > last + 2
                 and Queue(store.queue_name, connection=client).failed_job_registry.count == 2)
        assert "purged 2" in run_cli(*cli, "failed", "purge", env=env).stdout
        assert "no failed jobs" in run_cli(*cli, "failed", "list", env=env).stdout
    finally:
        fleet.send_signal(signal.SIGTERM)
        assert fleet.wait(timeout=60) == 0
        store.expire_all(60)
    # Nothing of the fleet outlives it: not the killed worker's scheduler, not a respawned worker.
    wait_for(lambda: not fleet_alive(fleet), timeout=10)


def test_acknowledged_writes_survive_a_server_sigkill(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "server")
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        for batch in range(20):
            pipe = client.pipeline(transaction=False)
            for i in range(100):
                pipe.set(f"k{batch}:{i}", i)
            pipe.execute()
        pid = server.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: server.pid() is None, timeout=10)
        server.start()
        assert redis.Redis.from_url(server.url).dbsize() == 2000
    finally:
        server.stop()


def test_watchdog_skips_a_number_whose_job_is_gone(embedded: EmbeddedServer) -> None:
    client = redis.Redis.from_url(embedded.url)
    store = Store(client, f"watchdog-{os.getpid()}")
    queue = Queue(store.queue_name, connection=client)
    try:
        for _ in range(3):
            store.next_sequence()
        store.put_pending(3, {"skipped": "test", "article_id": "c"})
        watchdog = Watchdog(grace=0.0)
        # Sequence 1 has a queued job: it is waited for, however long.
        job = queue.enqueue("builtins.print", job_id=f"sw-{store.namespace}-a-1")
        assert not watchdog.check(store, queue) and not watchdog.check(store, queue)
        # Its worker died between popping it off the queue and marking it started: it is queued again.
        client.lrem(queue.key, 0, job.id)
        assert not watchdog.check(store, queue) and watchdog.check(store, queue)
        assert queue.get_job_ids() == [job.id] and store.next_to_integrate() == 1
        queue.empty()
        assert not watchdog.check(store, queue), "a first sighting only raises suspicion"
        assert watchdog.check(store, queue)
        # Sequence 2 belongs to a job retried by hand at the end of the stream, alive: waited for.
        assert store.claim_sequence("sw-job-b") == 4 and store.claim_sequence("sw-job-b") == 4
        assert store.next_to_integrate() == 2
        store.put_pending(2, {"skipped": "test", "article_id": "b"})
        queue.enqueue("builtins.print", job_id="sw-job-b")
        assert not watchdog.check(store, queue) and store.next_to_integrate() == 4
        assert not watchdog.check(store, queue), "sequence 4's owner is queued"
        # Once the stream passed its number, a job retried again takes a new one.
        store.put_pending(4, {"skipped": "test", "article_id": "b"})
        watchdog.check(store, queue)
        assert store.next_to_integrate() == 5 and store.claim_sequence("sw-job-b") == 5
    finally:
        queue.empty()
        store.expire_all(60)
