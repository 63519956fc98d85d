"""The ordered step: an analysed article joins a story, meets its ledger, and may raise an alert.

This step must see a story's articles one at a time and in arrival order; the runtime guarantees
that, so the function itself stays a plain transformation of the state it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pipeline.alerts import build_alert
from pipeline.ledger import compare, record
from pipeline.models import Alert, AnalysedArticle, Ledger, Story
from pipeline.stories import StoryIndex, join_story, start_story


@dataclass
class Outcome:
    story: Story
    ledger: Ledger
    alert: Alert | None
    created: bool


def integrate(analysed: AnalysedArticle, index: StoryIndex, ledger_of: Callable[[str], Ledger],
              now: datetime) -> Outcome:
    story = index.assign(analysed, now)
    if story is None:
        story = start_story(analysed, now)
        index.add(story)
        created = True
    else:
        # A watched story exists before its first article: that article is what creates it.
        created = not story.article_ids
        join_story(story, analysed, now)
    ledger = ledger_of(story.id)
    comparison = compare(ledger, analysed.claims, analysed.article)
    stamp = now.isoformat(timespec="seconds")
    record(ledger, comparison, analysed.article, seen_at=stamp)
    alert = build_alert(story, analysed.article, comparison, created, created_at=stamp)
    return Outcome(story=story, ledger=ledger, alert=alert, created=created)
