"""The fact ledger: corroborate, add, contradict; aliases; copies; the seed story replayed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.claims import extract_claims, load_nlp
from pipeline.corpus import read_corpus
from pipeline.embed import Embedder
from pipeline.ledger import compare, record
from pipeline.models import Article, Ledger

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
BASE = [
    "Secretary of War Pete Hegseth met Chinese Defense Minister Dong Jun in Malaysia on Saturday.",
    "The two men agreed to set up military-to-military channels to deconflict and deescalate problems.",
    "Trump and Xi met in South Korea on October 30 and Trump cut tariffs on Chinese goods from 57% to 47%.",
    "President Trump also said China has agreed to continue supplying rare earth metals.",
    "“I just spoke to President Trump, and the relationship between the United States and China has never "
    "been better,” Hegseth said in a post on X.",
]


@pytest.fixture(scope="module")
def models():
    return load_nlp(), Embedder()


class Replay:
    """Feeds articles through extract, embed, compare and record, as the runtime does."""

    def __init__(self, models) -> None:
        self.nlp, self.embedder = models
        self.ledger = Ledger(story_id="story")

    def add(self, article_id: str, text: str, published: str | None = "2025-11-02", source: str | None = None):
        article = Article(
            id=article_id,
            url=f"https://x.test/{article_id}",
            source=source or article_id,
            title="",
            text=text,
            published=published,
        )
        claims = extract_claims(article, self.nlp)
        for claim, vector in zip(claims, self.embedder.encode([c.text for c in claims]), strict=True):
            claim.vector = vector
        comparison = compare(self.ledger, claims, article)
        record(self.ledger, comparison, article, seen_at=f"2025-11-02T00:00:{len(self.ledger.articles):02d}")
        return comparison


@pytest.fixture
def story(models):
    replay = Replay(models)
    replay.add("base", "\n".join(BASE), source="Base Wire")
    return replay


def kinds(comparison) -> list[str]:
    return [kind for _, _, kind in comparison.contradictions]


def test_empty_ledger_takes_every_claim_as_new(models):
    replay = Replay(models)
    comparison = replay.add("first", "\n".join(BASE))
    assert len(comparison.new_facts) == len(BASE)
    assert not comparison.contradictions and not comparison.corroborations
    assert [f.first.article_id for f in replay.ledger.facts] == ["first"] * len(BASE)


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("Hegseth met Dong Jun in Singapore on the sidelines of a security summit.", "place"),
        ("Trump agreed to cut tariffs on Chinese goods from 57% to 45%.", "number"),
        ("Trump and Xi met in South Korea on October 28 and Trump cut tariffs on Chinese goods.", "date"),
        ("Secretary of War Pete Hegseth met Chinese Defense Minister Zhang Youxia in Malaysia.", "person"),
        ("President Trump also said China has not agreed to continue supplying rare earth metals.", "negation"),
        (
            "“I just spoke to President Trump, and the relationship between the United States and China has never "
            "been worse,” Hegseth said in a post on X.",
            "quote",
        ),
    ],
)
def test_each_kind_of_contradiction(story, sentence, kind):
    comparison = story.add("planted", sentence, source="Planted Post")
    assert kinds(comparison) == [kind]
    (contradiction,) = story.ledger.contradictions
    assert contradiction.kind == kind
    assert contradiction.claim.text == sentence and contradiction.claim.source == "Planted Post"
    assert contradiction.conflicts_with.source == "Base Wire"
    assert contradiction.conflicts_with.text in BASE
    assert contradiction.detail


@pytest.mark.parametrize(
    "sentence",
    [
        "Defense Secretary Pete Hagseth met China's defense minister Dong Jun in Malaysia on Saturday.",
        "The Pentagon chief met Admiral Dong in Kuala Lumpur on Saturday.",
        "US defense chief Hegseth and Dong agreed to set up channels to deconflict and deescalate problems.",
        "Trump cut tariffs on Chinese goods to 47% from 57% after meeting Xi in South Korea.",
        "Trump said China will keep supplying rare earth metals.",
    ],
)
def test_aliases_and_rewordings_are_not_contradictions(story, sentence):
    comparison = story.add("rewrite", sentence)
    assert not comparison.contradictions
    assert len(comparison.new_facts) <= 1


def test_a_different_meeting_elsewhere_is_no_place_conflict(story):
    comparison = story.add(
        "travel", "Hegseth arrived in Vietnam on Sunday for talks with Vietnamese officials.", published="2025-11-03"
    )
    assert not comparison.contradictions


def test_corroboration_records_the_source_once(story):
    text = (
        "Hegseth and Chinese Defense Minister Dong Jun met in Malaysia on Saturday.\n"
        "Hegseth, the US secretary of war, met China's Dong Jun in Malaysia on Saturday."
    )
    comparison = story.add("confirm", text, source="Second Wire")
    assert comparison.corroborations and not comparison.new_facts and not comparison.contradictions
    fact = story.ledger.facts[0]
    assert [(c.article_id, c.source) for c in fact.confirmations] == [("confirm", "Second Wire")]


def test_a_copy_counts_once(story):
    comparison = story.add("copy", "\n".join(BASE), source="Syndicator")
    assert comparison.copy_of == "base"
    assert not comparison.new_facts and not comparison.corroborations
    assert all(not fact.confirmations for fact in story.ledger.facts)
    assert story.ledger.articles[-1].text == "copy of base"


def test_record_is_idempotent(story):
    article = Article(id="base", url="", source="Base Wire", title="", text="")
    before = len(story.ledger.facts), len(story.ledger.articles)
    record(story.ledger, compare(story.ledger, [], article), article, seen_at="later")
    assert (len(story.ledger.facts), len(story.ledger.articles)) == before


def test_genuinely_new_material_is_new(story):
    comparison = story.add("news", "Hegseth arrived in Hanoi on Monday for talks with Defense Minister Phan Van Giang.")
    assert len(comparison.new_facts) == 1 and not comparison.contradictions


@pytest.fixture(scope="module")
def seed_replay(models):
    replay = Replay(models)
    results = {}
    for document in read_corpus(SEEDS):
        results[document.id[:3]] = replay.add(document.id, document.text, published=document.published)
    return replay, results


def test_seed_story_has_no_false_contradictions(seed_replay):
    replay, results = seed_replay
    assert {key: kinds(c) for key, c in results.items() if c.contradictions} == {}
    assert not replay.ledger.contradictions


def test_every_seed_article_after_the_first_adds_something(seed_replay):
    _, results = seed_replay
    assert all(results[key].new_facts for key in ("001", "002", "003", "004"))


def test_seed_003_reports_the_tariff_cut_and_the_dormant_channels(seed_replay):
    _, results = seed_replay
    new = " ".join(claim.text for claim in results["003"].new_facts)
    assert "from 57% to 47%" in new
    assert "more than 90 communication channels" in new


def test_seed_titles_and_misspellings_corroborate(seed_replay):
    replay, results = seed_replay
    # 002 ("Defense Secretary") and 001 ("Hagseth", "Pentagon chief") confirm facts 000 holds.
    assert results["001"].corroborations and results["002"].corroborations
    confirmed_by = {c.article_id[:3] for fact in replay.ledger.facts for c in fact.confirmations}
    assert {"001", "002"} <= confirmed_by


def test_planted_place_after_the_seeds_names_both_sources(models):
    replay = Replay(models)
    for document in read_corpus(SEEDS):
        replay.add(document.id, document.text, published=document.published)
    comparison = replay.add(
        "planted",
        "Hegseth met Dong Jun in Singapore.\nThe meeting took place in Vietnam.",
        published="2025-11-03",
        source="Planted Post",
    )
    assert kinds(comparison) == ["place", "place"]
    for contradiction in replay.ledger.contradictions:
        assert contradiction.claim.source == "Planted Post"
        assert "Malaysia" in contradiction.conflicts_with.text
        assert contradiction.conflicts_with.article_id.startswith(("001", "002", "003"))


def test_a_headline_line_restating_the_lead_keeps_the_lead_and_its_figures(models):
    # Written for this test: the headline says less than the lead it restates (no injury figure).
    replay = Replay(models)
    comparison = replay.add(
        "quake",
        "Earthquake kills 23 people in southern Peru, officials say\n"
        "An earthquake killed 23 people and injured 140 in southern Peru on Friday, officials said.\n"
        "The quake struck at a depth of 35 km near Arequipa, the national seismological institute said.",
    )
    new = [claim.text for claim in comparison.new_facts]
    assert any("injured 140" in text for text in new), new
    assert not any(text.startswith("Earthquake kills 23") for text in new), new
    assert len(new) == 2


def test_two_restatements_of_one_new_fact_still_make_one_fact(models):
    replay = Replay(models)
    comparison = replay.add(
        "flood",
        "Floods forced 3,000 people from their homes in Porto Alegre on Monday, the civil defence agency said.\n"
        "On Monday floods forced 3,000 people in Porto Alegre from their homes, according to the civil defence agency.",
    )
    assert len(comparison.new_facts) == 1
