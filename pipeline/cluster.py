"""`storywatch cluster`: the online story assignment over a JSONL file, without a server.

Each line is ``{"id", "time", "title", "text"?, "source"?}``; lines are taken in file order, as a stream.
Embedding and entity extraction run up front in chunks (batching is what makes them fast); the
assignment itself then runs one article at a time with the same ``StoryIndex`` as the runtime.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .corpus import read_document
from .models import AnalysedArticle, Article
from .same_event import SameEventModel
from .stories import StoryIndex, StorySettings, article_vector

ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "EVENT"})
_SENTENCE_END = re.compile(r"(?<=[.!?…\"”])\s+(?=[\"“A-Z0-9])|\n+")

# The lead carries who and where; reading further costs NER time and adds background names.
LEAD_CHARS = 2000
MAX_SENTENCES = 30
CHUNK = 1024


@dataclass
class ClusterStats:
    articles: int = 0
    stories: int = 0
    merges: int = 0
    embed_seconds: float = 0.0
    entity_seconds: float = 0.0
    assign_seconds: float = 0.0
    load_seconds: float = 0.0
    backend: str = ""
    # Everything after the models are loaded: reading, embedding, NER, assignment, writing.
    seconds: float = 0.0

    @property
    def articles_per_second(self) -> float:
        return self.articles / self.seconds if self.seconds else 0.0


def split_sentences(text: str, limit: int = MAX_SENTENCES) -> list[str]:
    """Sentences of the body, at most ``limit``: a regex split is enough to keep each under 256 tokens."""
    sentences = (s.strip() for s in _SENTENCE_END.split(text))
    return list(islice((s for s in sentences if len(s) > 20), limit))


def parse_time(value: Any) -> datetime:
    """ISO 8601 or seconds since the epoch; naive times are UTC."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_ner() -> Any:
    """spaCy's small English model reduced to its entity recogniser, which has an embedding layer of its
    own: the shared one feeds only the tagger and parser, which cost time and add nothing here."""
    from .claims import load_english

    return load_english(exclude=["tok2vec", "parser", "lemmatizer", "tagger", "attribute_ruler", "senter"])


@dataclass
class Embedded:
    """The vectors of a batch of records: rows ``start:end`` of ``vectors`` belong to one record, its title first."""

    vectors: np.ndarray
    spans: list[tuple[int, int, bool]]


class RecordAnalyser:
    """Turns records into ``AnalysedArticle``s in batches: one embedding call and one NER pass per batch.

    `embed` and `entities` are separate so that a caller can run them at once on two cores: the
    embedding model and the entity recogniser both release the GIL for most of their work.
    """

    def __init__(self, embedder: Any, nlp: Any | None) -> None:
        self.embedder = embedder
        self.nlp = nlp
        self.embed_seconds = 0.0
        self.entity_seconds = 0.0

    def analyse(self, records: list[dict[str, Any]]) -> list[AnalysedArticle]:
        return self.combine(records, self.embed(records), self.entities(records))

    def embed(self, records: list[dict[str, Any]]) -> Embedded:
        texts: list[str] = []
        spans: list[tuple[int, int, bool]] = []
        for record in records:
            title = str(record.get("title") or "").strip()
            sentences = split_sentences(str(record.get("text") or ""))
            if not title and not sentences:
                raise ValueError(f"record {record.get('id')!r} has neither a title nor a text to embed")
            start = len(texts)
            texts.extend([title] if title else [])
            texts.extend(sentences)
            spans.append((start, len(texts), bool(title)))
        started = time.perf_counter()
        # Repeated headlines are common in feeds; embed each distinct text once.
        distinct = list(dict.fromkeys(texts))
        encoded = self.embedder.encode(distinct)
        position = {text: i for i, text in enumerate(distinct)}
        vectors = encoded[[position[t] for t in texts]] if texts else encoded
        self.embed_seconds += time.perf_counter() - started
        return Embedded(vectors, spans)

    def entities(self, records: list[dict[str, Any]]) -> list[list[str]]:
        if self.nlp is None:
            return [[] for _ in records]
        started = time.perf_counter()
        leads = (f"{r.get('title') or ''}\n{str(r.get('text') or '')[:LEAD_CHARS]}" for r in records)
        names = [
            list(dict.fromkeys(e.text for e in doc.ents if e.label_ in ENTITY_LABELS))
            for doc in self.nlp.pipe(leads, batch_size=256)
        ]
        self.entity_seconds += time.perf_counter() - started
        return names

    @staticmethod
    def combine(records: list[dict[str, Any]], embedded: Embedded, entities: list[list[str]]) -> list[AnalysedArticle]:
        analysed = []
        for record, (start, end, has_title), names in zip(records, embedded.spans, entities, strict=True):
            title_vector = embedded.vectors[start] if has_title else None
            body = embedded.vectors[start + has_title : end]
            article = Article(
                id=str(record["id"]),
                url=str(record.get("url") or ""),
                source=str(record.get("source") or ""),
                title=str(record.get("title") or ""),
                text=str(record.get("text") or ""),
                published=str(record.get("time")) if record.get("time") is not None else None,
            )
            analysed.append(AnalysedArticle(article, [], article_vector(title_vector, body), names))
        return analysed


