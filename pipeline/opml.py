"""OPML, the format feed readers exchange subscription lists in: read into Feeds, write from them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pipeline.config import ConfigError, Feed


def read_opml(data: bytes, path: Path) -> list[Feed]:
    """Every outline with an xmlUrl; the titles of the folders around it and its categories become tags."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"{path}:{exc.position[0]}: not OPML ({exc})") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ConfigError(f"{path}:1: not OPML (no <opml><body>)")
    feeds: list[Feed] = []

    def walk(outline: ET.Element, folders: tuple[str, ...]) -> None:
        label = (outline.get("title") or outline.get("text") or "").strip()
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            categories = [c.strip().strip("/") for c in (outline.get("category") or "").split(",")]
            tags = dict.fromkeys([*folders, *(c for c in categories if c)])
            feeds.append(Feed(url=url, name=label, tags=tuple(tags)))
            return
        for child in outline.findall("outline"):
            walk(child, (*folders, label) if label and outline is not body else folders)

    walk(body, ())
    return feeds


def write_opml(feeds: list[Feed], title: str = "storywatch feeds") -> str:
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attributes = {"type": "rss", "text": feed.name or feed.url, "xmlUrl": feed.url}
        if feed.name:
            attributes["title"] = feed.name
        if feed.tags:
            attributes["category"] = ",".join(feed.tags)
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
