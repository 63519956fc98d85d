"""Online story assignment: which story an article joins, how stories are represented and merged.

Every active story is scored against the article in one matrix product (centroids of pooled sentence
embeddings); the nearest ``candidates`` are then weighed in full. An article with a body is placed
by the learned same-event model (``pipeline/same_event.py`` over the evidence of
``pipeline/evidence.py``): it joins the most probable candidate when the probability reaches the
model's join bar, and a second story it reaches with the merge bar is the same event, so the two
merge. A bare headline is placed by the headline rule, chosen on headline streams: centroid cosine
plus overlaps of names and title terms, against a bar that rises with the time since the story last
moved, measured against the story's own pace. A story keeps a bounded representation: a running-mean
centroid whose inertia is capped, and the most frequent names, title terms and telling words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .config import WatchedStorySpec
from .evidence import (
    EVIDENCE,
    ArticleKeys,
    article_keys,
    bag_norm,
    features,
    normalise_entity,
    story_bag,
    with_lifts,
)
from .lexicon import STOPWORDS, fold_plural
from .models import AnalysedArticle, Article, Story, stable_id
from .same_event import MODEL_PATH, SameEventModel, load_model

_WORD = re.compile(r"[a-z0-9][a-z0-9'’&-]*")


@dataclass(frozen=True)
class Bars:
    """The score an article needs to join a story, for one kind of input."""

    # The bar for a story that moved just now.
    join: float
    # Added to the bar as the story cools (fully once it has been quiet for many half-lives).
    time_penalty: float


@dataclass
class StorySettings:
    """Settings of the online assignment.

    An article with a body is placed by the learned same-event model (``model_path``). A headline
    (with at most a one-line summary) is placed by the headline rule: a score of the cosine of the
    article to the story centroid plus weighted overlaps of entities and title terms, each an
    IDF-weighted cosine in [0, 1]; it joins the story where its score beats the bar by the widest
    margin, and the bar rises as the story cools (see ``half_life_hours``).
    """

    # Single headlines are noisy: the same story scores from 0.4 up; a new event on a familiar subject
    # comes after its predecessor went quiet, so cooling carries much of the weight.
    headline: Bars = Bars(join=0.4, time_penalty=1.0)
    # Bodies at least this long are placed by the same-event model: the shortest written follow-ups of
    # ledger-dev (50 words, ~300 characters) are; the NYT World feed's summaries (99% under 260
    # characters) stay with the headline rule chosen on headline streams.
    text_chars: int = 280
    # A story's usual gap between articles is its span plus one assumed gap, over its article count:
    # a story of one article has the assumed gap, a burst of reports a gap of minutes. The bar rises
    # halfway once the story has been quiet for ``quiet_gaps`` usual gaps. (Chosen on the first half
    # of the UCI stream and of the NYT feed: benchmarks/clustering_split.py.)
    assumed_gap_hours: float = 12.0
    quiet_gaps: float = 6.0
    # A watched story is followed on purpose, for days: cooling raises its bar far less.
    watched_time_penalty: float = 0.1
    # The least bar of a watched story, whatever the article: see `StoryIndex._required`.
    watched_join: float = 0.8
    entity_weight: float = 0.25
    term_weight: float = 0.35
    # Two stories merge only on this much more evidence than one article needs to join.
    merge_margin: float = 0.35
    # Stories untouched this long leave the active set (watched stories never do).
    max_age_hours: float = 24.0 * 7
    # Only this many best-by-cosine stories are scored in full.
    candidates: int = 16
    # The centroid moves like a mean of at most this many documents, so a story can drift as it develops.
    max_weight: float = 30.0
    # Entities and title terms kept per story.
    max_keys: int = 48
    # Telling words and numbers kept per story (see pipeline/evidence.py).
    max_words: int = 400
    # The learned same-event model that places articles with a body (benchmarks/train_same_event.py).
    model_path: Path = MODEL_PATH

    @classmethod
    def timed(cls, assumed_gap_hours: float | None = None, quiet_gaps: float | None = None) -> StorySettings:
        """The defaults with the cooling a deployment configured ([stories] in storywatch.toml)."""
        settings = cls()
        if assumed_gap_hours is not None:
            settings.assumed_gap_hours = assumed_gap_hours
        if quiet_gaps is not None:
            settings.quiet_gaps = quiet_gaps
        return settings

    def is_full_text(self, article: Article) -> bool:
        return len(article.text) >= self.text_chars

    def half_life_hours(self, story: Story) -> float:
        """Hours of quiet after which the story's bar has risen halfway."""
        span = max(timestamp(story.updated_at) - timestamp(story.created_at), 0.0) / 3600.0
        return self.quiet_gaps * (span + self.assumed_gap_hours) / max(len(story.article_ids), 1)


