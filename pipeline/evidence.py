"""Evidence that an article reports the same event as a story: the inputs of the same-event model.

Dense vectors say what an article is about ("a shooting", "a football match"); the names, places,
numbers and rare words it shares with a story say which one. So beside the centroid cosine (which
picks the candidates), the model reads sparse overlaps weighted by how rare a word is in general
English, each also as a *lift* over the other candidates. Every column is cheap over the dozen
candidate stories an article is scored against. (Why these: Miranda et al., EMNLP 2018, and
the comparisons in ../shared/DESIGN.md; which ones carry weight is learned by
benchmarks/train_same_event.py and written to pipeline/same_event.json.)
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from wordfreq import zipf_frequency

from .lexicon import STOPWORDS, fold_plural
from .models import Article, Story

# Everything read per (article, candidate story), in table order; a model file names the columns it uses.
EVIDENCE: tuple[str, ...] = ("dense", "terms", "terms_lift", "entities", "entities_lift", "title", "numbers")

_TOKEN = re.compile(r"[a-z][a-z'’-]*[a-z]|\d[\d,.]*\d|\d")
# These four were set by hand once, before any training, and never tuned: the model's weights are
# learned over them, and the leave-one-set-out table of benchmarks/clustering_events.py is their check.
# A shared number ("4 people", "the 2-1 win") is as telling as a fairly rare word (Zipf 4).
_NUMBER_RARITY = 4.0
_UNKNOWN_RARITY = 5.0
# Reading further than this adds background rather than evidence, and costs time.
MAX_TOKENS = 1500
# The article's most telling words: those it contributes to a story's bag.
TOP_TERMS = 60


@functools.lru_cache(maxsize=200_000)
def rarity(word: str) -> float:
    """How much a shared word says: 8 minus its Zipf frequency in general English (wordfreq), so
    'the' ≈ 0.3, 'shooting' ≈ 3.2, 'kokomo' ≈ 5.5. Unlike an IDF over the stories seen so far, it is
    right from a deployment's first article."""
    if word.startswith("#"):
        return _NUMBER_RARITY
    zipf = zipf_frequency(word, "en", wordlist="best")
    # A word English has never seen is a typo or another language's word (pages in Portuguese or Russian
    # share their function words): as telling as a rare name, not more.
    return _UNKNOWN_RARITY if zipf == 0.0 else max(8.0 - zipf, 0.5)


def name_rarity(name: str) -> float:
    """A name is as telling as its rarest word ('kokomo police' as 'kokomo')."""
    return max((rarity(word) for word in name.split()), default=0.5)


def normalise_entity(text: str) -> str:
    """One key for the spellings of a name: 'the U.S.' and "US" and "U.S.'s" all give 'us'."""
    key = " ".join(text.lower().replace(".", "").split())
    key = re.sub(r"['’]s$", "", key)
    return key.removeprefix("the ").strip()


def _number_key(token: str) -> str | None:
    value = token.replace(",", "").rstrip(".")
    if not value.replace(".", "", 1).isdigit():
        return None
    # Years are shared by unrelated events of one period.
    if len(value) == 4 and value[:2] in ("19", "20"):
        return None
    return "#" + value


