"""Watched stories from config/stories/ registered in a deployment, re-registered when their config changes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime

from pipeline.analysis import Analyser
from pipeline.config import WatchedStorySpec
from pipeline.corpus import read_document
from pipeline.models import Article, stable_id
from pipeline.stories import watched_story
from workers.store import Store


@functools.cache
def fingerprint(spec: WatchedStorySpec) -> str:
    parts = [spec.id, spec.title, *spec.include, "|", *spec.exclude, "|"]
    parts += [stable_id(path.name, path.read_text(encoding="utf-8")) for path in spec.seeds]
    return stable_id(*parts)


def ensure_watched_stories(store: Store, specs: Sequence[WatchedStorySpec], analyser: Analyser) -> None:
    """Make each spec's story exist with a centroid from its seeds; members and ledger are kept."""
    for spec in specs:
        mark = fingerprint(spec)
        if store.watched_fingerprint(spec.id) == mark:
            continue
        seeds = []
        for path in spec.seeds:
            document = read_document(path)
            article = Article(id=document.id, url=path.as_uri(), source="seed", title=document.title,
                              text=document.text, published=document.published)
            seeds.append(analyser.analyse(article))
        story = watched_story(spec, seeds, datetime.now(UTC))
        existing = store.story(spec.id)
        if existing is not None:
            story.article_ids, story.sources, story.created_at = (
                existing.article_ids, existing.sources, existing.created_at)
        store.save_watched(story, mark)
