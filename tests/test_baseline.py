"""A watched story's seed documents are its baseline: in the ledger before any article arrives."""

from __future__ import annotations

import pytest

from pipeline.analysis import Analyser
from pipeline.ledger import SEED_NOTE, compare, is_seed, record, record_seeds, seed_arrival
from pipeline.models import AnalysedArticle, Article, Ledger

# Written for these tests: a made-up earthquake, told by two seed files that disagree on the depth.
EARLY_SEED = (
    "A magnitude 6.1 earthquake struck near the town of Ovalle in northern Chile on Friday, "
    "the National Seismological Centre said.\n"
    "The earthquake struck at a depth of 35 km below Ovalle, the centre said.\n"
    "Regional governor Carla Mendez said two people were injured in Ovalle."
)
LATE_SEED = (
    "Rescue teams reopened the main highway into Ovalle on Saturday, regional governor Carla Mendez said.\n"
    "The earthquake struck at a depth of 50 km below Ovalle, the US Geological Survey said."
)


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser()


def analyse(analyser: Analyser, article_id: str, text: str, published: str | None, source: str) -> AnalysedArticle:
    article = Article(
        id=article_id, url=f"https://x.test/{article_id}", source=source, title="", text=text, published=published
    )
    return analyser.analyse(article)


@pytest.fixture
def seeds(analyser: Analyser) -> list[AnalysedArticle]:
    # Given out of order on purpose: the baseline records them by publication date.
    return [
        analyse(analyser, "late", LATE_SEED, "2025-03-16", "seed late.txt"),
        analyse(analyser, "early", EARLY_SEED, "2025-03-15", "seed early.txt"),
    ]


def test_seeds_are_recorded_oldest_first_with_source_and_date(seeds: list[AnalysedArticle]) -> None:
    ledger = Ledger(story_id="quake")
    record_seeds(ledger, seeds, registered_at="2025-03-20T00:00:00+00:00")
    assert [(ref.article_id, ref.source, ref.seen_at, ref.text) for ref in ledger.articles] == [
        ("early", "seed early.txt", "2025-03-15", SEED_NOTE),
        ("late", "seed late.txt", "2025-03-16", SEED_NOTE),
    ]
    assert {fact.first.article_id for fact in ledger.facts} == {"early", "late"}
    assert any("35 km" in fact.text for fact in ledger.facts)
    # The seeds disagree on the depth; read in order, the later one contradicts the earlier.
    assert [(c.kind, c.claim.article_id, c.conflicts_with.article_id) for c in ledger.contradictions] == [
        ("number", "late", "early")
    ]


def test_recording_the_seeds_again_changes_nothing(seeds: list[AnalysedArticle]) -> None:
    ledger = Ledger(story_id="quake")
    record_seeds(ledger, seeds, registered_at="2025-03-20T00:00:00+00:00")
    before = ledger.to_dict()
    record_seeds(ledger, seeds, registered_at="2025-03-21T00:00:00+00:00")
    assert ledger.to_dict() == before


def test_an_undated_seed_takes_the_registration_time(analyser: Analyser) -> None:
    ledger = Ledger(story_id="quake")
    record_seeds(
        ledger,
        [analyse(analyser, "undated", EARLY_SEED, None, "seed undated.txt")],
        registered_at="2025-03-20T00:00:00+00:00",
    )
    assert [ref.seen_at for ref in ledger.articles] == ["2025-03-20T00:00:00+00:00"]


def test_the_first_feed_article_is_compared_with_the_seeds(analyser: Analyser, seeds: list[AnalysedArticle]) -> None:
    ledger = Ledger(story_id="quake")
    record_seeds(ledger, seeds[1:], registered_at="2025-03-20T00:00:00+00:00")
    first = analyse(
        analyser,
        "wire",
        "The earthquake struck at a depth of 60 km below Ovalle, officials said.\n"
        "The quake cut power to 12,000 homes in the Coquimbo region, the grid operator said.",
        "2025-03-16",
        "Wire One",
    )
    comparison = compare(ledger, first.claims, first.article)
    # A conflicting figure is a contradiction with the seed, not a new fact; the rest is news.
    assert [(claim.text[:40], fact.first.article_id, kind) for claim, fact, kind in comparison.contradictions] == [
        ("The earthquake struck at a depth of 60 k", "early", "number")
    ]
    assert [claim.text[:30] for claim in comparison.new_facts] == ["The quake cut power to 12,000 "]


def test_a_seed_arriving_through_a_feed_adds_nothing_and_contradicts_nothing_new(
    analyser: Analyser, seeds: list[AnalysedArticle]
) -> None:
    ledger = Ledger(story_id="quake")
    record_seeds(ledger, seeds, registered_at="2025-03-20T00:00:00+00:00")
    before = ledger.to_dict()
    arrived = analyse(analyser, "early", EARLY_SEED, "2025-03-15", "ovalle-news.example")
    assert is_seed(ledger, "early") and not is_seed(ledger, "wire")
    comparison = seed_arrival(ledger, arrived.claims, arrived.article)
    assert not comparison.new_facts and not comparison.contradictions and not comparison.corroborations
    record(ledger, comparison, arrived.article, seen_at="2025-03-22T00:00:00+00:00")
    assert ledger.to_dict() == before


def test_a_later_seed_arriving_tells_what_it_disagreed_with(analyser: Analyser, seeds: list[AnalysedArticle]) -> None:
    ledger = Ledger(story_id="quake")
    record_seeds(ledger, seeds, registered_at="2025-03-20T00:00:00+00:00")
    arrived = analyse(analyser, "late", LATE_SEED, "2025-03-16", "late-news.example")
    comparison = seed_arrival(ledger, arrived.claims, arrived.article)
    assert not comparison.new_facts
    [(claim, fact, kind)] = comparison.contradictions
    assert kind == "number" and "50 km" in claim.text and "35 km" in fact.text
    assert fact.first.article_id == "early" and comparison.details[claim.id]
