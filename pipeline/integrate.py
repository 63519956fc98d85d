"""The ordered step: an analysed article joins a story, meets its ledger, and may raise an alert.

This step must see a story's articles one at a time and in arrival order; the runtime guarantees
that, so the function itself stays a plain transformation of the state it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.alerts import build_alert
from pipeline.ledger import compare, is_seed, record, seed_arrival
from pipeline.models import Alert, AnalysedArticle, Ledger, Story
from pipeline.stories import StoryIndex


@dataclass
class Outcome:
    article_id: str
    story: Story
    ledger: Ledger
    alert: Alert | None
    created: bool
    # Stories folded into ``story`` by this article: they and their ledgers are gone.
    absorbed: list[Story] = field(default_factory=list)
    # The version of an edited article this outcome integrated ("" for a first version).
    revision: str = ""


def merge_ledgers(kept: Ledger, absorbed: Ledger) -> Ledger:
    """One ledger holding both stories' facts, contradictions and articles, in the order they were seen."""
    return Ledger(
        story_id=kept.story_id,
        facts=sorted(kept.facts + absorbed.facts, key=lambda f: f.first.seen_at),
        contradictions=sorted(kept.contradictions + absorbed.contradictions, key=lambda c: c.claim.seen_at),
        articles=sorted(kept.articles + absorbed.articles, key=lambda a: a.seen_at),
    )


def integrate(
    analysed: AnalysedArticle, index: StoryIndex, ledger_of: Callable[[str], Ledger], now: datetime
) -> Outcome:
    placement = index.place(analysed, now)
    story = placement.story
    # A watched story exists before its first article: that article is what creates it.
    created = placement.created or story.article_ids == [analysed.article.id]
    absorbed = [gone for _, gone in placement.merged]
    ledger = ledger_of(story.id)
    for gone in absorbed:
        ledger = merge_ledgers(ledger, ledger_of(gone.id))
    if is_seed(ledger, analysed.article.id):
        # Its claims are the story's baseline already; recording it again is a no-op.
        comparison = seed_arrival(ledger, analysed.claims, analysed.article)
    else:
        comparison = compare(ledger, analysed.claims, analysed.article)
    stamp = now.isoformat(timespec="seconds")
    record(ledger, comparison, analysed.article, seen_at=stamp)
    alert = build_alert(
        story, analysed.article, comparison, created, created_at=stamp, merged=[gone.id for gone in absorbed]
    )
    return Outcome(
        article_id=analysed.article.id, story=story, ledger=ledger, alert=alert, created=created, absorbed=absorbed
    )


def revise(analysed: AnalysedArticle, story: Story, ledger: Ledger, revision: str, now: datetime) -> Outcome:
    """An article of ``story`` came back edited: what the new text adds to or contradicts in the ledger.

    Its unchanged sentences meet its own earlier facts and count for nothing; a changed figure or
    place conflicts with the earlier version, so the alert says what the silent edit changed.
    """
    comparison = compare(ledger, analysed.claims, analysed.article)
    stamp = now.isoformat(timespec="seconds")
    record(ledger, comparison, analysed.article, seen_at=stamp, revision=revision)
    story.updated_at = stamp
    alert = build_alert(story, analysed.article, comparison, created=False, created_at=stamp, revision=revision)
    return Outcome(
        article_id=analysed.article.id, story=story, ledger=ledger, alert=alert, created=False, revision=revision
    )
