"""Repairs by hand against a live deployment: merge two stories, move or detach an article.

Each repair takes the integration lock, so it lands between two articles' integrations and never
inside one; it reads the state under the lock, lets `pipeline.curation` work out the result and
commits stories, ledgers, article homes, the story change log and its one alert in one transaction
fenced by the lock (`Store.commit_repair`). Running workers see the change through the story change
log the next time they take the lock.

A repeated command finds its work done and says so without writing anything, so no alert repeats.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.exceptions import LockError

from pipeline.curation import CurationError, Merge, Move, merge, move
from pipeline.models import Story
from pipeline.stories import StorySettings
from workers.store import Repair, Store

# As long as a worker holds it per article: a repair waits at most about twice this for its turn.
LOCK_TIMEOUT = 20.0


class UnknownId(CurationError):
    """No story or article of that id in the namespace."""


@dataclass(frozen=True)
class AlreadyDone:
    """The repair asked for is the state already: nothing was written."""

    message: str


class _Locked:
    """The integration lock for one repair; a busy lock is an error for people, not a wait forever."""

    def __init__(self, store: Store) -> None:
        self.lock = store.integration_lock(LOCK_TIMEOUT)

    def __enter__(self) -> _Locked:
        if not self.lock.acquire():
            raise CurationError(f"the integration lock stayed busy for {LOCK_TIMEOUT * 2:.0f}s; try again")
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(LockError):
            self.lock.release()


def _story(store: Store, story_id: str) -> Story:
    story = store.story(story_id)
    if story is None:
        raise UnknownId(f"no story {story_id!r} in namespace {store.namespace}")
    return story


def _home(store: Store, article_id: str) -> Story:
    story_id = store.story_of(article_id)
    if story_id is None:
        raise UnknownId(f"no article {article_id!r} in namespace {store.namespace}")
    story = store.story(story_id)
    if story is None:
        raise CurationError(f"article {article_id} belongs to story {story_id}, which no longer exists")
    return story


def merge_stories(
    store: Store, a_id: str, b_id: str, settings: StorySettings | None = None, now: datetime | None = None
) -> Merge | AlreadyDone:
    """Fold story ``b_id`` into ``a_id`` (or ``a_id`` into a watched ``b_id``)."""
    with _Locked(store) as held:
        a, b = store.story(a_id), store.story(b_id)
        # Only a story that is gone can have been merged: an id in use again is a story of its own.
        if a is not None and b is None and b_id in a.merged_from:
            return AlreadyDone(f"story {b_id} was already merged into {a_id}")
        if b is not None and a is None and a_id in b.merged_from:
            return AlreadyDone(f"story {a_id} was already merged into {b_id}")
        a, b = _story(store, a_id), _story(store, b_id)
        done = merge(a, b, store.ledger(a.id), store.ledger(b.id), now or datetime.now(UTC), settings)
        store.commit_repair(
            held.lock,
            Repair(
                stories=((done.kept, done.ledger),),
                removed=(done.gone.id,),
                homes=tuple((article_id, done.kept.id) for article_id in done.kept.article_ids),
                alert=done.alert,
            ),
        )
        return done


def move_article(
    store: Store,
    article_id: str,
    target_id: str | None,
    settings: StorySettings | None = None,
    now: datetime | None = None,
) -> Move | AlreadyDone:
    """Move the article to story ``target_id``, or into a new story of its own when it is None."""
    with _Locked(store) as held:
        origin = _home(store, article_id)
        target = _story(store, target_id) if target_id is not None else None
        if target is not None and target.id == origin.id:
            return AlreadyDone(f"article {article_id} is already in story {origin.id}")
        if target is None and origin.article_ids == [article_id] and not origin.watched:
            return AlreadyDone(f"article {article_id} is already alone in story {origin.id}")
        done = move(
            store.analysed(article_id),
            article_id,
            origin,
            store.ledger(origin.id),
            target,
            store.ledger(target.id) if target is not None else None,
            now or datetime.now(UTC),
            settings,
        )
        written = [(done.target, done.target_ledger)]
        if not done.origin_removed:
            written.append((done.origin, done.origin_ledger))
        store.commit_repair(
            held.lock,
            Repair(
                stories=tuple(written),
                removed=(done.origin.id,) if done.origin_removed else (),
                homes=((article_id, done.target.id),),
                alert=done.alert,
            ),
        )
        return done
