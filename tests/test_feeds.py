import contextlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.config import ConfigError, Feed, load_feeds
from pipeline.feeds import article_id_for, canonical_url, discover_feeds, parse_entries, parse_feed
from pipeline.opml import read_opml, write_opml
from tests.conftest import run_cli
from workers.feedlist import FeedFile
from workers.server import EmbeddedServer

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Example</title>
<item><title>Second</title><link>https://news.example/b?utm_source=x&amp;id=2#top</link><guid>https://news.example/b</guid>
<pubDate>Sun, 02 Nov 2025 10:00:00 GMT</pubDate></item>
<item><title>First</title><link>https://news.example/a</link><guid>https://news.example/a</guid>
<pubDate>Sat, 01 Nov 2025 10:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_canonical_url_drops_tracking_and_fragment() -> None:
    assert canonical_url("https://News.Example/b?utm_source=x&id=2&fbclid=9#top") == "https://news.example/b?id=2"
    assert canonical_url("https://news.example") == "https://news.example/"


def test_entries_come_oldest_first_with_dates() -> None:
    entries, warning = parse_entries(RSS, "https://news.example/rss", "Example")
    assert warning is None
    assert [e.title for e in entries] == ["First", "Second"]
    assert entries[0].published == "2025-11-01"
    assert entries[1].source == "Example"
    assert entries[1].identities == ["guid:https://news.example/b", "url:https://news.example/b?id=2"]


def test_article_ids() -> None:
    assert article_id_for("000_abc", "https://x/y") == "000_abc"
    assert article_id_for("https://x/y", "https://x/y") == article_id_for("https://x/y", "https://other/")
    assert len(article_id_for("", "https://x/y")) == 16


def test_malformed_feed_still_yields_entries() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>Third &bogus;</title></item>")
    entries, warning = parse_entries(broken, "https://news.example/rss")
    assert warning is not None
    assert {e.title for e in entries} >= {"First", "Second"}


def test_edited_entry_changes_its_fingerprint_only() -> None:
    [first, _] = parse_entries(RSS, "https://news.example/rss")[0]
    [edited, _] = parse_entries(RSS.replace(b"<title>First", b"<title>First, revised"), "https://news.example/rss")[0]
    assert edited.article_id == first.article_id and edited.fingerprint != first.fingerprint
    assert not edited.update


def test_html_page_names_its_feeds() -> None:
    page = (b'<html><head><base href="/ignored/"><link rel="Alternate" type="application/rss+xml" href="/rss">'
            b'<link rel="alternate" type="application/atom+xml" href="https://cdn.example/atom.xml">'
            b'<link rel="alternate" type="text/html" href="/fr/"><link rel="alternate" '
            b'type="application/rss+xml" href="/rss"></head><body><p>news</p></body></html>')
    document = parse_feed(page, "https://site.example/news/")
    assert not document.is_feed and document.entries == []
    assert document.alternates == ["https://site.example/rss", "https://cdn.example/atom.xml"]
    assert discover_feeds(b"<html><body>nothing</body></html>", "https://x/") == []


TOML_HEAD = """# Feeds the poller watches.

# The BBC
[[feed]]
url = "https://feeds.bbci.co.uk/news/world/rss.xml"
name = "BBC World"
tags = ["world"]

# Al Jazeera, all of it
[[feed]]
url = "https://www.aljazeera.com/xml/rss/all.xml"
"""


def test_feed_file_edits_keep_the_text(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(TOML_HEAD)
    feeds = FeedFile(path)
    assert feeds.add(Feed(url="https://example.org/feed", name='Quote " and ü', interval=900, tags=("a", "b")))
    assert not feeds.add(Feed(url="https://EXAMPLE.org/feed?utm_source=x"))
    assert path.read_text().startswith(TOML_HEAD)
    assert 'name = "Quote \\" and ü"\ninterval = 900\ntags = ["a", "b"]' in path.read_text()
    assert load_feeds(tmp_path)[-1] == Feed(url="https://example.org/feed", name='Quote " and ü', interval=900,
                                            tags=("a", "b"))
    assert feeds.remove("BBC World") is not None
    text = path.read_text()
    assert "BBC" not in text and text.startswith("# Feeds the poller watches.\n") and "# Al Jazeera" in text
    assert [f.url for f in load_feeds(tmp_path)] == ["https://www.aljazeera.com/xml/rss/all.xml",
                                                     "https://example.org/feed"]
    assert feeds.remove("https://nowhere.example/") is None


def test_feed_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(TOML_HEAD + '\n[[feed]]\nurl = "https://x.example/"\ninterval = 5\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:13: interval must be whole seconds >= 10"):
        FeedFile(path)
    path.write_text('[[feed]]\nurl = "https://x.example/"\nmin_interval = 600\ninterval = 60\n')
    with pytest.raises(ConfigError, match=r":1: need min_interval <= interval <= max_interval"):
        load_feeds(tmp_path)


OPML = b"""<?xml version="1.0"?><opml version="1.0"><head><title>mine</title></head><body>
<outline text="World"><outline text="BBC" title="BBC World" type="rss" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
<outline text="NYT" type="rss" xmlUrl="https://rss.nytimes.com/nyt/World.xml" category="/news,ny"/></outline>
<outline text="Loose" type="rss" xmlUrl="https://example.org/feed"/></body></opml>"""


def test_opml_round_trip(tmp_path: Path) -> None:
    feeds = read_opml(OPML, tmp_path / "in.opml")
    assert [(f.name, f.tags) for f in feeds] == [("BBC World", ("World",)), ("NYT", ("World", "news", "ny")),
                                                  ("Loose", ())]
    assert read_opml(write_opml(feeds).encode(), tmp_path / "out.opml") == [
        Feed(url=f.url, name=f.name, tags=f.tags) for f in feeds]
    with pytest.raises(ConfigError, match=r"bad\.opml:1: not OPML"):
        read_opml(b"<html><body/></html>", tmp_path / "bad.opml")


def test_feeds_command_adds_polls_and_lists(tmp_path: Path, embedded: EmbeddedServer) -> None:
    body = RSS.replace(b"https://news.example/b?", b"https://news.example/b?x=1&")
    with serve({"/rss": body}) as base:
        env = {"REDIS_URL": embedded.url}
        common = ("--config", str(tmp_path), "--namespace", f"test-feeds-{uuid.uuid4().hex[:8]}")
        (tmp_path / "storywatch.toml").write_text("")
        assert run_cli(*common, "feeds", "add", f"{base}/rss", "--name", "Local", "--allow-private",
                       env=env).returncode == 0
        polled = run_cli(*common, "feeds", "poll", "Local", "--once", "--json", env=env)
        assert polled.returncode == 0, polled.stderr
        result = json.loads(polled.stdout)
        assert [e["title"] for e in result["entries"]] == ["First", "Second"] and result["status"] == "ok"
        again = json.loads(run_cli(*common, "feeds", "poll", f"{base}/rss", "--json", env=env).stdout)
        assert again["entries"] == []
        [row] = json.loads(run_cli(*common, "feeds", "list", "--json", env=env).stdout)
        assert row["items_seen"] == 2 and row["failures"] == 0 and row["disabled"] is None
        assert row["last_status"] == "200 same body" and row["next_poll"] and row["last_success"]
        shown = run_cli(*common, "feeds", "list", env=env).stdout
        assert "+ Local" in shown and "2 items seen" in shown


@contextlib.contextmanager
def serve(routes: dict[str, bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
