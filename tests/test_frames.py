"""Frames the ledger aligns on (offices, rates, change cues) and the conflicts and updates they decide."""

from __future__ import annotations

import pytest

from pipeline.alerts import build_alert
from pipeline.claims import extract_claims, load_nlp
from pipeline.embed import Embedder
from pipeline.frames import office_conflict, offices, rate_period, tells_change
from pipeline.ledger import compare, record
from pipeline.models import Article, Comparison, Ledger, Story


def test_offices_read_before_and_after_the_name() -> None:
    assert [(o.org, o.office, o.person) for o in offices("Acme chief executive Jane Roe said so.")] == [
        ("acme", "chief executive", "Jane Roe")
    ]
    assert [(o.org, o.office) for o in offices("John Doe, CEO of Acme Corp., spoke.")] == [("acme", "chief executive")]
    assert [(o.org, o.person) for o in offices("Doe is the CEO of Acme.")] == [("acme", "Doe")]
    # The organisation a sentence opens on owns a bare office.
    assert [o.org for o in offices("At Acme, the firm behind the ads, chief executive Jane Roe said no.")] == ["acme"]
    # Past holders differ by design.
    assert offices("Former Acme CEO Jane Roe said so.") == []


def test_office_conflict_needs_the_same_organisation_and_another_person() -> None:
    known = "John Doe, CEO of Acme, said the deal was done."
    assert office_conflict("Acme chief executive Jane Roe said the deal was done.", known)
    assert office_conflict("Acme Inc. boss John Doe said the deal was done.", known) is None
    assert office_conflict("Acme chief executive J. Doe said the deal was done.", known) is None
    assert office_conflict("Globex chief executive Jane Roe said the deal was done.", known) is None


def test_rate_period_and_change_cues() -> None:
    for text, figure in (("costs $14.99 a month", "14.99"), ("a $9.99 monthly rate", "9.99"), ("$10-a-month", "10")):
        assert rate_period(text, text.find(figure) + len(figure)) == "month"
    text = "paid $449,000 for the work"
    assert rate_period(text, text.find("449,000") + 7) == ""
    assert tells_change("The service now offers 26 games, up from 22.")
    assert tells_change("Payments have climbed to about $720,000.")
    assert not tells_change("The service offers 22 games.")


@pytest.fixture(scope="module")
def models():
    return load_nlp(), Embedder()


class Replay:
    def __init__(self, models) -> None:
        self.nlp, self.embedder = models
        self.ledger = Ledger(story_id="story")

    def add(self, article_id: str, text: str, published: str = "2024-03-04") -> tuple[Article, Comparison]:
        article = Article(
            id=article_id,
            url=f"https://x.test/{article_id}",
            source=article_id,
            title="",
            text=text,
            published=published,
        )
        claims = extract_claims(article, self.nlp)
        for claim, vector in zip(claims, self.embedder.encode([c.text for c in claims]), strict=True):
            claim.vector = vector
        comparison = compare(self.ledger, claims, article)
        record(self.ledger, comparison, article, seen_at=f"{published}T00:00:{len(self.ledger.articles):02d}")
        return article, comparison


BASE = [
    "Streamly Plus, the premium tier of Streamly, is offered at a $7.99 monthly rate for subscribers in Canada.",
    "According to the Ministry of Health, 4.7 percent of adults in Ruritania reported smoking daily in 2021, "
    "against a regional average of 4 percent.",
    "John Doe, CEO of Acme, announced the takeover of the Riverside plant on Tuesday.",
    "“We will keep every worker at the plant and invest in new machines for the next decade,” Doe said.",
    "The Acme video about the plant had been watched more than 12,000 times by Wednesday morning, the company said.",
]


@pytest.fixture
def story(models) -> Replay:
    replay = Replay(models)
    replay.add("base", "\n".join(BASE))
    return replay


def _kinds(comparison: Comparison) -> list[str]:
    return [kind for _, _, kind in comparison.contradictions]


def test_another_monthly_price_for_the_same_tier_is_a_number_conflict(story: Replay) -> None:
    _, comparison = story.add("a", "Streamly Plus, which adds offline viewing, costs $12.99 a month.")
    assert _kinds(comparison) == ["number"]


def test_a_rounded_price_is_no_conflict(story: Replay) -> None:
    _, comparison = story.add("a", "Streamly Plus costs $8 a month for subscribers in Canada.")
    assert comparison.contradictions == []


def test_a_decimal_share_is_compared_with_the_figure_it_replaces(story: Replay) -> None:
    # "4" inside "4.2" is not the regional average: each figure is read where it stands.
    _, comparison = story.add(
        "a",
        "According to the Ministry of Health, 6.1 percent of adults in Ruritania reported smoking daily in 2021, "
        "against a regional average of 4 percent.",
    )
    assert _kinds(comparison) == ["number"]
    assert "6.1" in comparison.details[comparison.contradictions[0][0].id]


def test_another_person_in_the_office_is_a_person_conflict(story: Replay) -> None:
    _, comparison = story.add("a", "Acme chief executive Mary Major announced the takeover of the Riverside plant.")
    assert _kinds(comparison) == ["person"]


def test_a_changed_quote_of_the_same_speaker_is_a_quote_conflict(story: Replay) -> None:
    _, comparison = story.add(
        "a", "His promise was plain: “We will close the plant and invest in new machines for the next decade.”"
    )
    assert _kinds(comparison) == ["quote"]


def test_a_figure_with_a_time_cue_is_an_update_not_a_contradiction(story: Replay) -> None:
    article, comparison = story.add(
        "a",
        "The Acme video about the plant had been watched more than 90,000 times by Friday, the company said.",
        published="2024-03-08",
    )
    assert comparison.contradictions == []
    assert [fact.text for _, fact in comparison.updates] == [BASE[4]]
    assert story.ledger.updates and story.ledger.updates[0].previous.article_id == "base"
    alert = build_alert(
        Story(id="s", title="t", watched=False, centroid=None, created_at="", updated_at=""),  # type: ignore[arg-type]
        article,
        comparison,
        created=False,
        created_at="now",
    )
    assert alert is not None
    update = alert.to_dict()["updates"][0]
    assert update["supersedes"]["text"] == BASE[4] and update["supersedes"]["article_id"] == "base"
    assert set(update) >= {"text", "claim_id", "supersedes"}


def test_ledger_with_updates_round_trips(story: Replay) -> None:
    story.add(
        "a", "The Acme video about the plant had been watched more than 90,000 times by Friday, the company said."
    )
    assert Ledger.from_dict(story.ledger.to_dict()).updates == story.ledger.updates
