"""The plain data every stage passes along: articles, claims, facts, stories, alerts.

Everything here round-trips through ``to_dict``/``from_dict`` as JSON-safe values, so the
runtime can keep it in Redis and the CLI can print it. Vectors travel as base64 float32.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

ContradictionKind = Literal["number", "date", "place", "person", "negation", "quote", "other"]
CONTRADICTION_KINDS: tuple[str, ...] = ("number", "date", "place", "person", "negation", "quote", "other")


def stable_id(*parts: str, size: int = 16) -> str:
    """A short content-derived id: the same inputs give the same id on every machine."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:size]


def encode_vector(vector: np.ndarray | None) -> str | None:
    if vector is None:
        return None
    return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode("ascii")


def decode_vector(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()


@dataclass(frozen=True)
class Quantity:
    """A number with what it measures: ``57%`` is Quantity(57.0, "%", "57%")."""

    value: float
    unit: str
    text: str
    counts: str = ""


@dataclass(frozen=True)
class Quote:
    text: str
    speaker: str | None = None


@dataclass
class Slots:
    """What a claim is about and what it asserts, in comparable form."""

    people: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    negated: bool = False
    quotes: list[Quote] = field(default_factory=list)
    attribution: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Slots:
        return cls(
            people=list(data.get("people", [])),
            orgs=list(data.get("orgs", [])),
            places=list(data.get("places", [])),
            quantities=[Quantity(**q) for q in data.get("quantities", [])],
            dates=list(data.get("dates", [])),
            negated=bool(data.get("negated", False)),
            quotes=[Quote(**q) for q in data.get("quotes", [])],
            attribution=data.get("attribution"),
        )


@dataclass
class Article:
    """One page after fetching and extraction: clean text plus metadata."""

    id: str
    url: str
    source: str
    title: str
    text: str
    published: str | None = None
    feed_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Article:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Claim:
    """A sentence (or clause) of an article that states something checkable."""

    id: str
    article_id: str
    text: str
    slots: Slots = field(default_factory=Slots)
    vector: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "text": self.text,
            "slots": self.slots.to_dict(),
            "vector": encode_vector(self.vector),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Claim:
        return cls(
            id=data["id"],
            article_id=data["article_id"],
            text=data["text"],
            slots=Slots.from_dict(data.get("slots", {})),
            vector=decode_vector(data.get("vector")),
        )


@dataclass
class AnalysedArticle:
    """An article with its claims and its pooled embedding, ready to join a story."""

    article: Article
    claims: list[Claim]
    vector: np.ndarray
    entities: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "article": self.article.to_dict(),
            "claims": [c.to_dict() for c in self.claims],
            "vector": encode_vector(self.vector),
            "entities": self.entities,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysedArticle:
        vector = decode_vector(data["vector"])
        assert vector is not None
        return cls(
            article=Article.from_dict(data["article"]),
            claims=[Claim.from_dict(c) for c in data["claims"]],
            vector=vector,
            entities=list(data.get("entities", [])),
        )


@dataclass
class SourceRef:
    """One report of a fact: which article of which outlet, and when it was seen."""

    article_id: str
    source: str
    url: str
    seen_at: str
    text: str = ""
    # Set when an article came back edited: which version of it this is (the feed entry's fingerprint).
    revision: str = ""


@dataclass
class Fact:
    """A claim the story holds, with the first report and every confirmation since."""

    id: str
    text: str
    first: SourceRef
    slots: Slots
    vector: np.ndarray | None = None
    confirmations: list[SourceRef] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "first": asdict(self.first),
            "slots": self.slots.to_dict(),
            "vector": encode_vector(self.vector),
            "confirmations": [asdict(c) for c in self.confirmations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fact:
        return cls(
            id=data["id"],
            text=data["text"],
            first=SourceRef(**data["first"]),
            slots=Slots.from_dict(data.get("slots", {})),
            vector=decode_vector(data.get("vector")),
            confirmations=[SourceRef(**c) for c in data.get("confirmations", [])],
        )


@dataclass
class Contradiction:
    """A new claim that conflicts with a fact the story already holds."""

    kind: str
    fact_id: str
    claim: SourceRef
    conflicts_with: SourceRef
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contradiction:
        return cls(
            kind=data["kind"],
            fact_id=data["fact_id"],
            claim=SourceRef(**data["claim"]),
            conflicts_with=SourceRef(**data["conflicts_with"]),
            detail=data.get("detail", ""),
        )


@dataclass
class Update:
    """A new value for something the story holds, reported with a time cue: news, not a disagreement.

    ``fact_id`` is the fact holding the current value; ``supersedes`` the one it replaced.
    """

    fact_id: str
    supersedes: str
    claim: SourceRef
    previous: SourceRef
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Update:
        return cls(
            fact_id=data["fact_id"],
            supersedes=data["supersedes"],
            claim=SourceRef(**data["claim"]),
            previous=SourceRef(**data["previous"]),
            detail=data.get("detail", ""),
        )


@dataclass
class Ledger:
    """Everything a story's sources have said, in the order they said it."""

    story_id: str
    facts: list[Fact] = field(default_factory=list)
    contradictions: list[Contradiction] = field(default_factory=list)
    articles: list[SourceRef] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id,
            "facts": [f.to_dict() for f in self.facts],
            "contradictions": [c.to_dict() for c in self.contradictions],
            "articles": [asdict(a) for a in self.articles],
            "updates": [u.to_dict() for u in self.updates],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        return cls(
            story_id=data["story_id"],
            facts=[Fact.from_dict(f) for f in data.get("facts", [])],
            contradictions=[Contradiction.from_dict(c) for c in data.get("contradictions", [])],
            articles=[SourceRef(**a) for a in data.get("articles", [])],
            updates=[Update.from_dict(u) for u in data.get("updates", [])],
        )


@dataclass
class Comparison:
    """How a new article's claims relate to a story's ledger."""

    new_facts: list[Claim] = field(default_factory=list)
    contradictions: list[tuple[Claim, Fact, str]] = field(default_factory=list)
    corroborations: list[tuple[Claim, Fact]] = field(default_factory=list)
    # Claims giving a fact's value as it now stands, each with the fact it supersedes.
    updates: list[tuple[Claim, Fact]] = field(default_factory=list)
    # The earlier article this one copies (syndication, rewrite): it then adds and confirms nothing.
    copy_of: str | None = None
    # Why each contradiction was called, by claim id ("Malaysia vs Singapore").
    details: dict[str, str] = field(default_factory=dict)

    @property
    def changes_anything(self) -> bool:
        return bool(self.new_facts or self.contradictions or self.updates)


@dataclass
class Story:
    """A group of articles about one event; watched stories come from config/stories/."""

    id: str
    title: str
    watched: bool
    centroid: np.ndarray
    created_at: str
    updated_at: str
    article_ids: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    entities: dict[str, int] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    # Title terms with their counts (bounded, like ``entities``) and the number of documents the
    # centroid averages (seeds included), which sets how far one more article moves it.
    terms: dict[str, int] = field(default_factory=dict)
    weight: float = 0.0
    # Ids of stories that turned out to be this one and were folded into it.
    merged_from: list[str] = field(default_factory=list)
    # The telling words and numbers of its articles, each with how many articles used it (bounded):
    # the sparse side of the same-event evidence (see pipeline/evidence.py).
    words: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["centroid"] = encode_vector(self.centroid)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Story:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["centroid"] = decode_vector(data["centroid"])
        return cls(**values)


@dataclass
class Alert:
    """What people receive: the alert format of the README, as one JSON object."""

    id: str
    type: Literal["story.created", "story.updated"]
    created_at: str
    story: dict[str, Any]
    article: dict[str, Any]
    new_facts: list[dict[str, Any]]
    contradictions: list[dict[str, Any]]
    corroborated: int
    summary: str
    updates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
