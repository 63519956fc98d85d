"""From an extracted article to one that can join a story: claims, their embeddings, its entities."""

from __future__ import annotations

from typing import Any

from pipeline.claims import extract_claims, load_nlp
from pipeline.embed import Embedder, pool
from pipeline.models import AnalysedArticle, Article


class Analyser:
    """Holds the language models of one process; they load on first use and stay warm."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._embedder: Embedder | None = None
        self._nlp: Any = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(threads=self.threads)
        return self._embedder

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            self._nlp = load_nlp()
        return self._nlp

    def warm(self) -> None:
        """Load both models now rather than in the first job."""
        self.analyse(Article(id="warm-up", url="", source="", title="", text="Models load once per process."))

    def analyse(self, article: Article) -> AnalysedArticle:
        claims = extract_claims(article, self.nlp)
        vectors = self.embedder.encode([claim.text for claim in claims])
        for claim, vector in zip(claims, vectors, strict=True):
            claim.vector = vector
        if len(vectors) == 0:
            vectors = self.embedder.encode([article.title or article.text[:500]])
        entities: dict[str, None] = {}
        for claim in claims:
            for name in (*claim.slots.people, *claim.slots.orgs, *claim.slots.places):
                entities.setdefault(name, None)
        return AnalysedArticle(article=article, claims=claims, vector=pool(vectors), entities=list(entities))
