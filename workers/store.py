"""The Redis key layout of one deployment, and the only module that knows it.

Every key lives under ``sw:{namespace}:`` so replays, tests and live runs share a server safely:

    seq                 INCR   arrival sequence handed out by the poller
    seen:{digest}       STRING dedupe marker of a GUID or canonical URL (bounded lifetime)
    pending:{seq}       STRING analysed article (or the reason it was skipped), awaiting its turn
    seqjobs             HASH   seq -> job id and "job:{id}" -> seq, for articles retried by hand at the stream's end
    next                STRING the next sequence number to integrate
    lock:integrate      STRING lock of the ordered step (redis-py Lock)
    stories             HASH   story id -> Story JSON
    stories:changes     STREAM one entry per write to ``stories`` (fields "changed", "removed"), capped,
                               so workers refresh their story index instead of reading it whole
    ledger:{story}      STRING Ledger JSON
    analysed:{article}  STRING the pending payload an article was integrated from (claims with vectors), kept
                               ANALYSED_TTL so a person can move the article to another story
    articles            HASH   article id -> story id
    revisions           HASH   article id -> fingerprint of its last integrated edit
    watched             HASH   watched story id -> fingerprint of its config and seeds
    alerts              STREAM one entry per alert, field "alert" = JSON
    feed:{digest}       HASH   poll state of one feed
    lease:feed:{digest} STRING the poller now polling that feed (SET NX PX), so several pollers never overlap
    content:{digest}    STRING fingerprint of one feed's entry for an article, to tell an edited entry
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.client import Pipeline
from redis.lock import Lock

from pipeline.models import Alert, AnalysedArticle, Ledger, Story

if TYPE_CHECKING:
    from pipeline.integrate import Outcome

SEEN_TTL = 90 * 24 * 3600
PENDING_TTL = 7 * 24 * 3600
SENT_TTL = 90 * 24 * 3600
# How long a moved article can still bring its own claims and vector: repairs happen while a story is
# read, and claim vectors cost about 2 kB a sentence. An older article moves with what its ledger kept.
ANALYSED_TTL = 14 * 24 * 3600
# Changes kept for workers that fell behind; one further back reads all stories again.
STORY_CHANGES_KEPT = 10_000

# Whether a delivery may go out now, atomically with its marker and the story's quiet period.
# KEYS: marker, cooldown, digest. ARGV: delivery id, lease seconds, fold ms (0: never fold),
# payload, marker lifetime, lease token. Returns {state, digest length, cooldown ms left}.
_BEGIN_DELIVERY = """
local state = redis.call('GET', KEYS[1])
if state then
  if string.sub(state, 1, 8) == 'sending:' then return {'busy', 0, 0} end
  return {'done', 0, 0}
end
local fold = tonumber(ARGV[3])
if fold > 0 then
  local holder = redis.call('GET', KEYS[2])
  if not holder then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', fold)
  elseif holder ~= ARGV[1] then
    local length = redis.call('RPUSH', KEYS[3], ARGV[4])
    redis.call('SET', KEYS[1], 'folded', 'EX', ARGV[5])
    return {'folded', length, redis.call('PTTL', KEYS[2])}
  end
end
redis.call('SET', KEYS[1], 'sending:' .. ARGV[6], 'EX', ARGV[2])
return {'send', redis.call('LLEN', KEYS[3]), 0}
"""

# Drop a lease only while it is still ours: after it expired another job may hold the marker.
_RELEASE_DELIVERY = """
if redis.call('GET', KEYS[1]) == 'sending:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# The sequence number a job retried by hand takes at the stream's end: the one it claimed before
# unless the stream has passed it, else a new one. Number and owner are written in one step, so a
# job killed in between leaves no number that no job will fill. KEYS: seq, seqjobs. ARGV: job id, next.
_CLAIM_SEQUENCE = """
local mine = redis.call('HGET', KEYS[2], 'job:' .. ARGV[1])
if mine and tonumber(mine) >= tonumber(ARGV[2]) then return tonumber(mine) end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], seq, ARGV[1], 'job:' .. ARGV[1], seq)
return seq
"""


