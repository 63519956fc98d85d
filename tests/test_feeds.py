from pipeline.feeds import article_id_for, canonical_url, parse_entries

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
