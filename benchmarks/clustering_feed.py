"""Story clustering on a real feed: titles and summaries of one outlet, labelled before the first run.

    .venv/bin/python benchmarks/clustering_feed.py [--feed FILE] [--labels FILE]

The stream: every distinct item of 400 recorded polls of the NYT World feed
(``../shared/data/nyt-world-feed.jsonl.gz``, nine days of 2022) in the order the polls first listed
them, at the feed's publication times, each item's title and summary (``text``), as `storywatch
cluster` would read them from a feed reader's export. ``benchmarks/nyt_world_stories.json`` groups
the items that report one event; it was judged by hand from the items alone, before any clustering
ran on them. One outlet, many events and running stories (a war, a royal death, a change of
government): the hard case is telling the events of one running story apart. The story cooling was
chosen on the first half of this feed (and of the UCI stream) by ``clustering_split.py``, so the
whole-feed figures here are partly seen; that script shows the second half's. Prints numbers only:
no asserts.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelled import Labelled, evaluate  # noqa: E402

FEED = ROOT / ".." / "shared" / "data" / "nyt-world-feed.jsonl.gz"
LABELS = ROOT / "benchmarks" / "nyt_world_stories.json"


def feed_records(path: Path) -> list[Labelled]:
    """Each item once, as first listed; the label key is its GUID."""
    import feedparser

    records: dict[str, Labelled] = {}
    with gzip.open(path, "rt", encoding="utf-8") as polls:
        for line in polls:
            poll = json.loads(line)
            fresh = []
            for item in feedparser.parse(poll["xml"]).entries:
                guid = item.get("id") or item.get("link") or ""
                if not guid or guid in records:
                    continue
                published = item.get("published_parsed")
                moment = (datetime.fromtimestamp(calendar.timegm(published), UTC) if published
                          else datetime.fromisoformat(poll["polled_at"]))
                fresh.append(({"id": guid, "time": moment.isoformat(), "title": item.get("title", ""),
                               "text": item.get("summary", ""), "source": "The New York Times"}, guid))
            # A poll lists newest first; within it, items arrive oldest first.
            for record in sorted(fresh, key=lambda labelled: labelled[0]["time"]):
                records[record[1]] = record
    return list(records.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feed", type=Path, default=FEED, help="recorded polls, one JSON object a line")
    parser.add_argument("--labels", type=Path, default=LABELS, help="same-event groups judged by hand")
    args = parser.parse_args()
    evaluate(feed_records(args.feed), args.labels)


if __name__ == "__main__":
    main()
