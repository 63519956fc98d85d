"""`storywatch feeds`: edit config/feeds.toml as text a person can still read, and show each feed's state.

Edits append or cut whole ``[[feed]]`` blocks, leaving comments and layout alone; the new text is
validated with the same loader the poller uses before it replaces the file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, Feed, Settings, feeds_from_text
from pipeline.feeds import canonical_url
from pipeline.opml import read_opml, write_opml
from workers.store import Store


def _toml_string(value: str) -> str:
    # JSON string escapes are TOML's; DEL is the one character JSON leaves raw and TOML refuses.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def feed_block(feed: Feed) -> str:
    lines = ["[[feed]]", f"url = {_toml_string(feed.url)}"]
    if feed.name:
        lines.append(f"name = {_toml_string(feed.name)}")
    for key in ("interval", "min_interval", "max_interval"):
        if getattr(feed, key) is not None:
            lines.append(f"{key} = {getattr(feed, key)}")
    if feed.tags:
        lines.append(f"tags = [{', '.join(_toml_string(tag) for tag in feed.tags)}]")
    if feed.allow_private:
        lines.append("allow_private = true")
    return "\n".join(lines) + "\n"


class FeedFile:
    """config/feeds.toml: its text, its feeds, and edits that keep the rest of the text as it was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8") if path.exists() else ""
        self.feeds = feeds_from_text(path, self.text)

    def find(self, key: str) -> Feed | None:
        """The feed with this URL (tracking parameters and case of the host aside) or this name."""
        wanted = canonical_url(key) if "://" in key else None
        for feed in self.feeds:
            if (wanted and canonical_url(feed.url) == wanted) or feed.name == key:
                return feed
        return None

    def add(self, feed: Feed) -> bool:
        """Append ``feed``; False when the file already lists it."""
        if self.find(feed.url) is not None:
            return False
        text = self.text.rstrip("\n")
        self._replace((text + "\n\n" if text else "") + feed_block(feed))
        return True

    def remove(self, key: str) -> Feed | None:
        """Cut the block of the feed named by ``key``, with the comment lines right above it."""
        feed = self.find(key)
        if feed is None:
            return None
        lines = self.text.splitlines(keepends=True)
        starts = [n for n, line in enumerate(lines) if line.strip() == "[[feed]]"]
        start = starts[self.feeds.index(feed)]
        end = next((n for n in starts if n > start), len(lines))
        # Comments just above the next block describe that block: leave them with it.
        while end < len(lines) and end > start and lines[end - 1].lstrip().startswith("#"):
            end -= 1
        while start > 0 and lines[start - 1].lstrip().startswith("#") and start - 1 not in self._header(lines):
            start -= 1
        self._replace("".join(lines[:start] + lines[end:]))
        return feed

    @staticmethod
    def _header(lines: list[str]) -> range:
        """The file's opening comment paragraph, which explains the format and is never cut."""
        end = 0
        while end < len(lines) and lines[end].lstrip().startswith("#"):
            end += 1
        return range(end)

    def _replace(self, text: str) -> None:
        feeds = feeds_from_text(self.path, text)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".feeds.", suffix=".toml")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, self.path)
        self.text, self.feeds = text, feeds


