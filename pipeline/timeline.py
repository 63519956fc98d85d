"""A story's ledger as a timeline people can read: facts in the order they were first reported."""

from __future__ import annotations

from pipeline.models import Ledger, Story


def format_timeline(story: Story, ledger: Ledger) -> str:
    watched = " (watched)" if story.watched else ""
    sources = sorted(set(story.sources))
    lines = [
        f"{story.title}{watched}",
        f"id {story.id} · {len(story.article_ids)} articles from {len(sources)} sources · "
        f"{len(ledger.facts)} facts · {len(ledger.contradictions)} contradictions",
        "",
    ]
    conflicts: dict[str, list[str]] = {}
    for item in ledger.contradictions:
        conflicts.setdefault(item.fact_id, []).append(
            f"      ! {item.kind} conflict, {item.claim.source} ({item.claim.seen_at}): “{item.claim.text}”"
        )
    for item in ledger.updates:
        conflicts.setdefault(item.supersedes, []).append(
            f"      ~ updated by {item.claim.source} ({item.claim.seen_at}): “{item.claim.text}”"
        )
    for fact in sorted(ledger.facts, key=lambda f: f.first.seen_at):
        lines.append(f"{fact.first.seen_at}  {fact.first.source}: “{fact.text}”")
        if fact.confirmations:
            confirmed = ", ".join(sorted({c.source for c in fact.confirmations}))
            lines.append(f"      = confirmed by {confirmed}")
        lines.extend(conflicts.get(fact.id, []))
    return "\n".join(lines)
