"""The article job: fetch, extract and analyse in parallel, then join stories strictly in arrival order.

The parallel half runs on any worker. Its result waits under ``pending:{seq}``; whichever worker
holds the integration lock moves ``next`` forward through every result that is ready, so a replay
raises the same alerts with one worker or eight.

What a crash costs:

- A worker killed mid-job: RQ runs the job again (`workers.fleet` makes that come within seconds).
  Analysis has no effects outside ``pending:{seq}``, which a rerun overwrites with the same result;
  integration commits story, ledger, alert and ``next`` in one transaction per sequence number,
  fenced by the lock, and skips an article already integrated, so facts and alerts land once. A
  rerun of a job whose article is in finishes the integration it may have left undone. Deliveries
  are marked per alert and channel; only a kill between a send and its marker sends twice.
- The server killed: clients retry for about two minutes (`workers.connection.PatientRedis`).
  Valkey appends every write to the AOF with write(2) before it replies, so a killed server process
  loses nothing it acknowledged; ``appendfsync everysec`` leaves only an OS crash or power cut able
  to take the last second or two of writes. Those roll the state back consistently (the AOF is a
  prefix of history): RQ's own records roll back with it and the jobs run again.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.exceptions import LockError
from rq import get_current_job

from pipeline.analysis import Analyser
from pipeline.config import Settings, WatchedStorySpec, load_settings, load_watched_stories
from pipeline.extract import ExtractError, extract_article
from pipeline.feeds import Entry
from pipeline.fetch import FetchError, client_options, fetch
from pipeline.integrate import integrate, revise
from pipeline.models import AnalysedArticle
from pipeline.stories import StoryIndex
from workers.delivery import dispatch
from workers.store import Store
from workers.story_cache import story_cache
from workers.watched import ensure_watched_stories

log = logging.getLogger("storywatch.jobs")

# Short, so a worker killed while holding the lock stalls the others briefly; renewed per article.
LOCK_TIMEOUT = 20.0


@functools.cache
def settings() -> Settings:
    return load_settings()


@functools.cache
def watched_specs() -> tuple[WatchedStorySpec, ...]:
    # Read once per process, like the settings: a changed story config takes a worker restart.
    return tuple(load_watched_stories(settings().config_dir))


@functools.cache
def analyser() -> Analyser:
    return Analyser(threads=1)


@functools.cache
def http_client(timeout: float, user_agent: str) -> httpx.Client:
    # Building a client loads the CA bundle (~20 ms): one per process, its connections kept alive.
    return httpx.Client(**client_options(timeout, user_agent))


def process_article(namespace: str, entry_data: dict[str, Any]) -> dict[str, Any]:
    """The RQ job for one feed entry. Safe to run twice: a finished article is not integrated again."""
    job = get_current_job()
    assert job is not None, "process_article runs inside an RQ worker"
    store = Store(job.connection, namespace)
    entry = Entry.from_dict(entry_data)
    if _integrated(store, entry):
        # An earlier attempt got this far before its worker died: finish what it may have left undone.
        integrate_ready(store)
        dispatch(store)
        return {"article_id": entry.article_id, "status": "already integrated"}
    seq = entry.seq
    if seq < store.next_to_integrate():
        # Retried by hand after it was skipped: it joins the stream again, at its end.
        seq = store.claim_sequence(job.id)
    # Seconds per stage, returned with the job's result for benchmarks/pipeline.py.
    timings: dict[str, float] = {}
    try:
        analysed = analyse_entry(entry, settings(), timings)
    except Exception as exc:
        transient = isinstance(exc, FetchError) and exc.transient
        if not (transient and job.retries_left):
            # Give up on this one so the articles behind it flow; the failed job stays retryable.
            # A result an earlier attempt left (its worker died before integrating) wins over this failure.
            job.retries_left = 0
            log.warning("article %s (sequence %d) failed: %s: %s", entry.article_id, seq, type(exc).__name__, exc)
            store.put_pending(seq, {"skipped": f"{type(exc).__name__}: {exc}", "article_id": entry.article_id},
                              replace=False)
            integrate_ready(store)
            dispatch(store)
        raise
    store.put_pending(seq, {"analysed": analysed.to_dict(), "revision": entry.fingerprint if entry.update else ""})
    started = time.perf_counter()
    integrated = integrate_ready(store)
    dispatch(store)
    timings["integrate"] = time.perf_counter() - started
    return {"article_id": entry.article_id, "seq": seq, "integrated": integrated, "timings": timings}


def _integrated(store: Store, entry: Entry) -> bool:
    """Whether this entry (an article, or this edit of it) joined its story already."""
    if entry.update:
        return store.has_revision(entry.article_id, entry.fingerprint)
    return store.story_of(entry.article_id) is not None


def analyse_entry(entry: Entry, config: Settings, timings: dict[str, float] | None = None) -> AnalysedArticle:
    timings = {} if timings is None else timings
    started = time.perf_counter()
    page = fetch(entry.url, timeout=config.fetch_timeout, max_bytes=config.fetch_max_bytes,
                 allow_private=entry.allow_private, client=http_client(config.fetch_timeout, config.user_agent))
    if page.content_type not in ("", "text/html", "application/xhtml+xml"):
        raise ExtractError(f"{entry.url}: expected an HTML page, got {page.content_type}")
    fetched = time.perf_counter()
    article = extract_article(page.text(), entry.url, entry.article_id, fallback_title=entry.title,
                              fallback_published=entry.published)
    # A feed's own label of the item's outlet beats the page's site name (aggregators, replays).
    if entry.source:
        article.source = entry.source
    article.feed_url = entry.feed_url
    timings["fetch"], timings["extract"] = fetched - started, time.perf_counter() - fetched
    return analyser().analyse(article, timings)


def integrate_ready(store: Store) -> int:
    """Integrate every pending result whose turn has come; returns how many were integrated."""
    lock = store.integration_lock(LOCK_TIMEOUT)
    if not lock.acquire():
        log.warning("integration lock busy for %.0fs; the holder will carry on", LOCK_TIMEOUT * 2)
        return 0
    done = 0
    config = settings()
    cache = story_cache(store.namespace, config.story_assumed_gap_hours, config.story_quiet_gaps)
    try:
        index: StoryIndex | None = None
        while (payload := store.pending(seq := store.next_to_integrate())) is not None:
            if "skipped" in payload:
                log.warning("sequence %d (%s) skipped: %s", seq, payload.get("article_id"), payload["skipped"])
                store.commit(lock, seq)
                continue
            analysed = AnalysedArticle.from_dict(payload["analysed"])
            revision = payload.get("revision", "")
            home = store.story_of(analysed.article.id)
            if home is not None and (not revision or store.has_revision(analysed.article.id, revision)):
                store.commit(lock, seq)
                continue
            if index is None:
                ensure_watched_stories(store, watched_specs(), analyser())
                index = cache.index(store)
                lock.reacquire()
            now = datetime.now(UTC)
            story = index.get(home) if home is not None else None
            outcome = (revise(analysed, story, store.ledger(story.id), revision, now) if story is not None
                       else integrate(analysed, index, store.ledger, now))
            store.commit(lock, seq, outcome)
            lock.reacquire()
            done += 1
    except BaseException:
        # The index may hold a placement that was never committed.
        cache.drop()
        raise
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    return done