def timestamp(moment: datetime | str) -> float:
    """Seconds since the epoch; naive times are taken as UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def title_terms(title: str) -> set[str]:
    """Content words of a title, lowercased, with a plain plural stripped ('talks' meets 'talk')."""
    terms = set()
    for word in _WORD.findall(title.lower()):
        word = re.sub(r"['’]s$", "", word).strip("'’&-")
        if len(word) < 2 or word in STOPWORDS:
            continue
        terms.add(fold_plural(word))
    return terms


def article_vector(title: np.ndarray | None, sentences: np.ndarray, title_share: float = 0.3) -> np.ndarray:
    """The article's direction: the pooled body, with the title given a fixed share.

    The title names the event; the body adds context but also background that other stories share, so
    the title keeps ``title_share`` of the weight however long the body is.
    """
    parts = []
    if len(sentences):
        body = sentences.mean(axis=0)
        parts.append(body / max(float(np.linalg.norm(body)), 1e-12) * (1.0 - title_share))
    if title is not None:
        parts.append(title * (title_share if parts else 1.0))
    if not parts:
        raise ValueError("an article needs a title or at least one sentence")
    vector = np.sum(parts, axis=0)
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _bump(counts: dict[str, int], keys: Iterable[str], limit: int, halve: bool = True) -> None:
    """Count keys, keeping at most ``limit`` of the most frequent; with ``halve``, halve all when counts
    grow large, so that what the story says now outweighs what it said at first."""
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    if len(counts) > limit:
        # Among equal counts the later key wins: a story that keeps going is about its latest names.
        ranked = sorted(enumerate(counts.items()), key=lambda item: (-item[1][1], -item[0]))
        kept = sorted(ranked[:limit])
        counts.clear()
        counts.update(kv for _, kv in kept)
    if halve and counts and max(counts.values()) >= 64:
        halved = {k: v // 2 for k, v in counts.items() if v >= 2}
        counts.clear()
        counts.update(halved)


def _weighted_cosine(a: Mapping[str, float], b: Mapping[str, float], df: Counter[str], stories: int) -> float:
    """Cosine of two bags of keys under story-level IDF: shared rare names count, shared 'US' barely does."""
    if not a or not b or a.keys().isdisjoint(b.keys()):
        return 0.0
    idf = {k: math.log((stories + 1) / (df[k] + 1)) + 1.0 for k in a.keys() | b.keys()}
    dot = sum(w * b[k] * idf[k] ** 2 for k, w in a.items() if k in b)
    na = math.sqrt(sum((w * idf[k]) ** 2 for k, w in a.items()))
    nb = math.sqrt(sum((w * idf[k]) ** 2 for k, w in b.items()))
    return dot / (na * nb)


def _entity_keys(analysed: AnalysedArticle) -> dict[str, float]:
    return {k: 1.0 for k in map(normalise_entity, analysed.entities) if k}


def _term_keys(analysed: AnalysedArticle) -> dict[str, float]:
    return dict.fromkeys(title_terms(analysed.article.title), 1.0)


def _move_centroid(story: Story, vector: np.ndarray, weight: float, cap: float) -> None:
    """Running mean of unit vectors whose inertia stops growing at ``cap`` documents."""
    mean = story.centroid * min(story.weight, cap) + vector * min(weight, cap)
    story.centroid = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    story.weight = story.weight + weight


def start_story(analysed: AnalysedArticle, now: datetime, settings: StorySettings | None = None,
                keys: ArticleKeys | None = None) -> Story:
    """A new unwatched story holding just this article."""
    article = analysed.article
    story = Story(
        id=stable_id("story", article.id),
        title=article.title,
        watched=False,
        centroid=np.zeros_like(analysed.vector, dtype=np.float32),
        created_at=_iso(now),
        updated_at=_iso(now),
    )
    join_story(story, analysed, now, settings, keys)
    return story


def keys_of(analysed: AnalysedArticle) -> ArticleKeys:
    return article_keys(analysed.article, analysed.entities, title_terms(analysed.article.title))


def join_story(story: Story, analysed: AnalysedArticle, now: datetime, settings: StorySettings | None = None,
               keys: ArticleKeys | None = None) -> None:
    settings = settings or StorySettings()
    _move_centroid(story, np.asarray(analysed.vector, dtype=np.float32), 1.0, settings.max_weight)
    _bump(story.entities, _entity_keys(analysed), settings.max_keys)
    _bump(story.terms, _term_keys(analysed), settings.max_keys)
    # Word shares are counts over the story's documents: halving them would mix scales.
    _bump(story.words, (keys or keys_of(analysed)).top, settings.max_words, halve=False)
    if analysed.article.id not in story.article_ids:
        story.article_ids.append(analysed.article.id)
    if analysed.article.source and analysed.article.source not in story.sources:
        story.sources.append(analysed.article.source)
    story.updated_at = max(story.updated_at, _iso(now), key=timestamp)


def watched_story(
    spec: WatchedStorySpec, seeds: list[AnalysedArticle], now: datetime, settings: StorySettings | None = None
) -> Story:
    """A watched story defined by its seed documents; they become members only when they arrive."""
    if not seeds:
        raise ValueError(f"watched story {spec.id} has no seed documents")
    settings = settings or StorySettings()
    story = Story(
        id=spec.id,
        title=spec.title,
        watched=True,
        centroid=np.zeros_like(seeds[0].vector, dtype=np.float32),
        created_at=_iso(now),
        updated_at=_iso(now),
        include=list(spec.include),
        exclude=list(spec.exclude),
    )
    # The configured title speaks for the story even when seed files carry no headline.
    _bump(story.terms, title_terms(spec.title), settings.max_keys)
    for seed in seeds:
        _move_centroid(story, np.asarray(seed.vector, dtype=np.float32), 1.0, settings.max_weight)
        _bump(story.entities, _entity_keys(seed), settings.max_keys)
        _bump(story.terms, _term_keys(seed), settings.max_keys)
        _bump(story.words, keys_of(seed).top, settings.max_words, halve=False)
    return story


def merge_stories(keep: Story, absorbed: Story, now: datetime, settings: StorySettings | None = None) -> None:
    settings = settings or StorySettings()
    _move_centroid(keep, absorbed.centroid, max(absorbed.weight, 1.0), settings.max_weight)
    for mine, theirs, limit in ((keep.entities, absorbed.entities, settings.max_keys),
                                (keep.terms, absorbed.terms, settings.max_keys),
                                (keep.words, absorbed.words, settings.max_words)):
        for key, count in theirs.items():
            mine[key] = mine.get(key, 0) + count
        _bump(mine, (), limit, halve=mine is not keep.words)
    members, sources = set(keep.article_ids), set(keep.sources)
    keep.article_ids.extend(a for a in absorbed.article_ids if a not in members)
    keep.sources.extend(s for s in absorbed.sources if s not in sources)
    keep.merged_from.extend([*absorbed.merged_from, absorbed.id])
    keep.created_at = min(keep.created_at, absorbed.created_at, key=timestamp)
    keep.updated_at = max(keep.updated_at, absorbed.updated_at, _iso(now), key=timestamp)


def _term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(t.lower()) for t in terms) + r")\b")


@dataclass
class Placement:
    """Where ``StoryIndex.place`` put an article, and which stories it merged on the way."""

    story: Story
    created: bool
    merged: list[tuple[Story, Story]]


class StoryIndex:
    """The active stories as rows of a centroid matrix, with story-level IDF of entities and terms."""

    def __init__(self, stories: Iterable[Story], settings: StorySettings | None = None,
                 model: SameEventModel | None = None) -> None:
        self.settings = settings or StorySettings()
        self._stories: list[Story] = []
        self._rows: dict[str, int] = {}
        self._matrix = np.zeros((64, 0), dtype=np.float32)
        self._updated = np.zeros(64, dtype=np.float64)
        self._half_life = np.ones(64, dtype=np.float64)
        self._watched = np.zeros(64, dtype=bool)
        self._keys: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._entity_df: Counter[str] = Counter()
        self._term_df: Counter[str] = Counter()
        self._filters: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {}
        self._bags: dict[str, tuple[dict[str, float], float]] = {}
        self.model: SameEventModel = model or load_model(self.settings.model_path)
        for story in stories:
            self.add(story)

    def __len__(self) -> int:
        return len(self._stories)

    def __iter__(self) -> Iterator[Story]:
        return iter(list(self._stories))

    def get(self, story_id: str) -> Story | None:
        row = self._rows.get(story_id)
        return None if row is None else self._stories[row]

    def add(self, story: Story) -> None:
        """Insert a story, or refresh its row after it changed (joined, merged)."""
        if self._matrix.shape[1] != len(story.centroid):
            if self._stories:
                raise ValueError("story centroid has the wrong dimension")
            self._matrix = np.zeros((64, len(story.centroid)), dtype=np.float32)
        row = self._rows.get(story.id)
        if row is None:
            row = len(self._stories)
            if row == len(self._matrix):
                self._matrix = np.concatenate([self._matrix, np.zeros_like(self._matrix)])
                self._updated = np.concatenate([self._updated, np.zeros_like(self._updated)])
                self._half_life = np.concatenate([self._half_life, np.ones_like(self._half_life)])
                self._watched = np.concatenate([self._watched, np.zeros_like(self._watched)])
            self._stories.append(story)
            self._rows[story.id] = row
        self._stories[row] = story
        self._matrix[row] = story.centroid
        self._updated[row] = timestamp(story.updated_at)
        self._half_life[row] = self.settings.half_life_hours(story)
        self._watched[row] = story.watched
        self._count_keys(story.id, (frozenset(story.entities), frozenset(story.terms)))
        self._bags.pop(story.id, None)
        if story.include or story.exclude:
            self._filters[story.id] = (_term_pattern(story.include), _term_pattern(story.exclude))
        else:
            self._filters.pop(story.id, None)

    def remove(self, story_id: str) -> None:
        row = self._rows.pop(story_id)
        last = len(self._stories) - 1
        if row != last:
            moved = self._stories[last]
            self._stories[row] = moved
            self._rows[moved.id] = row
            self._matrix[row] = self._matrix[last]
            self._updated[row] = self._updated[last]
            self._half_life[row] = self._half_life[last]
            self._watched[row] = self._watched[last]
        self._stories.pop()
        self._bags.pop(story_id, None)
        self._count_keys(story_id, None)
        self._filters.pop(story_id, None)

    def expire(self, now: datetime) -> list[Story]:
        """Drop unwatched stories that have been quiet longer than ``max_age_hours``; returns them."""
        n = len(self._stories)
        cutoff = timestamp(now) - self.settings.max_age_hours * 3600
        old = [self._stories[i] for i in np.flatnonzero((self._updated[:n] < cutoff) & ~self._watched[:n])]
        for story in old:
            self.remove(story.id)
        return old

    def _count_keys(self, story_id: str, keys: tuple[frozenset[str], frozenset[str]] | None) -> None:
        before = self._keys.pop(story_id, (frozenset(), frozenset()))
        self._entity_df.subtract(before[0])
        self._term_df.subtract(before[1])
        if keys is not None:
            self._keys[story_id] = keys
            self._entity_df.update(keys[0])
            self._term_df.update(keys[1])

    def _evidence(
        self, vector: np.ndarray, entities: Mapping[str, float], terms: Mapping[str, float], row: int
    ) -> float:
        story = self._stories[row]
        n = len(self._stories)
        cosine = float(self._matrix[row] @ vector)
        entity = _weighted_cosine(entities, story.entities, self._entity_df, n)
        term = _weighted_cosine(terms, story.terms, self._term_df, n)
        return cosine + self.settings.entity_weight * entity + self.settings.term_weight * term

    def _cosines(self, vector: np.ndarray) -> np.ndarray:
        """Cosine of ``vector`` to every centroid. Not ``@``: multithreaded BLAS matrix-vector products
        slow down five- to tenfold when the cores are busy with the embedding model or a neighbour,
        and the single-threaded einsum is as fast as BLAS on an idle machine at this size."""
        return np.einsum("ij,j->i", self._matrix[: len(self._stories)], vector)

    def _required(self, age_hours: np.ndarray, bars: Bars, margin: float = 0.0) -> np.ndarray:
        """The bar of every story, ``age_hours`` after its last article."""
        s = self.settings
        n = len(age_hours)
        watched = self._watched[:n]
        cooled = 1.0 - np.exp2(-np.clip(age_hours, 0.0, None) / self._half_life[:n])
        penalty = np.where(watched, s.watched_time_penalty, bars.time_penalty)
        # Watched stories are defined by full-text seeds, against which a bare headline on the same
        # subject but another event scores as high as a report of the event: hold headlines to
        # ``watched_join`` there.
        join = np.where(watched, max(bars.join, s.watched_join), bars.join)
        return join + margin + penalty * cooled

    def _candidates(self, headroom: np.ndarray) -> np.ndarray:
        """Rows that could still reach their bar, at most ``candidates`` of them, the closest first."""
        rows = np.flatnonzero(headroom >= 0)
        if len(rows) > self.settings.candidates:
            rows = rows[np.argpartition(-headroom[rows], self.settings.candidates)[: self.settings.candidates]]
        return rows

    def _allowed(self, story_id: str, text: str) -> bool:
        include, exclude = self._filters.get(story_id, (None, None))
        if exclude is not None and exclude.search(text):
            return False
        return include is None or include.search(text) is not None

    def _bag(self, story: Story) -> tuple[dict[str, float], float]:
        cached = self._bags.get(story.id)
        if cached is None:
            bag = story_bag(story)
            cached = self._bags[story.id] = (bag, bag_norm(bag))
        return cached

    def evidence(self, analysed: AnalysedArticle, keys: ArticleKeys, always: Iterable[str] = ()
                 ) -> tuple[list[Story], np.ndarray]:
        """The candidate stories of an article with one row of same-event features each, lifts not yet
        filled in (``evidence.with_lifts``).

        Candidates are the ``candidates`` stories nearest by centroid, plus those in ``always`` (the
        trainer adds the true story so that every article teaches something): one matrix product, so
        the cost stays flat as the active stories grow.
        """
        n = len(self._stories)
        if n == 0:
            return [], np.zeros((0, len(EVIDENCE)))
        s = self.settings
        vector = np.asarray(analysed.vector, dtype=np.float32)
        cosines = self._cosines(vector)
        # No age cut and no cooling: a follow-up weeks later still belongs to its event. (A cooling
        # column was tried; left out of a training set, it did not help: benchmarks/clustering_events.py.)
        rows = [int(r) for r in np.argsort(-cosines, kind="stable")[: s.candidates]]
        rows += [self._rows[i] for i in always if i in self._rows and self._rows[i] not in rows]
        stories = [self._stories[r] for r in rows]
        table = np.array([features(keys, self._stories[r], *self._bag(self._stories[r]), float(cosines[r]))
                          for r in rows]).reshape(len(rows), len(EVIDENCE))
        return stories, table

    def _ranked_by_model(self, analysed: AnalysedArticle, keys: ArticleKeys) -> list[tuple[float, Story]]:
        """Candidate stories that pass their filters, most probably the same event first (ties by id,
        never by row: workers whose indexes differ in row order agree)."""
        stories, table = self.evidence(analysed, keys)
        if not stories:
            return []
        table = with_lifts(table, self.settings.candidates, self.model.background)
        text = f"{analysed.article.title}\n{analysed.article.text}".lower()
        ranked = [(float(p), story) for p, story in zip(self.model.probabilities(table), stories, strict=True)
                  if self._allowed(story.id, text)]
        return sorted(ranked, key=lambda item: (-item[0], item[1].id))

    def _chosen(self, ranked: list[tuple[float, Story]]) -> Story | None:
        """The most probable candidate if it reaches the model's join bar."""
        return ranked[0][1] if ranked and ranked[0][0] >= self.model.join else None

    def assign(self, analysed: AnalysedArticle, now: datetime, keys: ArticleKeys | None = None) -> Story | None:
        """The story this article joins, or None when it starts a story of its own.

        An article with a body is placed by the learned same-event model; a bare headline (or a
        headline with a one-line summary) by the headline rule below, chosen on headline streams."""
        n = len(self._stories)
        if n == 0:
            return None
        s = self.settings
        if s.is_full_text(analysed.article):
            return self._chosen(self._ranked_by_model(analysed, keys or keys_of(analysed)))
        vector = np.asarray(analysed.vector, dtype=np.float32)
        age_hours = (timestamp(now) - self._updated[:n]) / 3600.0
        required = self._required(age_hours, s.headline)
        # Entity and term overlap add at most their weights: rows that cannot reach the bar are skipped.
        headroom = self._cosines(vector) - required + s.entity_weight + s.term_weight
        headroom[(age_hours > s.max_age_hours) & ~self._watched[:n]] = -1.0
        rows = self._candidates(headroom)
        if len(rows) == 0:
            return None
        entities, terms = _entity_keys(analysed), _term_keys(analysed)
        text = f"{analysed.article.title}\n{analysed.article.text}".lower()
        # Ranked by margin, then by id, never by row: workers whose indexes differ in row order agree.
        best, best_rank = None, (0.0, "")
        for row in rows:
            story = self._stories[row]
            rank = (float(self._evidence(vector, entities, terms, row) - required[row]), story.id)
            if rank >= best_rank and self._allowed(story.id, text):
                best, best_rank = story, rank
        return best

    def merge_candidates(self, story: Story, now: datetime) -> list[Story]:
        """Stories that now look like the same event as ``story`` by the headline rule (an article with
        a body merges stories through the model instead: see ``place``).

        Two watched stories never merge, and a story with include/exclude terms never takes part: its
        filter is checked on each article's text, which a merged story no longer has."""
        if story.id not in self._rows or story.id in self._filters or len(self._stories) < 2:
            return []
        n = len(self._stories)
        s = self.settings
        row = self._rows[story.id]
        gap_hours = np.abs(timestamp(story.updated_at) - self._updated[:n]) / 3600.0
        required = self._required(gap_hours, s.headline, s.merge_margin)
        headroom = self._cosines(story.centroid) - required + s.entity_weight + s.term_weight
        headroom[row] = -1.0
        if story.watched:
            headroom[self._watched[:n]] = -1.0
        for filtered in self._filters:
            headroom[self._rows[filtered]] = -1.0
        entities = {k: float(v) for k, v in story.entities.items()}
        terms = {k: float(v) for k, v in story.terms.items()}
        same = [
            self._stories[other]
            for other in self._candidates(headroom)
            if self._evidence(story.centroid, entities, terms, other) >= required[other]
        ]
        return sorted(same, key=lambda other: (other.created_at, other.id))

    def merge(self, a: Story, b: Story, now: datetime) -> tuple[Story, Story]:
        """Merge two stories into the watched, else the older one; returns (kept, absorbed)."""
        if a.watched and b.watched:
            raise ValueError(f"watched stories {a.id} and {b.id} are kept apart")
        keep, absorbed = sorted((a, b), key=lambda st: (not st.watched, timestamp(st.created_at), st.id))
        merge_stories(keep, absorbed, now, self.settings)
        self.remove(absorbed.id)
        self.add(keep)
        return keep, absorbed

    def place(self, analysed: AnalysedArticle, now: datetime) -> Placement:
        """Assign, then join or start a story, then merge whatever that made identical."""
        keys = keys_of(analysed)
        full_text = self.settings.is_full_text(analysed.article)
        same: list[Story] = []
        if full_text:
            ranked = self._ranked_by_model(analysed, keys)
            story = self._chosen(ranked)
            # Another story the article belongs to as surely is the same event: the article bridges them.
            # A story with include/exclude terms never merges: its filter is checked on each article.
            if story is not None and story.id not in self._filters:
                same = [other for p, other in ranked[1:] if p >= self.model.merge and other.id not in self._filters]
        else:
            story = self.assign(analysed, now, keys)
        created = story is None
        if story is None:
            story = start_story(analysed, now, self.settings, keys)
        else:
            join_story(story, analysed, now, self.settings, keys)
        self.add(story)
        if not full_text:
            same = self.merge_candidates(story, now)
        merged = []
        for other in sorted(same, key=lambda st: (st.created_at, st.id)):
            # An earlier merge of this loop may have made the story a watched one.
            if not (story.watched and other.watched):
                kept, absorbed = self.merge(story, other, now)
                merged.append((kept, absorbed))
                story = kept
        return Placement(story, created, merged)