# Keep an integrated article's payload under its id; a commit without one (tests, tools) has none to keep.
# KEYS: pending, analysed. ARGV: lifetime.
_KEEP_ANALYSED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return 0
"""


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# Delete a lease only while it is still ours: an expired one may already belong to another poller.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _stream_id(entry_id: str | bytes) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass(frozen=True)
class Sighting:
    """One feed entry seen by `Store.observe_entries`."""

    new: bool
    # The id the article got when first seen, by any feed: an update must name that one.
    article_id: str
    # The fingerprint this feed last showed for the entry; None the first time this feed shows it.
    previous: str | None


class LostLock(Exception):
    """Another worker took the integration lock over: this one's writes were discarded."""


@dataclass(frozen=True)
class Repair:
    """The writes of one repair by hand (`workers.curate`), committed together like an integration."""

    stories: tuple[tuple[Story, Ledger], ...]
    removed: tuple[str, ...]
    # Article id -> the story it now belongs to.
    homes: tuple[tuple[str, str], ...]
    alert: Alert


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

    @property
    def delivery_queue_name(self) -> str:
        return self.delivery_queue_for(self.queue_name)

    @staticmethod
    def namespace_of_queue(queue_name: str) -> str | None:
        """The namespace whose article queue is named so; None for any other queue."""
        if queue_name.startswith("sw.") and queue_name.endswith(".articles"):
            return queue_name.removeprefix("sw.").removesuffix(".articles")
        return None

    @staticmethod
    def delivery_queue_for(article_queue: str) -> str:
        """The delivery queue of the deployment whose article queue is named so (the fleet knows only that)."""
        return article_queue.removesuffix(".articles") + ".deliveries"

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

    def feed_states(self, urls: list[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for url in urls:
            pipe.hgetall(self.key("feed", digest(url)))
        return [{k.decode(): v.decode() for k, v in raw.items()} for raw in pipe.execute()]

    def lease_feed(self, url: str, owner: str, ttl_ms: int) -> dict[str, str] | None:
        """Take the feed's lease and read its state in one round trip; None when another poller holds it."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.key("lease", "feed", digest(url)), owner, nx=True, px=ttl_ms)
        pipe.hgetall(self.key("feed", digest(url)))
        leased, raw = pipe.execute()
        return {k.decode(): v.decode() for k, v in raw.items()} if leased else None

    def save_and_release_feed(self, url: str, owner: str, state: dict[str, str] | None) -> None:
        """Save the feed's state (unless None) and give its lease back, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        if state is not None:
            pipe.hset(self.key("feed", digest(url)), mapping={"url": url, **state})
        pipe.eval(_RELEASE, 1, self.key("lease", "feed", digest(url)), owner)
        pipe.execute()

    def _content_key(self, feed_url: str, article_id: str) -> str:
        return self.key("content", digest(f"{feed_url}\x1f{article_id}"))

    def observe_entries(self, feed_url: str, entries: list[tuple[list[str], str]]) -> list[Sighting]:
        """Claim each (identities, article id) of one feed's poll as `claim_entry` does, in one round trip.

        Every sighting also renews the identities' lifetime, so an item that stays in a feed for longer
        than SEEN_TTL is not taken for new when its first marker would have expired.
        """
        pipe = self.client.pipeline(transaction=False)
        for identities, article_id in entries:
            keys = [self.key("seen", digest(i)) for i in identities if i]
            for key in keys:
                pipe.set(key, article_id, nx=True, ex=SEEN_TTL)
                pipe.expire(key, SEEN_TTL)
            pipe.get(keys[0])
            pipe.get(self._content_key(feed_url, article_id))
        replies = iter(pipe.execute())
        sightings = []
        for identities, _ in entries:
            claimed = True
            for _identity in filter(None, identities):
                claimed = bool(next(replies)) and claimed
                next(replies)  # EXPIRE's reply
            first, previous = next(replies), next(replies)
            sightings.append(Sighting(new=claimed, article_id=first.decode(),
                                      previous=previous.decode() if previous is not None else None))
        return sightings

    def save_fingerprints(self, feed_url: str, fingerprints: list[tuple[str, str]]) -> None:
        """Remember (article id, fingerprint) pairs of one feed, after their updates were queued."""
        pipe = self.client.pipeline(transaction=False)
        for article_id, fingerprint in fingerprints:
            pipe.set(self._content_key(feed_url, article_id), fingerprint, ex=SEEN_TTL)
        pipe.execute()

    # --- the ordered step --------------------------------------------------------------------

    def put_pending(self, seq: int, payload: dict[str, Any], replace: bool = True) -> bool:
        """Leave a result for sequence ``seq``; with ``replace=False`` an earlier result wins (False)."""
        return bool(self.client.set(self.key("pending", str(seq)), json.dumps(payload), ex=PENDING_TTL,
                                    nx=not replace))

    def claim_sequence(self, job_id: str) -> int:
        """A sequence number at the end of the stream for ``job_id``, the same through the job's own retries."""
        script = self.client.register_script(_CLAIM_SEQUENCE)
        return int(script(keys=[self.key("seq"), self.key("seqjobs")], args=[job_id, self.next_to_integrate()]))

    def job_of_sequence(self, seq: int) -> str | None:
        raw = self.client.hget(self.key("seqjobs"), str(seq))
        return raw.decode() if raw else None

    def pending(self, seq: int) -> dict[str, Any] | None:
        raw = self.client.get(self.key("pending", str(seq)))
        return json.loads(raw) if raw else None

    def next_to_integrate(self) -> int:
        return int(self.client.get(self.key("next")) or 1)

    def integration_lock(self, timeout: float) -> Lock:
        return self.client.lock(self.key("lock", "integrate"), timeout=timeout, blocking_timeout=timeout * 2)

    def commit(self, lock: Lock, seq: int, outcome: Outcome | None = None) -> None:
        """Write one integration's effects (if any) and advance ``next``, all or nothing, while the lock is ours.

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
                if outcome is not None:
                    self._write_outcome(pipe, outcome)
                    pipe.eval(_KEEP_ANALYSED, 2, self.key("pending", str(seq)),
                              self.key("analysed", outcome.article_id), ANALYSED_TTL)
                pipe.set(self.key("next"), seq + 1)
                pipe.delete(self.key("pending", str(seq)))
                pipe.execute()
            except redis.WatchError:
                raise LostLock(f"integration lock lost while committing sequence {seq}") from None

    def _write_outcome(self, pipe: redis.client.Pipeline, outcome: Outcome) -> None:
        story = outcome.story
        pipe.hset(self.key("stories"), story.id, json.dumps(story.to_dict()))
        pipe.set(self.key("ledger", story.id), json.dumps(outcome.ledger.to_dict()))
        # Every member is mapped, so articles of stories folded into this one follow it.
        pipe.hset(self.key("articles"), mapping=dict.fromkeys(story.article_ids, story.id))
        for gone in outcome.absorbed:
            pipe.hdel(self.key("stories"), gone.id)
            pipe.delete(self.key("ledger", gone.id))
        self._log_story_change(pipe, story.id, [gone.id for gone in outcome.absorbed])
        if outcome.revision:
            pipe.hset(self.key("revisions"), outcome.article_id, outcome.revision)
        if outcome.alert is not None:
            pipe.xadd(self.key("alerts"), {"alert": json.dumps(outcome.alert.to_dict(), ensure_ascii=False)})

    def commit_repair(self, lock: Lock, repair: Repair) -> None:
        """Write a repair all or nothing while the integration lock is ours, fenced like `commit`."""
        lock_key = self.key("lock", "integrate")
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(lock_key)
                if pipe.get(lock_key) != lock.local.token:
                    raise LostLock("integration lock lost before committing a repair")
                pipe.multi()
                for story, ledger in repair.stories:
                    pipe.hset(self.key("stories"), story.id, json.dumps(story.to_dict()))
                    pipe.set(self.key("ledger", story.id), json.dumps(ledger.to_dict()))
                for story_id in repair.removed:
                    pipe.hdel(self.key("stories"), story_id)
                    pipe.delete(self.key("ledger", story_id))
                if repair.homes:
                    pipe.hset(self.key("articles"), mapping=dict(repair.homes))
                # One change per written story: a worker's index reads each of them again.
                for number, (story, _) in enumerate(repair.stories):
                    self._log_story_change(pipe, story.id, list(repair.removed) if number == 0 else [])
                pipe.xadd(self.key("alerts"), {"alert": json.dumps(repair.alert.to_dict(), ensure_ascii=False)})
                pipe.execute()
            except redis.WatchError:
                raise LostLock("integration lock lost while committing a repair") from None

    def analysed(self, article_id: str) -> AnalysedArticle | None:
        """The article as it was integrated (its latest edit), while ANALYSED_TTL keeps it."""
        raw = self.client.get(self.key("analysed", article_id))
        payload = json.loads(raw) if raw else None
        return AnalysedArticle.from_dict(payload["analysed"]) if payload and "analysed" in payload else None

    # --- stories and ledgers -----------------------------------------------------------------

    def _log_story_change(self, pipe: Pipeline, changed: str, removed: list[str]) -> None:
        pipe.xadd(self.key("stories", "changes"), {"changed": changed, "removed": " ".join(removed)},
                  maxlen=STORY_CHANGES_KEPT, approximate=True)

    def stories(self) -> list[Story]:
        return self.story_snapshot()[0]

    def story_snapshot(self) -> tuple[list[Story], str]:
        """All stories, oldest first, and the id of the last change they include (see `story_changes`)."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key("stories"))
            pipe.xrevrange(self.key("stories", "changes"), count=1)
            raw, last = pipe.execute()
        stories = sorted((Story.from_dict(json.loads(v)) for v in raw.values()), key=lambda s: s.created_at)
        return stories, last[0][0].decode() if last else "0-0"

    def story_changes(self, after: str) -> tuple[list[str], list[str], str] | None:
        """Stories changed and removed since the change ``after``, and the id of the last change;
        None when changes since then were trimmed away and only `stories` can tell."""
        key = self.key("stories", "changes")
        with self.client.pipeline(transaction=False) as pipe:
            pipe.xrange(key, count=1)
            pipe.xrange(key, min=f"({after}")
            first, entries = pipe.execute()
        if entries and (not first or _stream_id(first[0][0]) > _stream_id(after)):
            return None
        changed: dict[str, None] = {}
        removed: dict[str, None] = {}
        for _, fields in entries:
            changed[fields[b"changed"].decode()] = None
            removed.update(dict.fromkeys(fields[b"removed"].decode().split()))
        return list(changed), list(removed), entries[-1][0].decode() if entries else after

    def stories_by_id(self, story_ids: list[str]) -> dict[str, Story | None]:
        raw = self.client.hmget(self.key("stories"), story_ids) if story_ids else []
        return {story_id: Story.from_dict(json.loads(value)) if value else None
                for story_id, value in zip(story_ids, raw, strict=True)}

    def story(self, story_id: str) -> Story | None:
        raw = self.client.hget(self.key("stories"), story_id)
        return Story.from_dict(json.loads(raw)) if raw else None

    def watched_fingerprint(self, story_id: str) -> str | None:
        raw = self.client.hget(self.key("watched"), story_id)
        return raw.decode() if raw else None

    def save_watched(self, story: Story, fingerprint: str, ledger: Ledger | None = None) -> None:
        """Register a watched story; with ``ledger`` (its seeds recorded), in the same transaction."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key("stories"), story.id, json.dumps(story.to_dict()))
        if ledger is not None:
            pipe.set(self.key("ledger", story.id), json.dumps(ledger.to_dict()))
        pipe.hset(self.key("watched"), story.id, fingerprint)
        self._log_story_change(pipe, story.id, [])
        pipe.execute()

    def ledger(self, story_id: str) -> Ledger:
        raw = self.client.get(self.key("ledger", story_id))
        return Ledger.from_dict(json.loads(raw)) if raw else Ledger(story_id=story_id)

    def has_revision(self, article_id: str, revision: str) -> bool:
        """Whether this version of an edited article was integrated already."""
        raw = self.client.hget(self.key("revisions"), article_id)
        return raw is not None and raw.decode() == revision

    def article_count(self) -> int:
        return int(self.client.hlen(self.key("articles")))

    def story_of(self, article_id: str) -> str | None:
        raw = self.client.hget(self.key("articles"), article_id)
        return raw.decode() if raw else None

    # --- alerts ------------------------------------------------------------------------------

    def alerts(self, after: str = "-", count: int = 1000) -> list[tuple[str, Alert]]:
        """Alerts after stream id ``after`` (exclusive), oldest first."""
        start = "-" if after == "-" else f"({after}"
        entries = self.client.xrange(self.key("alerts"), min=start, count=count)
        return [(entry_id.decode(), Alert.from_dict(json.loads(fields[b"alert"]))) for entry_id, fields in entries]

    def alert_count(self) -> int:
        return int(self.client.xlen(self.key("alerts")))

    def append_alert(self, alert: Alert) -> str:
        """Add an alert outside the ordered step (tools and tests); returns its stream id."""
        entry_id = self.client.xadd(self.key("alerts"), {"alert": json.dumps(alert.to_dict(), ensure_ascii=False)})
        return entry_id.decode()

    def wait_alerts(self, after: str, block_ms: int) -> list[tuple[str, Alert]]:
        """Alerts after ``after`` ('$' for only new ones), waiting up to ``block_ms`` for the first."""
        reply = self.client.xread({self.key("alerts"): after}, block=block_ms, count=1000)
        return [(entry_id.decode(), Alert.from_dict(json.loads(fields[b"alert"])))
                for _, entries in reply for entry_id, fields in entries]

    # --- consumer groups on the alert stream --------------------------------------------------

    def ensure_group(self, group: str) -> None:
        """Create the group at the start of the stream, so a new group sees every alert once."""
        try:
            self.client.xgroup_create(self.key("alerts"), group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @staticmethod
    def _entries(raw: list[tuple[bytes, dict[bytes, bytes] | None]]) -> list[tuple[str, Alert | None]]:
        """Stream entries as alerts; None for a pending entry whose alert was trimmed from the stream."""
        return [(entry_id.decode(), Alert.from_dict(json.loads(fields[b"alert"])) if fields else None)
                for entry_id, fields in raw]

    def read_group(self, group: str, consumer: str, start: str = ">", block_ms: int | None = None,
                   count: int = 100) -> list[tuple[str, Alert | None]]:
        """New entries for ``consumer`` (start '>'), or its own unacknowledged ones after ``start``."""
        reply = self.client.xreadgroup(group, consumer, {self.key("alerts"): start}, count=count, block=block_ms)
        return [entry for _, entries in reply or [] for entry in self._entries(entries)]

    def claim_stale(self, group: str, consumer: str, min_idle_ms: int, count: int = 100
                    ) -> list[tuple[str, Alert | None]]:
        """Take over entries other consumers of the group took and left unacknowledged that long."""
        start: str | bytes = "0-0"
        while True:
            # Each call scans at most ``count`` pending entries: walk on past busy ones to idle ones.
            cursor, entries, *_ = self.client.xautoclaim(self.key("alerts"), group, consumer, min_idle_ms,
                                                         start_id=start, count=count)
            if entries or cursor in (b"0-0", "0-0"):
                return self._entries(entries)
            start = cursor

    def ack(self, group: str, entry_id: str, then: Callable[[Pipeline], None] | None = None) -> None:
        """Acknowledge an entry; ``then`` adds writes (queued jobs) that must happen together with it."""
        with self.client.pipeline(transaction=True) as pipe:
            if then is not None:
                then(pipe)
            pipe.xack(self.key("alerts"), group, entry_id)
            pipe.execute()

    def group_backlog(self, group: str) -> int:
        """Entries the group has not read yet plus those read and not acknowledged (0 without the group)."""
        try:
            groups = self.client.xinfo_groups(self.key("alerts"))
        except redis.ResponseError:
            return 0
        for info in groups:
            if info["name"].decode() == group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return 0

    # --- mutes and deliveries ------------------------------------------------------------------

    def mute(self, story_id: str, muted: bool = True) -> bool:
        """Mute or unmute a story on every channel; False when it already was so."""
        call = self.client.sadd if muted else self.client.srem
        return bool(call(self.key("muted"), story_id))

    def is_muted(self, story_id: str) -> bool:
        return bool(self.client.sismember(self.key("muted"), story_id))

    def muted(self) -> list[str]:
        return sorted(m.decode() for m in self.client.smembers(self.key("muted")))

    def begin_delivery(self, channel: str, delivery_id: str, story_id: str, *, lease_s: int, fold_ms: int,
                       payload: dict[str, Any], token: str) -> tuple[str, int, int]:
        """'send' (the lease is ours), 'done', 'busy' (another job holds the lease) or 'folded'.

        With ``fold_ms`` the story's quiet period is opened by this delivery, or, when another
        delivery opened it, the payload joins the digest. The second number is the digest's length
        and the third the milliseconds the quiet period has left.
        """
        script = self.client.register_script(_BEGIN_DELIVERY)
        keys = [self.key("sent", channel, delivery_id), self.key("cooldown", channel, story_id),
                self.key("digest", channel, story_id)]
        state, length, left = script(keys=keys, args=[delivery_id, lease_s, fold_ms,
                                                      json.dumps(payload, ensure_ascii=False), SENT_TTL, token])
        return state.decode(), int(length), int(left)

    def release_delivery(self, channel: str, delivery_id: str, token: str) -> None:
        script = self.client.register_script(_RELEASE_DELIVERY)
        script(keys=[self.key("sent", channel, delivery_id)], args=[token])

    def finish_delivery(self, channel: str, delivery_id: str, at: str, *, story_id: str = "",
                        cooldown_ms: int = 0) -> None:
        """Mark the delivery sent; with ``cooldown_ms`` (a digest) open the story's next quiet period."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key("sent", channel, delivery_id), "sent", ex=SENT_TTL)
        pipe.hincrby(self.key("delivery", channel), "sent", 1)
        pipe.hset(self.key("delivery", channel), "last_sent_at", at)
        if cooldown_ms > 0:
            pipe.set(self.key("cooldown", channel, story_id), delivery_id, px=cooldown_ms)
        pipe.execute()

    def count_delivery(self, channel: str, outcome: str) -> None:
        self.client.hincrby(self.key("delivery", channel), outcome, 1)

    def record_failure(self, channel: str, error: str, at: str, dead_letter: dict[str, Any] | None) -> None:
        """Count a failed attempt; a ``dead_letter`` (the last attempt's) is kept for inspection and retry."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hincrby(self.key("delivery", channel), "failed", 1)
        pipe.hset(self.key("delivery", channel), mapping={"last_error": error, "last_error_at": at})
        if dead_letter is not None:
            pipe.hincrby(self.key("delivery", channel), "dead", 1)
            pipe.rpush(self.key("dead"), json.dumps(dead_letter, ensure_ascii=False))
        pipe.execute()

    def delivery_stats(self, channel: str) -> dict[str, str]:
        raw = self.client.hgetall(self.key("delivery", channel))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def take_digest(self, channel: str, story_id: str,
                    then: Callable[[Pipeline, list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
        """Empty the story's digest; ``then`` queues its delivery in the same transaction, so none is lost."""
        return self._take_list(self.key("digest", channel, story_id), lambda _: True, then)

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.client.lrange(self.key("dead"), 0, -1)]

    def take_dead_letters(self, channels: Collection[str],
                          then: Callable[[Pipeline, list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
        """Remove the dead letters of ``channels`` and requeue them through ``then``, in one transaction."""
        return self._take_list(self.key("dead"), lambda item: item["channel"] in channels, then)

    def _take_list(self, key: str, wanted: Callable[[dict[str, Any]], bool],
                   then: Callable[[Pipeline, list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = [item for item in pipe.lrange(key, 0, -1) if wanted(json.loads(item))]
                    taken = [json.loads(item) for item in raw]
                    pipe.multi()
                    for item in raw:
                        pipe.lrem(key, 1, item)
                    if taken:
                        then(pipe, taken)
                    pipe.execute()
                    return taken
                except redis.WatchError:
                    continue

    # --- housekeeping ------------------------------------------------------------------------

    def keys(self) -> Iterator[bytes]:
        yield from self.client.scan_iter(match=self.prefix + "*", count=1000)

    def expire_all(self, seconds: int) -> None:
        """Let a finished namespace (a replay) age out instead of lingering."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys():
            pipe.expire(key, seconds)
        pipe.execute()
