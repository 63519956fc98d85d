"""The active stories of one deployment, kept in the worker process between integrations.

Reading and indexing every story costs about half a second at 10,000 stories, and the integration
step needs the index each time a worker takes the lock. So each worker keeps its `StoryIndex` and,
on taking the lock, applies only what other workers committed since (`Store.story_changes`); it
reads everything again only when it fell further behind than the change log reaches.

The index is mutated while an article is placed, before the commit: a failed commit must drop it.
"""

from __future__ import annotations

import functools

from pipeline.stories import StoryIndex, StorySettings
from workers.store import Store


class StoryCache:
    def __init__(self, settings: StorySettings | None = None) -> None:
        self.settings = settings or StorySettings()
        self._index: StoryIndex | None = None
        self._last_change = "0-0"

    def index(self, store: Store) -> StoryIndex:
        """The index as of the last commit; call with the integration lock held."""
        changes = store.story_changes(self._last_change) if self._index is not None else None
        if self._index is None or changes is None:
            stories, self._last_change = store.story_snapshot()
            self._index = StoryIndex(stories, self.settings)
            return self._index
        changed, removed, self._last_change = changes
        for story_id in removed:
            if self._index.get(story_id) is not None:
                self._index.remove(story_id)
        for story_id, story in store.stories_by_id(changed).items():
            if story is not None:
                self._index.add(story)
            elif self._index.get(story_id) is not None:
                self._index.remove(story_id)
        return self._index

    def drop(self) -> None:
        self._index = None


@functools.cache
def story_cache(namespace: str, assumed_gap_hours: float | None, quiet_gaps: float | None) -> StoryCache:
    return StoryCache(StorySettings.timed(assumed_gap_hours, quiet_gaps))
