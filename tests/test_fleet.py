"""The worker fleet as real processes: it rides out a server restart and stops warmly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Worker

from pipeline.config import Feed, load_settings
from pipeline.corpus import Document
from tests.conftest import PROJECT
from workers.loopback import LoopbackSite
from workers.poller import Poller
from workers.replay import FEED_PATH, corpus_responder
from workers.server import EmbeddedServer
from workers.store import Store

pytestmark = pytest.mark.integration


def wait_for(condition, timeout: float = 120.0, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)


def test_fleet_survives_server_restart_and_stops_warmly(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "server")
    server.start()
    namespace = "fleettest"
    fleet = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "--namespace", namespace, "worker", "-n", "1"],
        env={**os.environ, "REDIS_URL": server.url}, cwd=PROJECT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = redis.Redis.from_url(server.url)
        store = Store(client, namespace)
        wait_for(lambda: any(store.queue_name in w.queue_names() for w in Worker.all(connection=client)))

        server.stop()
        time.sleep(1.0)
        server.start()
        client = redis.Redis.from_url(server.url)
        store = Store(client, namespace)
        assert fleet.poll() is None, "the worker pool died with the server"

        document = Document(id="restart_1", published="2025-11-03", path=Path("restart_1.txt"),
                            text="Officials in Oslo said on Monday that the new ferry line will carry 400 "
                                 "passengers a day between the two harbours starting in March.")
        with LoopbackSite(corpus_responder([document])) as site:
            Poller(store, load_settings()).poll(Feed(url=site.base_url + FEED_PATH, allow_private=True))
            wait_for(lambda: store.story_of("restart_1") is not None)
        [(_, alert)] = store.alerts()
        assert alert.type == "story.created" and alert.article["id"] == "restart_1"
    finally:
        fleet.send_signal(signal.SIGTERM)
        assert fleet.wait(timeout=60) == 0
        server.stop()
