"""A silent edit: the same article comes back with a changed figure, and the ledger says what changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from pipeline.config import Feed, load_settings
from tests.conftest import PROJECT
from tests.test_fleet import wait_for
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
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/feed.xml":
                    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Oslo News</title><item>'
                            f"<title>{site.title}</title><link>{site.base}/ferry.html</link><guid>ferry-1</guid>"
                            f"<pubDate>{site.date}</pubDate></item></channel></rss>").encode()
                    kind = "application/rss+xml"
                else:
                    body = f"<html><head><title>{site.title}</title></head><body><article><p>{site.text}</p>" \
                           f"</article></body></html>".encode()
                    kind = "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def edit(self) -> None:
        self.text, self.title, self.date = EDITED, "New ferry line for Oslo (updated)", "Mon, 03 Nov 2025 12:00:00 GMT"


@pytest.fixture
def site() -> Iterator[EditableSite]:
    site = EditableSite()
    yield site
    site.server.shutdown()
    site.server.server_close()


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
