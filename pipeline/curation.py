"""Repairs by hand: fold one story into another, move an article to another story or to one of its own.

Plain transformations like the rest of `pipeline/`: each takes stories and ledgers, returns the state
to write and the one alert that tells people what a person changed. Inputs are never mutated, so a
caller whose write fails holds the state it read.

A moved article's facts are not copied across: they leave the old ledger and the article's claims
meet the target ledger through `pipeline.ledger.compare`/`record`, as if it had arrived there, so
the target learns what is new to it, what it already knew and what conflicts with it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from pipeline.alerts import build_alert
from pipeline.integrate import merge_ledgers
from pipeline.ledger import compare, record
from pipeline.models import Alert, AnalysedArticle, Article, Claim, Comparison, Ledger, SourceRef, Story, stable_id
from pipeline.stories import StorySettings, join_story, merge_stories, start_story


class CurationError(ValueError):
    """A repair that cannot be made as asked; the message is one line for people."""


@dataclass(frozen=True)
class Merge:
    """``kept`` now holds ``gone``; ``gone`` and its ledger are to be deleted."""

    kept: Story
    ledger: Ledger
    gone: Story
    alert: Alert


@dataclass(frozen=True)
class Move:
    """An article left ``origin`` for ``target`` (a new story when detached)."""

    article_id: str
    origin: Story
    origin_ledger: Ledger
    # The origin lost its last article and is not watched: delete it instead of writing it.
    origin_removed: bool
    target: Story
    target_ledger: Ledger
    created: bool
    alert: Alert


def _stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


def merge(
    a: Story, b: Story, ledger_a: Ledger, ledger_b: Ledger, now: datetime, settings: StorySettings | None = None
) -> Merge:
    """Fold ``b`` into ``a``; a watched ``b`` is kept instead of an unwatched ``a``, since config names it."""
    if a.id == b.id:
        raise CurationError(f"cannot merge story {a.id} into itself")
    if a.watched and b.watched:
        raise CurationError(f"{a.id} and {b.id} are both watched stories; storywatch never merges two watched stories")
    if b.watched:
        a, b, ledger_a, ledger_b = b, a, ledger_b, ledger_a
    kept = copy.deepcopy(a)
    merge_stories(kept, b, now, settings)
    ledger = merge_ledgers(copy.deepcopy(ledger_a), copy.deepcopy(ledger_b))
    stamp = _stamp(now)
    gained = ", ".join(sorted(set(b.sources) - set(a.sources))) or "no new sources"
    summary = (
        f"Merged by hand: story “{b.title}” ({b.id}: {len(b.article_ids)} article(s), "
        f"{len(ledger_b.facts)} fact(s); {gained}) folded into this one"
    )
    alert = Alert(
        id=stable_id("alert", "merge", kept.id, b.id, stamp),
        type="story.updated",
        created_at=stamp,
        story={
            "id": kept.id,
            "title": kept.title,
            "watched": kept.watched,
            "merged": [b.id],
            "curated": {"action": "merge", "from": b.id},
        },
        # A merge has no article of its own: messages quote its facts as the folded story's, which they are.
        article={
            "id": "",
            "url": None,
            "source": f"story {b.id} (merged by hand)",
            "title": f"merge of story “{b.title}”",
            "published": None,
            "revision": "",
        },
        # What the kept story's readers learn from the merge: the folded story's facts.
        new_facts=[{"text": fact.text, "claim_id": fact.id} for fact in ledger_b.facts],
        contradictions=[],
        corroborated=0,
        summary=summary,
    )
    return Merge(kept=kept, ledger=ledger, gone=b, alert=alert)


def without_article(ledger: Ledger, article_id: str) -> Ledger:
    """The ledger as if the article had never been in it, keeping what other articles reported.

    A fact the article reported first stays when another article confirmed it, now first reported by
    the earliest of them in that article's own words. A contradiction another article raised against
    a fact that leaves goes with it: its claim kept no vector, so it cannot become a fact of its own.
    """
    facts = []
    promoted: dict[str, SourceRef] = {}
    for fact in ledger.facts:
        confirmations = [copy.copy(c) for c in fact.confirmations if c.article_id != article_id]
        if fact.first.article_id != article_id:
            facts.append(replace(fact, confirmations=confirmations))
        elif confirmations:
            first, *rest = sorted(confirmations, key=lambda ref: ref.seen_at)
            facts.append(replace(fact, text=first.text or fact.text, first=first, confirmations=rest))
            promoted[fact.id] = first
    kept = {fact.id for fact in facts}
    contradictions = [
        replace(c, conflicts_with=promoted.get(c.fact_id, c.conflicts_with))
        for c in ledger.contradictions
        if c.claim.article_id != article_id and c.fact_id in kept
    ]
    return Ledger(
        story_id=ledger.story_id,
        facts=facts,
        contradictions=contradictions,
        articles=[copy.copy(a) for a in ledger.articles if a.article_id != article_id],
    )


def claims_from_ledger(ledger: Ledger, article_id: str) -> list[Claim]:
    """The article's claims as far as the ledger kept them, for an article whose analysis is gone.

    Facts it reported first come back whole. A confirmation kept only its sentence: it takes the
    vector and slots of the fact it restated. Contradictions it raised kept neither and are lost.
    """
    claims = [
        Claim(id=f.id, article_id=article_id, text=f.text, slots=f.slots, vector=f.vector)
        for f in ledger.facts
        if f.first.article_id == article_id
    ]
    for fact in ledger.facts:
        for ref in fact.confirmations:
            if ref.article_id == article_id and ref.text:
                claims.append(
                    Claim(
                        id=stable_id("claim", article_id, ref.text),
                        article_id=article_id,
                        text=ref.text,
                        slots=fact.slots,
                        vector=fact.vector,
                    )
                )
    return claims


def article_from_ledger(ledger: Ledger, article_id: str) -> Article:
    """The article's identity from the ledger's reports of it (its title and text were not kept)."""
    refs = [ref for ref in ledger.articles if ref.article_id == article_id]
    if not refs:
        return Article(id=article_id, url="", source="", title="", text="")
    return Article(id=article_id, url=refs[-1].url, source=refs[-1].source, title="", text="")


def _first_seen(ledger: Ledger, article_id: str, default: str) -> str:
    return next((ref.seen_at for ref in ledger.articles if ref.article_id == article_id), default)


def _leave(origin: Story, ledger: Ledger, article_id: str, source: str) -> tuple[Story, bool]:
    """The origin without the article. Its centroid and names keep the article's share: a running
    mean cannot take one member out, and the members' vectors are not all kept to rebuild it."""
    left = copy.deepcopy(origin)
    left.article_ids = [a for a in left.article_ids if a != article_id]
    still = {ref.source for ref in ledger.articles}
    if source and source not in still:
        left.sources = [s for s in left.sources if s != source]
    return left, not left.article_ids and not left.watched


