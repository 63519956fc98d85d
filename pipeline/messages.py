"""Alerts as messages for people: Markdown for chat, plain text for e-mail, colour for a terminal.

Pure formatting: every function takes alerts (and the URLs of the articles they quote) and returns
text. The most important change leads: contradictions, then new facts, then confirmations; in a
digest the most severe alert comes first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.alerts import format_alert
from pipeline.models import Alert

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
MAX_FACTS = 5


def severity_rank(alert: Alert) -> int:
    """0..3: a contradiction outranks a new fact, and a watched story lifts either by one step."""
    rank = 2 if alert.contradictions else 0
    if alert.story.get("watched"):
        rank += 1
    return rank


def severity(alert: Alert) -> str:
    return SEVERITIES[severity_rank(alert)]


def by_importance(alerts: Sequence[Alert]) -> list[Alert]:
    """Most severe first; alerts of equal severity keep their arrival order."""
    return sorted(alerts, key=lambda alert: -severity_rank(alert))


@dataclass(frozen=True)
class Message:
    title: str
    markdown: str
    text: str


def _headline(alert: Alert) -> str:
    if alert.contradictions:
        count = len(alert.contradictions)
        return f"{count} conflicting report{'s' if count != 1 else ''}"
    if alert.type == "story.created":
        return "new story"
    count = len(alert.new_facts)
    return f"{count} new fact{'s' if count != 1 else ''}"


class _Style:
    """The few constructs that differ between Markdown and plain text."""

    def __init__(self, markdown: bool) -> None:
        self.markdown = markdown

    def heading(self, text: str) -> str:
        return f"**{text}**" if self.markdown else text.upper()

    def link(self, label: str, url: str | None) -> str:
        if not url:
            return label
        return f"[{label}]({url})" if self.markdown else f"{label} <{url}>"

    def quote(self, text: str, source: str, url: str | None) -> list[str]:
        said = " ".join(text.split())
        if self.markdown:
            return [f"> “{said}”", f"> — {self.link(source, url)}"]
        return [f"  “{said}”", f"    — {self.link(source, url)}"]


def _sections(alert: Alert, urls: Mapping[str, str], style: _Style) -> list[str]:
    article = alert.article
    source = article.get("source") or article.get("id") or "source"
    lines = [alert.summary, ""]
    if alert.contradictions:
        lines.append(style.heading("Conflicts"))
        for item in alert.contradictions:
            other = item["conflicts_with"]
            lines.append(f"{item['kind']} conflict:")
            lines += style.quote(item["text"], source, article.get("url"))
            lines.append("contradicts what was reported before:")
            lines += style.quote(other["text"], other.get("source") or "earlier report",
                                 urls.get(other.get("article_id", "")))
            lines.append("")
    if alert.new_facts:
        lines.append(style.heading("New facts"))
        for item in alert.new_facts[:MAX_FACTS]:
            lines += style.quote(item["text"], source, article.get("url"))
        if len(alert.new_facts) > MAX_FACTS:
            lines.append(f"… and {len(alert.new_facts) - MAX_FACTS} more")
        lines.append("")
    if alert.corroborated:
        lines.append(f"Confirms {alert.corroborated} known fact{'s' if alert.corroborated != 1 else ''}.")
    lines.append("Article: " + style.link(article.get("title") or article.get("url") or source, article.get("url")))
    return lines


def _title(alerts: Sequence[Alert]) -> str:
    top = alerts[0]
    story = top.story.get("title") or top.story.get("id", "")
    what = _headline(top) if len(alerts) == 1 else f"{len(alerts)} updates"
    return f"[{severity(top).upper()}] {story}: {what}"


def render(alerts: Sequence[Alert], urls: Mapping[str, str] | None = None) -> Message:
    """One message for one alert, or a digest of a story's alerts folded during a cooldown.

    ``urls`` maps article ids to URLs, so an earlier report that a new one contradicts gets a link.
    """
    ordered = by_importance(alerts)
    links = urls or {}

    def body(style: _Style) -> str:
        if len(ordered) == 1:
            return "\n".join(_sections(ordered[0], links, style)).strip()
        parts = [f"{len(ordered)} updates to this story, most important first.", ""]
        for number, alert in enumerate(ordered, start=1):
            parts.append(style.heading(f"{number}. [{severity(alert)}] {_headline(alert)}"))
            parts += _sections(alert, links, style)
            parts.append("")
        return "\n".join(parts).strip()

    return Message(title=_title(ordered), markdown=body(_Style(markdown=True)), text=body(_Style(markdown=False)))


_COLOURS = {"low": "\033[36m", "medium": "\033[33m", "high": "\033[31m", "critical": "\033[1;31m"}
_MARKS = {"  !": "\033[31m", "  +": "\033[32m", "  =": "\033[2m"}
_RESET = "\033[0m"


def render_console(alerts: Sequence[Alert], colour: bool) -> str:
    """The terminal format of ``format_alert``, led by the severity, coloured when asked to."""
    blocks = []
    for alert in by_importance(alerts):
        level = severity(alert)
        lines = [f"[{level.upper()}] " + line if number == 0 else line
                 for number, line in enumerate(format_alert(alert).splitlines())]
        if colour:
            lines = [_paint(line, _COLOURS[level] if number == 0 else None) for number, line in enumerate(lines)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _paint(line: str, colour: str | None) -> str:
    colour = colour or next((code for mark, code in _MARKS.items() if line.startswith(mark)), None)
    return f"{colour}{line}{_RESET}" if colour else line