def _analysed_chunks(records: Iterator[dict[str, Any]], analyser: RecordAnalyser) -> Iterator[list[AnalysedArticle]]:
    """The records analysed a chunk at a time, the next chunk's embedding running in a thread meanwhile:
    it overlaps with this chunk's entities and with the caller's assignment of the one before."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as pool:
        chunk = list(islice(records, CHUNK))
        embedding = pool.submit(analyser.embed, chunk) if chunk else None
        while embedding is not None:
            entities = analyser.entities(chunk)
            embedded, current = embedding.result(), chunk
            chunk = list(islice(records, CHUNK))
            embedding = pool.submit(analyser.embed, chunk) if chunk else None
            yield analyser.combine(current, embedded, entities)


def read_seed(path: Path) -> dict[str, Any]:
    """A corpus document (see pipeline/corpus.py) as a record."""
    document = read_document(path)
    return {"id": document.id, "time": document.published, "title": "", "text": document.text}


def read_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("id") is None or record.get("time") is None:
            raise ValueError(f"line {number}: every record needs 'id' and 'time'")
        yield record


def cluster_file(
    input_path: Path,
    output: TextIO,
    *,
    progress: TextIO | None = None,
    settings: StorySettings | None = None,
    entities: bool = True,
    embedder: Any | None = None,
    nlp: Any | None = None,
) -> ClusterStats:
    """Cluster the records of a JSONL file in order and write ``{"id", "story"}`` per record.

    Lines are written at the end so that an article whose story was later merged into another carries
    the surviving story's id (see `assign_stream`). ``entities=False`` skips NER (faster on
    headline-only streams, and less precise).
    """
    loading = time.perf_counter()
    if embedder is None:
        from .embed import Embedder

        # The offline runner has the machine to itself: the embedding model gets a core of its own while
        # the entity recogniser and the assignment use another, or two cores when it runs alone.
        embedder = Embedder(threads=1 if entities else 2)
    if nlp is None and entities:
        nlp = load_ner()
    analyser = RecordAnalyser(embedder, nlp if entities else None)
    started = time.perf_counter()
    stats = ClusterStats(load_seconds=started - loading, backend=str(getattr(embedder, "backend", "")))
    with open(input_path, encoding="utf-8") as lines:
        assigned = assign_stream(_analysed_chunks(read_records(lines), analyser), settings, stats, progress)
    for article_id, story_id in assigned:
        output.write(json.dumps({"id": article_id, "story": story_id}) + "\n")
    stats.embed_seconds = analyser.embed_seconds
    stats.entity_seconds = analyser.entity_seconds
    stats.seconds = time.perf_counter() - started
    return stats


def assign_stream(
    chunks: Iterable[list[AnalysedArticle]],
    settings: StorySettings | None = None,
    stats: ClusterStats | None = None,
    progress: TextIO | None = None,
    model: SameEventModel | None = None,
) -> list[tuple[str, str]]:
    """Place analysed articles in order, each at its publication time; returns (article id, story id)
    pairs, an article whose story was later merged into another carrying the surviving story's id."""
    stats = stats if stats is not None else ClusterStats()
    index = StoryIndex([], settings, model)
    assigned: list[tuple[str, str]] = []
    absorbed_by: dict[str, str] = {}
    for chunk in chunks:
        for analysed in chunk:
            now = parse_time(analysed.article.published)
            tick = time.perf_counter()
            placement = index.place(analysed, now)
            stats.assign_seconds += time.perf_counter() - tick
            stats.stories += placement.created
            for kept, absorbed in placement.merged:
                absorbed_by[absorbed.id] = kept.id
            stats.merges += len(placement.merged)
            assigned.append((analysed.article.id, placement.story.id))
        index.expire(now)
        if progress is not None:
            print(f"{len(assigned)} articles, {len(index)} active stories", file=progress, flush=True)
    resolved = []
    for article_id, story_id in assigned:
        while story_id in absorbed_by:
            story_id = absorbed_by[story_id]
        resolved.append((article_id, story_id))
    stats.articles = len(resolved)
    stats.stories -= stats.merges
    return resolved