def _when(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds") if timestamp else None


def feed_rows(feeds: list[Feed], store: Store) -> list[dict[str, Any]]:
    from workers.poller import FeedState

    rows = []
    for feed, raw in zip(feeds, store.feed_states([feed.url for feed in feeds]), strict=True):
        state = FeedState.from_hash(raw)
        rows.append({
            "url": feed.url, "name": feed.name, "tags": list(feed.tags), "polled_at": state.location or None,
            "last_success": _when(state.last_success), "last_status": state.last_status or None,
            "next_poll": _when(state.next_poll), "interval": round(state.interval) or None,
            "items_seen": state.items_seen, "updates_seen": state.updates_seen,
            "failures": state.failures, "disabled": state.disabled or None,
        })
    return rows


def _ago(iso: str | None, now: float, future: bool = False) -> str:
    if iso is None:
        return "never" if not future else "now"
    seconds = datetime.fromisoformat(iso).timestamp() - now
    seconds = seconds if future else -seconds
    if seconds <= 0:
        return "now" if future else "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            amount = f"{seconds / size:.0f}{unit}"
            break
    else:
        amount = f"{seconds:.0f}s"
    return f"in {amount}" if future else f"{amount} ago"


def format_rows(rows: list[dict[str, Any]], now: float) -> str:
    lines = []
    for row in rows:
        mark = "x" if row["disabled"] else "-" if row["failures"] else "+"
        lines.append(f"{mark} {row['name'] or row['url']}")
        if row["name"]:
            lines.append(f"    url: {row['url']}")
        if row["polled_at"] and row["polled_at"] != row["url"]:
            lines.append(f"    polled at: {row['polled_at']}")
        lines.append(f"    last success {_ago(row['last_success'], now)}, next poll "
                     f"{'-' if row['disabled'] else _ago(row['next_poll'], now, future=True)}, "
                     f"{row['items_seen']} items seen, {row['failures']} failures in a row")
        lines.append(f"    last status: {row['last_status'] or 'never polled'}")
        if row["disabled"]:
            lines.append(f"    DISABLED: {row['disabled']} (storywatch feeds enable {row['url']})")
    return "\n".join(lines) if lines else "no feeds; add one with: storywatch feeds add URL"


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace, settings: Settings, open_store: Callable[[], Store]) -> int:
    """One `storywatch feeds ACTION`; the store is opened only by actions that need the server."""
    path = settings.config_dir / "feeds.toml"
    feeds = FeedFile(path)
    if args.action == "add":
        feed = Feed(url=args.url, name=args.name or "", interval=args.interval, tags=tuple(args.tag or ()),
                    allow_private=args.allow_private)
        print(f"added {args.url}" if feeds.add(feed) else f"{args.url} is already in {path}")
    elif args.action == "remove":
        removed = feeds.remove(args.url)
        if removed is None:
            print(f"storywatch: no feed {args.url!r} in {path}", file=sys.stderr)
            return 1
        print(f"removed {removed.url}")
    elif args.action == "import-opml":
        found = read_opml(Path(args.file).read_bytes(), Path(args.file))
        added = sum(feeds.add(feed) for feed in found)
        print(f"imported {added} feeds ({len(found) - added} already listed) into {path}")
    elif args.action == "export-opml":
        document = write_opml(feeds.feeds)
        if args.file:
            Path(args.file).write_text(document, encoding="utf-8")
        else:
            sys.stdout.write(document)
    elif args.action == "list":
        rows = feed_rows(feeds.feeds, open_store())
        if args.json:
            _print_json(rows)
        else:
            print(format_rows(rows, time.time()))
    elif args.action == "enable":
        feed = feeds.find(args.url)
        if feed is None:
            raise ConfigError(f"{path}: no feed {args.url!r}")
        open_store().save_feed_state(feed.url, {"disabled": "", "failures": "0", "next_poll": "0"})
        print(f"enabled {feed.url}")
    else:
        return poll_once(args, settings, feeds, open_store())
    return 0


def poll_once(args: argparse.Namespace, settings: Settings, feeds: FeedFile, store: Store) -> int:
    from workers.poller import Poller

    feed = feeds.find(args.url) or Feed(url=args.url, allow_private=args.allow_private)
    result = Poller(store, settings).poll(feed)
    if args.json:
        _print_json({"url": feed.url, "status": result.status, "warning": result.warning,
                     "entries": [entry.to_dict() for entry in result.new]})
    else:
        print(f"{feed.url}: {result.status}, {len(result.new)} queued")
        if result.warning:
            print(f"  warning: {result.warning}")
        for entry in result.new:
            print(f"  {'~' if entry.update else '+'} {entry.title}  <{entry.url}>")
    return 1 if result.status.startswith("error") else 0
