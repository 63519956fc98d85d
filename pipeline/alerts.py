"""Alerts: what changed in a story, told with the sources' own sentences.

Every field quotes a source; the one line of our own is the summary, built from the quoted parts.
"""

from __future__ import annotations

from pipeline.models import Alert, Article, Comparison, Story, stable_id

_SUMMARY_QUOTE = 110


def _clip(text: str, size: int = _SUMMARY_QUOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


def build_alert(
    story: Story,
    article: Article,
    comparison: Comparison,
    created: bool,
    created_at: str,
    merged: list[str] | None = None,
    revision: str = "",
) -> Alert | None:
    """The alert an article raises in its story; None when it adds, contradicts and merges nothing."""
    merged = merged or []
    if not created and not comparison.changes_anything and not merged:
        return None
    kind = "story.created" if created else "story.updated"
    new_facts = [{"text": claim.text, "claim_id": claim.id} for claim in comparison.new_facts]
    contradictions = [
        {
            "text": claim.text,
            "kind": kind_name,
            "claim_id": claim.id,
            "detail": comparison.details.get(claim.id, ""),
            "conflicts_with": {
                "text": fact.text,
                "article_id": fact.first.article_id,
                "source": fact.first.source,
                "fact_id": fact.id,
            },
        }
        for claim, fact, kind_name in comparison.contradictions
    ]
    updates = [
        {
            "text": claim.text,
            "claim_id": claim.id,
            "detail": comparison.details.get(claim.id, ""),
            "supersedes": {
                "text": fact.text,
                "article_id": fact.first.article_id,
                "source": fact.first.source,
                "fact_id": fact.id,
            },
        }
        for claim, fact in comparison.updates
    ]
    return Alert(
        id=stable_id("alert", story.id, article.id, kind, revision),
        type=kind,  # type: ignore[arg-type]
        created_at=created_at,
        story={"id": story.id, "title": story.title, "watched": story.watched, "merged": merged},
        article={
            "id": article.id,
            "url": article.url,
            "source": article.source,
            "title": article.title,
            "published": article.published,
            "revision": revision,
        },
        new_facts=new_facts,
        contradictions=contradictions,
        updates=updates,
        corroborated=len(comparison.corroborations),
        summary=summarise(story, article, comparison, created, merged),
    )


def summarise(story: Story, article: Article, comparison: Comparison, created: bool, merged: list[str]) -> str:
    """One line, most important change first: a contradiction, then new facts, then merges and confirmations."""
    line = _lead(story, article, comparison, created)
    if merged:
        line += f"; merged {len(merged)} stor{'ies' if len(merged) > 1 else 'y'} into this one ({', '.join(merged)})"
    return line


def _lead(story: Story, article: Article, comparison: Comparison, created: bool) -> str:
    source = article.source or article.id
    if comparison.contradictions:
        claim, fact, kind = comparison.contradictions[0]
        more = len(comparison.contradictions) - 1
        line = (
            f"{kind} conflict: {source} says “{_clip(claim.text, 80)}” but {fact.first.source} said "
            f"“{_clip(fact.text, 80)}”"
        )
        if more:
            line += f" (+{more} more)"
        if comparison.new_facts:
            line += f"; {len(comparison.new_facts)} new fact(s)"
        return line
    if created:
        lead = f"New story “{_clip(story.title, 80)}” from {source}"
        if comparison.new_facts:
            return f"{lead}: “{_clip(comparison.new_facts[0].text)}”"
        return lead
    count = len(comparison.new_facts)
    if comparison.updates and not count:
        claim, fact = comparison.updates[0]
        return f"update from {source}: “{_clip(claim.text, 80)}” (was “{_clip(fact.text, 60)}”)"
    if not count:
        return f"{source} reported nothing new" + (
            f"; confirms {len(comparison.corroborations)}" if comparison.corroborations else ""
        )
    line = f"{count} new fact{'s' if count != 1 else ''} from {source}: “{_clip(comparison.new_facts[0].text)}”"
    if comparison.corroborations:
        line += f"; confirms {len(comparison.corroborations)}"
    return line


def format_alert(alert: Alert, max_facts: int = 5) -> str:
    """The alert for a terminal: a headline, the summary, then the quoted changes."""
    story = alert.story
    watched = " (watched)" if story.get("watched") else ""
    article = alert.article
    lines = [
        f"[{alert.type}] {story.get('title', '')}{watched}  story={story.get('id')}",
        f"  article {article.get('id')} from {article.get('source')} ({article.get('published') or 'undated'})",
        f"  {alert.summary}",
    ]
    for item in alert.contradictions:
        other = item["conflicts_with"]
        lines.append(f"  ! {item['kind']} conflict: “{_clip(item['text'], 200)}”")
        lines.append(f"      vs {other['source']}: “{_clip(other['text'], 200)}”")
    for item in alert.updates:
        lines.append(f"  ~ update: “{_clip(item['text'], 200)}”")
        lines.append(f"      was {item['supersedes']['source']}: “{_clip(item['supersedes']['text'], 200)}”")
    for item in alert.new_facts[:max_facts]:
        lines.append(f"  + “{_clip(item['text'], 200)}”")
    if len(alert.new_facts) > max_facts:
        lines.append(f"  + … and {len(alert.new_facts) - max_facts} more new facts")
    if alert.corroborated:
        lines.append(f"  = confirms {alert.corroborated} known fact{'s' if alert.corroborated != 1 else ''}")
    return "\n".join(lines)