def _terms(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for token in _TOKEN.findall(text.lower())[:MAX_TOKENS]:
        if token[0].isdigit():
            key = _number_key(token)
            if key is not None:
                counts[key] += 1
            continue
        token = re.sub(r"['’]s$", "", token)
        if len(token) > 2 and token not in STOPWORDS:
            counts[fold_plural(token)] += 1
    return counts


@dataclass(frozen=True)
class ArticleKeys:
    """What an article is compared by, computed once per article."""

    # Content words and numbers ('#41') with a weight of log(1 + count) × rarity.
    terms: Mapping[str, float]
    # The ``TOP_TERMS`` heaviest of ``terms``: what the article adds to a story's bag.
    top: tuple[str, ...]
    entities: frozenset[str]
    title: frozenset[str]
    # The length of ``terms``, kept since every candidate story's cosine divides by it.
    terms_norm: float


def article_keys(article: Article, entities: Iterable[str], title_terms: Iterable[str]) -> ArticleKeys:
    counts = _terms(f"{article.title}\n{article.text}")
    terms = {term: math.log1p(n) * rarity(term) for term, n in counts.items()}
    top = tuple(sorted(terms, key=lambda t: (-terms[t], t))[:TOP_TERMS])
    names = frozenset(k for k in map(normalise_entity, entities) if k)
    return ArticleKeys(terms, top, names, frozenset(title_terms), bag_norm(terms))


def bag_norm(bag: Mapping[str, float]) -> float:
    return math.sqrt(sum(w * w for w in bag.values()))


def story_bag(story: Story) -> dict[str, float]:
    """The story's words, each weighted by the share of its documents (seeds included) that used it,
    times rarity."""
    size = max(story.weight, len(story.article_ids), 1.0)
    return {term: min(n / size, 1.0) * rarity(term) for term, n in story.words.items()}


def _cosine(keys: ArticleKeys, story: Mapping[str, float], story_norm: float) -> float:
    if not keys.terms_norm or not story_norm:
        return 0.0
    dot = sum(w * story[t] for t, w in keys.terms.items() if t in story)
    return dot / (keys.terms_norm * story_norm)


def _name_overlap(names: frozenset[str], story: Mapping[str, int]) -> float:
    """Rarity-weighted cosine of the article's names (or title terms) and the story's."""
    if not names or not story or names.isdisjoint(story):
        return 0.0
    mine = math.sqrt(sum(name_rarity(n) ** 2 for n in names))
    size = max(story.values())
    theirs = math.sqrt(sum((name_rarity(n) * c / size) ** 2 for n, c in story.items()))
    dot = sum(name_rarity(n) ** 2 * story[n] / size for n in names if n in story)
    return dot / (mine * theirs)


def features(keys: ArticleKeys, story: Story, bag: Mapping[str, float], bag_norm: float, dense: float) -> np.ndarray:
    """The evidence of one (article, story) pair, in the order of ``EVIDENCE``.

    ``bag``/``bag_norm`` are ``story_bag(story)`` and its norm (the index caches them), ``dense`` the
    cosine of the article's vector to the story's centroid.
    """
    entities = _name_overlap(keys.entities, story.entities)
    title = _name_overlap(keys.title, story.terms)
    numbers = [t for t in keys.top if t.startswith("#")]
    number_share = sum(t in bag for t in numbers) / len(numbers) if numbers else 0.0
    # The lifts are filled in over all candidates by ``with_lifts``.
    return np.array([dense, _cosine(keys, bag, bag_norm), 0.0, entities, 0.0, title, number_share])


# Each lift and the cosine it lifts.
LIFTS: tuple[tuple[str, str], ...] = (("terms_lift", "terms"), ("entities_lift", "entities"))


def with_lifts(table: np.ndarray, pool: int, background: tuple[float, ...]) -> np.ndarray:
    """Fill in the lifts: each candidate's word and name cosines above the candidates' mean.

    On a stream where every story shares the subject (all shootings, all football) every candidate
    is close to the article; what sets the true story apart is how much closer it is than the rest.
    A raw cosine learned on mixed news does not carry over to such a stream; the lift does. The mean
    is over ``pool`` places, an empty place counting as a typical candidate (``background``: the mean
    candidate cosines of the training streams, one per lift), so that a deployment with a single
    story (a watched story on its first day) reads lifts on the same scale as a busy one. A crowded
    subject raises the reference; a pool of strangers never lowers it below the typical candidate,
    or any story that shares a little would stand out among unrelated ones."""
    if len(table):
        for (lift, raw), typical in zip(LIFTS, background, strict=True):
            column = table[:, EVIDENCE.index(raw)]
            empty = max(pool - len(column), 0)
            reference = max((column.sum() + empty * typical) / (len(column) + empty), typical)
            table[:, EVIDENCE.index(lift)] = column - reference
    return table
