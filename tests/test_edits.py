"""A silent edit: the same article comes back with a changed figure, and the ledger says what changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from pipeline.config import Feed, load_settings
from tests.conftest import PROJECT
from tests.test_fleet import wait_for
from workers.loopback import LoopbackSite, Response
from workers.poller import Poller
from workers.server import EmbeddedServer
from workers.store import Store

pytestmark = pytest.mark.integration

FIRST = ("Officials in Oslo said on Monday that the new ferry line will carry 400 passengers a day "
         "between the two harbours. The service starts in March, the transport ministry said.")
EDITED = FIRST.replace("400 passengers", "250 passengers")


class EditableSite:
    """One article and an RSS feed naming it; ``edit`` changes both, as a newsroom's silent edit does."""

    def __init__(self) -> None:
        self.text, self.title, self.date = FIRST, "New ferry line for Oslo", "Mon, 03 Nov 2025 10:00:00 GMT"
        self.loopback = LoopbackSite(self.respond)
        self.base = self.loopback.base_url

    def respond(self, path: str, headers: dict[str, str]) -> Response:
        if path == "/feed.xml":
            return 200, {"Content-Type": "application/rss+xml"}, (
                f'<?xml version="1.0"?><rss version="2.0"><channel><title>Oslo News</title><item>'
                f"<title>{self.title}</title><link>{self.base}/ferry.html</link><guid>ferry-1</guid>"
                f"<pubDate>{self.date}</pubDate></item></channel></rss>").encode()
        return 200, {"Content-Type": "text/html; charset=utf-8"}, (
            f"<html><head><title>{self.title}</title></head><body><article><p>{self.text}</p>"
            f"</article></body></html>").encode()

    def edit(self) -> None:
        self.text, self.title, self.date = EDITED, "New ferry line for Oslo (updated)", "Mon, 03 Nov 2025 12:00:00 GMT"


@pytest.fixture
def site() -> Iterator[EditableSite]:
    site = EditableSite()
    yield site
    site.loopback.close()


def test_edited_article_reports_what_changed(embedded: EmbeddedServer, site: EditableSite) -> None:
    store = Store(redis.Redis.from_url(embedded.url), "edits")
    fleet = subprocess.Popen([sys.executable, "-m", "workers.cli", "--namespace", "edits", "worker", "-n", "1"],
                             env={**os.environ, "REDIS_URL": embedded.url}, cwd=PROJECT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        poller = Poller(store, load_settings())
        feed = Feed(url=f"{site.base}/feed.xml", name="Oslo News", allow_private=True)
        poller.poll(feed)
        wait_for(lambda: len(store.alerts()) == 1)
        site.edit()
        [entry] = poller.poll(feed).new
        assert entry.update and entry.article_id == "ferry-1"
        wait_for(lambda: len(store.alerts()) == 2)
        first, edited = (alert for _, alert in store.alerts())
        assert first.type == "story.created" and edited.type == "story.updated"
        assert edited.article["id"] == "ferry-1" and edited.article["revision"] and edited.id != first.id
        [conflict] = edited.contradictions
        assert conflict["kind"] == "number"
        assert "250 passengers" in conflict["text"] and "400 passengers" in conflict["conflicts_with"]["text"]
        assert conflict["conflicts_with"]["article_id"] == "ferry-1"
        # The same edit seen again by a second poll is not integrated twice.
        assert poller.poll(feed).new == []
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(timeout=60)
