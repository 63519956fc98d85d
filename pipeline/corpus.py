"""A corpus on disk: one UTF-8 text file per document, replayed in file-name order.

A first line that starts with `` date YYYY-MM-DD`` gives the publication date; the rest of that
line is text. The document id is the file's stem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DATE_PREFIX = re.compile(r"^ date (\d{4}-\d{2}-\d{2})[ \t]*")


class CorpusError(Exception):
    """A corpus that cannot be read, naming the file at fault."""


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    published: str | None
    path: Path

    @property
    def title(self) -> str:
        """The first line that reads like a sentence, clipped: a title for documents that carry none."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        first = next((line for line in lines if len(line.split()) >= 10), lines[0])
        words = first.split()
        return " ".join(words[:14]) + (" …" if len(words) > 14 else "")


def parse_document(path: Path, raw: bytes) -> Document:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    published = None
    match = _DATE_PREFIX.match(text)
    if match:
        published = match.group(1)
        text = text[match.end():]
    if not text.strip():
        raise CorpusError(f"{path}: empty document")
    return Document(id=path.stem, text=text.strip(), published=published, path=path)


def read_document(path: Path) -> Document:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_document(path, raw)


def read_corpus(folder: Path) -> list[Document]:
    """Every ``*.txt`` of ``folder`` in file-name order."""
    if not folder.is_dir():
        raise CorpusError(f"{folder}: not a directory")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt")
    if not paths:
        raise CorpusError(f"{folder}: no .txt documents")
    return [read_document(p) for p in paths]
