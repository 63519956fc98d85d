"""Watched stories from config/stories/ registered in a deployment, re-registered when their config changes.

Registering one also records its seed documents in its ledger (`pipeline.ledger.record_seeds`): they
are the baseline the first feed article is compared with.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime

from pipeline.analysis import Analyser
from pipeline.config import WatchedStorySpec
from pipeline.corpus import read_document
from pipeline.ledger import record_seeds
from pipeline.models import Article, stable_id
from pipeline.stories import watched_story
from workers.store import Store


@functools.cache
def fingerprint(spec: WatchedStorySpec) -> str:
    parts = [spec.id, spec.title, *spec.include, "|", *spec.exclude, "|"]
    parts += [stable_id(path.name, path.read_text(encoding="utf-8")) for path in spec.seeds]
    return stable_id(*parts)


def ensure_watched_stories(store: Store, specs: Sequence[WatchedStorySpec], analyser: Analyser) -> None:
    """Make each spec's story exist with a centroid from its seeds and the seeds in its ledger; members
    and the ledger's other entries are kept."""
    for spec in specs:
        mark = fingerprint(spec)
        if store.watched_fingerprint(spec.id) == mark:
            continue
        seeds = []
        for path in spec.seeds:
            document = read_document(path)
            # The file names the seed in alerts that quote it: it has no outlet of its own.
            article = Article(
                id=document.id,
                url=path.as_uri(),
                source=f"seed {path.name}",
                title=document.title,
                text=document.text,
                published=document.published,
            )
            seeds.append(analyser.analyse(article))
        now = datetime.now(UTC)
        story = watched_story(spec, seeds, now)
        existing = store.story(spec.id)
        if existing is not None:
            story.article_ids, story.sources, story.created_at = (
                existing.article_ids,
                existing.sources,
                existing.created_at,
            )
        ledger = store.ledger(spec.id)
        record_seeds(ledger, seeds, registered_at=now.isoformat(timespec="seconds"))
        store.save_watched(story, mark, ledger)
