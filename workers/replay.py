"""Replaying a corpus as a live stream: a loopback site with an Atom feed, the real poller, real workers.

Each replay runs in a namespace of its own, so it never touches live state, and its keys age out a
day after it ends.
"""

from __future__ import annotations

import html
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import escape

from pipeline.config import Feed, Settings
from pipeline.corpus import Document
from pipeline.models import Alert
from workers.connection import Endpoint
from workers.loopback import LoopbackSite, Responder, Response
from workers.poller import Poller
from workers.store import Store

REPLAY_KEY_TTL = 24 * 3600
# Arrival times are fixed, not the wall clock, so two replays of a corpus are the same stream.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def atom_feed(documents: list[Document], base_url: str) -> str:
    """An Atom feed listing the documents newest first, as real feeds do."""
    entries = []
    for index, doc in reversed(list(enumerate(documents))):
        updated = (_EPOCH + timedelta(minutes=index)).isoformat()
        published = f"<published>{doc.published}T00:00:00Z</published>" if doc.published else ""
        entries.append(
            f"<entry><id>{escape(doc.id)}</id><title>{escape(doc.title)}</title>"
            f'<link rel="alternate" href="{base_url}/articles/{escape(doc.id)}.html"/>'
            f"<updated>{updated}</updated>{published}"
            f"<source><title>{escape(doc.id)}</title></source></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>storywatch replay</title><id>{base_url}/feed.xml</id>"
        f"<updated>{_EPOCH.isoformat()}</updated>{''.join(entries)}</feed>"
    )


def article_page(doc: Document) -> str:
    """The document as a plain article page whose metadata trafilatura can read."""
    title = html.escape(doc.title)
    date = f'<meta property="article:published_time" content="{doc.published}">' if doc.published else ""
    paragraphs = "\n".join(f"<p>{html.escape(line.strip())}</p>" for line in doc.text.splitlines() if line.strip())
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="og:title" content="{title}">{date}</head>'
        f"<body><article>\n{paragraphs}\n</article></body></html>"
    )


FEED_PATH = "/feed.xml"


def corpus_responder(documents: list[Document], listed: Callable[[], list[Document]] | None = None) -> Responder:
    """The corpus as a site: ``/feed.xml`` and ``/articles/{id}.html``, links built from the Host header.

    ``listed`` gives the documents the feed shows now (default: all), for a stream that grows.
    """
    pages = {f"/articles/{doc.id}.html": article_page(doc).encode() for doc in documents}

    def respond(path: str, headers: dict[str, str]) -> Response | None:
        if path == FEED_PATH:
            base = f"http://{headers.get('host', '127.0.0.1')}"
            shown = listed() if listed is not None else documents
            return 200, {"Content-Type": "application/atom+xml"}, atom_feed(shown, base).encode()
        page = pages.get(path)
        return (200, {"Content-Type": "text/html; charset=utf-8"}, page) if page is not None else None

    return respond


def start_fleet(endpoint: Endpoint, settings: Settings, namespace: str, workers: int, log_path: Path
                ) -> subprocess.Popen[bytes]:
    """`storywatch worker` as a child process group, its log in ``log_path``."""
    env = dict(os.environ, REDIS_URL=endpoint.url)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "--namespace", namespace, "--config", str(settings.config_dir),
             "worker", "-n", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )


def fleet_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the fleet's group is left: workers, their schedulers, respawns."""
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_fleet(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Warm shutdown: SIGTERM, let running jobs finish, then insist."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class ReplayError(Exception):
    pass


class Progress:
    """'n/total integrated' on stderr: redrawn in place on a terminal, a line per change elsewhere."""

    def __init__(self, out: TextIO | None, label: str) -> None:
        self.out = out
        self.label = label
        self.shown = -1
        self.tty = bool(out is not None and out.isatty())

    def clear(self) -> None:
        if self.out is not None and self.tty and self.shown >= 0:
            self.out.write("\r\033[K")
            self.out.flush()
            self.shown = -1

    def update(self, done: int, total: int) -> None:
        if self.out is None or done == self.shown:
            return
        self.shown = done
        line = f"{self.label}: {done}/{total} articles integrated"
        self.out.write(f"\r\033[K{line}" if self.tty else f"{line}\n")
        self.out.flush()

    def finish(self) -> None:
        if self.out is not None and self.tty:
            self.out.write("\n")


def replay(documents: list[Document], endpoint: Endpoint, settings: Settings, *, workers: int,
           emit: Callable[[Alert], None], progress: TextIO | None = None, namespace: str | None = None,
           timeout: float = 900.0) -> Store:
    """Stream ``documents`` through poller and workers; ``emit`` each alert; return once drained."""
    store = Store(endpoint.client(patient=True), namespace or f"replay-{uuid.uuid4().hex[:8]}")
    log_path = settings.data_dir.parent / "logs" / f"{store.namespace}.log"
    with LoopbackSite(corpus_responder(documents)) as site:
        fleet = start_fleet(endpoint, settings, store.namespace, workers, log_path)
        try:
            Poller(store, settings).poll(Feed(url=site.base_url + FEED_PATH, name="replay", allow_private=True))
            total = store.last_sequence()
            last_id = "0-0"
            deadline = time.monotonic() + timeout
            shown = Progress(progress, f"replay {store.namespace}")
            while True:
                for entry_id, alert in store.wait_alerts(last_id, block_ms=500):
                    last_id = entry_id
                    shown.clear()
                    emit(alert)
                done = store.next_to_integrate() - 1
                shown.update(done, total)
                if done >= total and not store.wait_alerts(last_id, block_ms=1):
                    break
                if fleet.poll() is not None:
                    raise ReplayError(f"the worker fleet exited with code {fleet.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise ReplayError(f"replay not drained after {timeout:.0f}s ({done}/{total}); see {log_path}")
            shown.finish()
        finally:
            stop_fleet(fleet)
            store.expire_all(REPLAY_KEY_TTL)
    return store