def move(
    analysed: AnalysedArticle | None,
    article_id: str,
    origin: Story,
    origin_ledger: Ledger,
    target: Story | None,
    target_ledger: Ledger | None,
    now: datetime,
    settings: StorySettings | None = None,
) -> Move:
    """Move the article from ``origin`` to ``target``, or to a new story of its own when ``target`` is None.

    ``analysed`` is the article as integrated (claims with vectors); None when it is no longer kept,
    and then its claims are rebuilt from the origin's ledger (`claims_from_ledger`) and the target's
    centroid stays as it was.
    """
    if article_id not in origin.article_ids:
        raise CurationError(f"article {article_id} is not in story {origin.id}")
    if target is not None and target.id == origin.id:
        raise CurationError(f"article {article_id} is already in story {origin.id}")
    stamp = _stamp(now)
    article = analysed.article if analysed is not None else article_from_ledger(origin_ledger, article_id)
    claims = analysed.claims if analysed is not None else claims_from_ledger(origin_ledger, article_id)
    # The ledger dates a report by when its outlet was first seen saying it, wherever it is filed.
    seen_at = _first_seen(origin_ledger, article_id, stamp)
    left_ledger = without_article(origin_ledger, article_id)
    left, removed = _leave(origin, left_ledger, article_id, article.source)

    created = target is None
    if target is None:
        new = _new_story(analysed, article, origin, now, settings)
        ledger = Ledger(story_id=new.id)
    else:
        new, ledger = copy.deepcopy(target), copy.deepcopy(target_ledger or Ledger(story_id=target.id))
        if analysed is not None:
            join_story(new, analysed, now, settings)
        else:
            new.article_ids.append(article_id)
            if article.source and article.source not in new.sources:
                new.sources.append(article.source)
    comparison = compare(ledger, claims, article)
    record(ledger, comparison, article, seen_at=seen_at)
    action = "detach" if created else "move"
    # As on arrival: the first article of a watched story (which exists before it) creates the story.
    first = created or (target is not None and not target.article_ids)
    alert = _moved_alert(new, article, comparison, first, stamp, origin.id, action)
    return Move(
        article_id=article_id,
        origin=left,
        origin_ledger=left_ledger,
        origin_removed=removed,
        target=new,
        target_ledger=ledger,
        created=created,
        alert=alert,
    )


def _new_story(
    analysed: AnalysedArticle | None, article: Article, origin: Story, now: datetime, settings: StorySettings | None
) -> Story:
    # Not start_story's id: that one is derived from the article alone and may be the origin's own.
    story_id = stable_id("story", "detached", article.id, _stamp(now))
    if analysed is not None:
        story = start_story(analysed, now, settings)
        story.id = story_id
        return story
    # Without the article's vector the origin's centroid is the nearest thing known about it.
    return Story(
        id=story_id,
        title=article.title or f"article {article.id}",
        watched=False,
        centroid=np.array(origin.centroid, dtype=np.float32, copy=True),
        created_at=_stamp(now),
        updated_at=_stamp(now),
        article_ids=[article.id],
        sources=[article.source] if article.source else [],
        weight=1.0,
    )


def _moved_alert(
    story: Story, article: Article, comparison: Comparison, created: bool, stamp: str, origin_id: str, action: str
) -> Alert:
    """The alert the story raises for the article, always raised and said to be a person's doing."""
    note = (
        f"Detached by hand from story {origin_id} into a story of its own"
        if action == "detach"
        else f"Moved by hand from story {origin_id}"
    )
    base = build_alert(story, article, comparison, created, created_at=stamp)
    if base is None:
        base = build_alert(story, article, Comparison(), created=True, created_at=stamp)
        assert base is not None
        base = replace(
            base,
            type="story.updated",
            corroborated=len(comparison.corroborations),
            summary=f"{article.source or article.id} reported nothing new here"
            + (f"; confirms {len(comparison.corroborations)}" if comparison.corroborations else ""),
        )
    return replace(
        base,
        # The same article may move back and forth: each move is its own alert.
        id=stable_id("alert", action, story.id, article.id, origin_id, stamp),
        story={**base.story, "curated": {"action": action, "from": origin_id, "article": article.id}},
        summary=f"{note}: {base.summary}",
    )
