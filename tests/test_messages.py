"""Messages for people: severity, ordering, Markdown and plain text, quotes with sources and links."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.messages import by_importance, render, render_console, severity
from pipeline.models import Alert, stable_id


def make_alert(story: str, fact: str, *, conflict: str | None = None, watched: bool = False,
               created: bool = False, source: str = "Wire", article: str | None = None) -> Alert:
    """An alert as the pipeline builds it: one new fact, optionally one contradiction."""
    article_id = article or stable_id(story, fact)
    contradictions = []
    if conflict is not None:
        contradictions.append({"text": fact, "kind": "number", "claim_id": "c1",
                               "conflicts_with": {"text": conflict, "article_id": "earlier", "source": "Herald",
                                                  "fact_id": "f1"}})
    return Alert(
        id=stable_id("alert", story, article_id),
        type="story.created" if created else "story.updated",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        story={"id": story, "title": f"Story {story}", "watched": watched},
        article={"id": article_id, "url": f"https://news.example/{article_id}", "source": source,
                 "title": f"Report {article_id}", "published": "2026-03-01"},
        new_facts=[] if conflict else [{"text": fact, "claim_id": "c1"}],
        contradictions=contradictions,
        corroborated=1,
        summary=f"{source}: “{fact}”",
    )


def test_severity_ranks_contradictions_then_watched() -> None:
    plain = make_alert("s", "Ten ships sailed.")
    watched = make_alert("s", "Ten ships sailed.", watched=True)
    conflict = make_alert("s", "Twelve ships sailed.", conflict="Ten ships sailed.")
    watched_conflict = make_alert("s", "Twelve ships sailed.", conflict="Ten ships sailed.", watched=True)
    assert [severity(a) for a in (plain, watched, conflict, watched_conflict)] == ["low", "medium", "high",
                                                                                   "critical"]
    assert by_importance([plain, conflict, watched]) == [conflict, watched, plain]


def test_markdown_quotes_sources_and_links_conflict_first() -> None:
    alert = make_alert("s", "Twelve ships sailed.", conflict="Ten ships sailed.")
    message = render([alert], urls={"earlier": "https://herald.example/earlier"})
    assert message.title == "[HIGH] Story s: 1 conflicting report"
    md = message.markdown
    assert "> “Twelve ships sailed.”" in md and f"[Wire]({alert.article['url']})" in md
    assert "> “Ten ships sailed.”" in md and "[Herald](https://herald.example/earlier)" in md
    assert md.index("**Conflicts**") < md.index("Article: [")
    text = message.text
    assert "**" not in text and "](" not in text
    assert f"Wire <{alert.article['url']}>" in text and "Herald <https://herald.example/earlier>" in text


def test_digest_puts_the_most_severe_first() -> None:
    low = make_alert("s", "A port reopened.")
    high = make_alert("s", "Twelve ships sailed.", conflict="Ten ships sailed.")
    message = render([low, high])
    assert message.title == "[HIGH] Story s: 2 updates"
    assert message.markdown.index("Twelve ships") < message.markdown.index("A port reopened")


def test_console_reuses_the_terminal_format_with_colour() -> None:
    alert = make_alert("s", "Twelve ships sailed.", conflict="Ten ships sailed.")
    plain = render_console([alert], colour=False)
    assert plain.startswith("[HIGH] [story.updated] Story s") and "\033[" not in plain
    coloured = render_console([alert], colour=True)
    assert "\033[31m" in coloured and "Twelve ships sailed." in coloured
