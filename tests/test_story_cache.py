"""Workers keep their story index between integrations and apply only what others committed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from pipeline.integrate import Outcome
from pipeline.models import Ledger, Story
from workers import store as store_module
from workers.server import EmbeddedServer
from workers.store import Store
from workers.story_cache import StoryCache, story_cache


def story(story_id: str, seed: int) -> Story:
    centroid = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return Story(id=story_id, title=story_id, watched=False, centroid=centroid / np.linalg.norm(centroid),
                 created_at=f"2026-01-01T00:00:{seed:02d}+00:00", updated_at="2026-01-01T00:00:00+00:00",
                 article_ids=[f"{story_id}-a"], entities={f"name{seed}": 1})


def commit(store: Store, kept: Story, absorbed: list[Story] | None = None) -> None:
    lock = store.integration_lock(5)
    assert lock.acquire()
    try:
        seq = store.next_to_integrate()
        store.commit(lock, seq, Outcome(article_id=kept.article_ids[-1], story=kept,
                                        ledger=Ledger(story_id=kept.id), alert=None, created=True,
                                        absorbed=absorbed or []))
    finally:
        lock.release()


@pytest.fixture
def store(embedded: EmbeddedServer) -> Iterator[Store]:
    store = Store(redis.Redis.from_url(embedded.url), f"cache-{uuid.uuid4().hex[:8]}")
    yield store
    store.client.close()


def ids(cache: StoryCache, store: Store) -> dict[str, list[str]]:
    return {item.id: item.article_ids for item in cache.index(store)}


def test_a_worker_sees_what_another_committed(store: Store) -> None:
    mine, theirs = StoryCache(), StoryCache()
    commit(store, story("s1", 1))
    assert ids(mine, store) == ids(theirs, store) == {"s1": ["s1-a"]}

    commit(store, story("s2", 2))
    grown = story("s1", 1)
    grown.article_ids.append("s1-b")
    commit(store, grown)
    assert ids(mine, store) == {"s1": ["s1-a", "s1-b"], "s2": ["s2-a"]}

    # s3 absorbs s1: the absorbed story leaves every worker's index, and a story's row moves.
    merged = story("s3", 3)
    merged.article_ids += ["s1-a", "s1-b"]
    commit(store, merged, absorbed=[grown])
    assert ids(theirs, store) == ids(mine, store) == {"s2": ["s2-a"], "s3": ["s3-a", "s1-a", "s1-b"]}
    index = theirs.index(store)
    assert index.get("s1") is None and index.get("s3") is not None


def test_refresh_reads_only_the_changed_stories(store: Store) -> None:
    cache = StoryCache()
    for i in range(5):
        commit(store, story(f"s{i}", i))
    before = cache.index(store)
    kept = {item.id: item for item in before}
    commit(store, story("s5", 5))
    after = cache.index(store)
    assert after is before and len(after) == 6
    # Stories nobody touched are the very objects read before, not read again.
    assert all(after.get(story_id) is item for story_id, item in kept.items())


def test_a_worker_behind_the_trimmed_log_reads_everything(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = story_cache(store.namespace, 6.0, 3.0)
    commit(store, story("s0", 0))
    before = cache.index(store)
    monkeypatch.setattr(store_module, "STORY_CHANGES_KEPT", 1)
    for i in range(1, 200):
        commit(store, story(f"s{i}", i % 60))
    assert store.client.xlen(store.key("stories", "changes")) < 150
    after = cache.index(store)
    assert after is not before and len(after) == 200
    # The index read again keeps the deployment's settings ([stories] in storywatch.toml).
    assert before.settings is after.settings
    assert (after.settings.assumed_gap_hours, after.settings.quiet_gaps) == (6.0, 3.0)


def test_a_dropped_index_is_read_again(store: Store) -> None:
    cache = StoryCache()
    commit(store, story("s1", 1))
    index = cache.index(store)
    index.get("s1").article_ids.append("never-committed")  # type: ignore[union-attr]
    cache.drop()
    assert ids(cache, store) == {"s1": ["s1-a"]}
