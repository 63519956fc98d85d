"""From an extracted article to one that can join a story: claims, their embeddings, its entities."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from pipeline.claims import extract_claims, load_nlp
from pipeline.embed import Backend, Embedder
from pipeline.models import AnalysedArticle, Article, Claim
from pipeline.stories import article_vector


class Analyser:
    """Holds the language models of one process; they load on first use and stay warm."""

    def __init__(self, threads: int = 1, backend: Backend = "auto") -> None:
        self.threads = threads
        self.backend = backend
        self._embedder: Embedder | None = None
        self._nlp: Any = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(threads=self.threads, backend=self.backend)
        return self._embedder

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            self._nlp = load_nlp()
        return self._nlp

    def analyse(self, article: Article, timings: MutableMapping[str, float] | None = None) -> AnalysedArticle:
        return self.analyse_many([article], timings)[0]

    def analyse_many(self, articles: list[Article], timings: MutableMapping[str, float] | None = None
                     ) -> list[AnalysedArticle]:
        """Analyse several articles with one embedding call for all their sentences.

        ``timings``, when given, gains the seconds spent in spaCy ("claims") and in the embedding
        model ("embed").
        """
        started = time.perf_counter()
        claims_of = [extract_claims(article, self.nlp) for article in articles]
        parsed = time.perf_counter()
        # The title is embedded with the claims: it names the event (see stories.article_vector).
        # An article with neither is represented by its opening.
        texts = [[*([article.title] if article.title else []), *(claim.text for claim in claims)]
                 or [article.text[:500]] for article, claims in zip(articles, claims_of, strict=True)]
        vectors = self.embedder.encode([text for group in texts for text in group])
        if timings is not None:
            timings["claims"] = timings.get("claims", 0.0) + parsed - started
            timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - parsed
        analysed = []
        offset = 0
        for article, claims, group in zip(articles, claims_of, texts, strict=True):
            own = vectors[offset : offset + len(group)]
            offset += len(group)
            title = own[0] if article.title else None
            body = own[1:] if article.title else own
            for claim, vector in zip(claims, body, strict=False):
                claim.vector = vector
            analysed.append(AnalysedArticle(article=article, claims=claims, vector=article_vector(title, body),
                                            entities=_entities(claims)))
        return analysed


def _entities(claims: list[Claim]) -> list[str]:
    """Names of people, organisations and places in order of first mention, each once."""
    entities: dict[str, None] = {}
    for claim in claims:
        for name in (*claim.slots.people, *claim.slots.orgs, *claim.slots.places):
            entities.setdefault(name, None)
    return list(entities)
