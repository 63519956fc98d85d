"""The Redis key layout of one deployment, and the only module that knows it.

Every key lives under ``sw:{namespace}:`` so replays, tests and live runs share a server safely:

    seq                 INCR   arrival sequence handed out by the poller
    seen:{digest}       STRING dedupe marker of a GUID or canonical URL (bounded lifetime)
    pending:{seq}       STRING analysed article (or the reason it was skipped), awaiting its turn
    next                STRING the next sequence number to integrate
    lock:integrate      STRING lock of the ordered step (redis-py Lock)
    stories             HASH   story id -> Story JSON
    ledger:{story}      STRING Ledger JSON
    articles            HASH   article id -> story id
    watched             HASH   watched story id -> fingerprint of its config and seeds
    alerts              STREAM one entry per alert, field "alert" = JSON
    feed:{digest}       HASH   poll state of one feed
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import redis
from redis.lock import Lock

from pipeline.models import Alert, Ledger, Story

SEEN_TTL = 90 * 24 * 3600
PENDING_TTL = 7 * 24 * 3600


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class LostLock(Exception):
    """Another worker took the integration lock over: this one's writes were discarded."""


class Store:
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = f"sw:{namespace}:"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def queue_name(self) -> str:
        return f"sw.{self.namespace}.articles"

    # --- arrival -----------------------------------------------------------------------------

    def claim_entry(self, identities: list[str], article_id: str) -> bool:
        """Mark an entry's GUID and canonical URL as seen; False when any was seen before."""
        keys = [self.key("seen", digest(identity)) for identity in identities if identity]
        pipe = self.client.pipeline(transaction=True)
        for key in keys:
            pipe.set(key, article_id, nx=True, ex=SEEN_TTL)
        return all(pipe.execute())

    def forget_entry(self, identities: list[str]) -> None:
        self.client.delete(*[self.key("seen", digest(i)) for i in identities if i])

    def next_sequence(self) -> int:
        return int(self.client.incr(self.key("seq")))

    def last_sequence(self) -> int:
        return int(self.client.get(self.key("seq")) or 0)

    def feed_state(self, url: str) -> dict[str, str]:
        raw = self.client.hgetall(self.key("feed", digest(url)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def save_feed_state(self, url: str, state: dict[str, str]) -> None:
        self.client.hset(self.key("feed", digest(url)), mapping={"url": url, **state})

    # --- the ordered step --------------------------------------------------------------------

    def put_pending(self, seq: int, payload: dict[str, Any]) -> None:
        self.client.set(self.key("pending", str(seq)), json.dumps(payload), ex=PENDING_TTL)

    def pending(self, seq: int) -> dict[str, Any] | None:
        raw = self.client.get(self.key("pending", str(seq)))
        return json.loads(raw) if raw else None

    def next_to_integrate(self) -> int:
        return int(self.client.get(self.key("next")) or 1)

    def integration_lock(self, timeout: float) -> Lock:
        return self.client.lock(self.key("lock", "integrate"), timeout=timeout, blocking_timeout=timeout * 2)

    def commit(self, lock: Lock, seq: int, *, story: Story | None = None, ledger: Ledger | None = None,
               article_id: str | None = None, alert: Alert | None = None) -> None:
        """Write one integration's effects and advance ``next``, all or nothing, while the lock is ours.

        WATCH on the lock key fences the write: if the lock expired and another worker took it,
        the transaction aborts instead of racing that worker.
        """
        lock_key = self.key("lock", "integrate")
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(lock_key)
                token = pipe.get(lock_key)
                if token is None or token != lock.local.token:
                    raise LostLock(f"integration lock lost before committing sequence {seq}")
                pipe.multi()
                if story is not None:
                    pipe.hset(self.key("stories"), story.id, json.dumps(story.to_dict()))
                if ledger is not None:
                    pipe.set(self.key("ledger", ledger.story_id), json.dumps(ledger.to_dict()))
                if article_id is not None and story is not None:
                    pipe.hset(self.key("articles"), article_id, story.id)
                if alert is not None:
                    pipe.xadd(self.key("alerts"), {"alert": json.dumps(alert.to_dict(), ensure_ascii=False)})
                pipe.set(self.key("next"), seq + 1)
                pipe.delete(self.key("pending", str(seq)))
                pipe.execute()
            except redis.WatchError:
                raise LostLock(f"integration lock lost while committing sequence {seq}") from None

    # --- stories and ledgers -----------------------------------------------------------------

    def stories(self) -> list[Story]:
        raw = self.client.hgetall(self.key("stories"))
        return sorted((Story.from_dict(json.loads(v)) for v in raw.values()), key=lambda s: s.created_at)

    def story(self, story_id: str) -> Story | None:
        raw = self.client.hget(self.key("stories"), story_id)
        return Story.from_dict(json.loads(raw)) if raw else None

    def watched_fingerprint(self, story_id: str) -> str | None:
        raw = self.client.hget(self.key("watched"), story_id)
        return raw.decode() if raw else None

    def save_watched(self, story: Story, fingerprint: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key("stories"), story.id, json.dumps(story.to_dict()))
        pipe.hset(self.key("watched"), story.id, fingerprint)
        pipe.execute()

    def ledger(self, story_id: str) -> Ledger:
        raw = self.client.get(self.key("ledger", story_id))
        return Ledger.from_dict(json.loads(raw)) if raw else Ledger(story_id=story_id)

    def story_of(self, article_id: str) -> str | None:
        raw = self.client.hget(self.key("articles"), article_id)
        return raw.decode() if raw else None

    # --- alerts ------------------------------------------------------------------------------

    def alerts(self, after: str = "-", count: int = 1000) -> list[tuple[str, Alert]]:
        """Alerts after stream id ``after`` (exclusive), oldest first."""
        start = "-" if after == "-" else f"({after}"
        entries = self.client.xrange(self.key("alerts"), min=start, count=count)
        return [(entry_id.decode(), Alert.from_dict(json.loads(fields[b"alert"]))) for entry_id, fields in entries]

    def wait_alerts(self, after: str, block_ms: int) -> list[tuple[str, Alert]]:
        """Alerts after ``after`` ('$' for only new ones), waiting up to ``block_ms`` for the first."""
        reply = self.client.xread({self.key("alerts"): after}, block=block_ms, count=1000)
        return [(entry_id.decode(), Alert.from_dict(json.loads(fields[b"alert"])))
                for _, entries in reply for entry_id, fields in entries]

    # --- housekeeping ------------------------------------------------------------------------

    def keys(self) -> Iterator[bytes]:
        yield from self.client.scan_iter(match=self.prefix + "*", count=1000)

    def expire_all(self, seconds: int) -> None:
        """Let a finished namespace (a replay) age out instead of lingering."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys():
            pipe.expire(key, seconds)
        pipe.execute()
