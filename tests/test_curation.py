"""Repairs by hand: merge, move and detach keep stories, ledgers and alerts consistent."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import redis

from pipeline.alerts import build_alert
from pipeline.curation import CurationError, merge, move, without_article
from pipeline.integrate import Outcome
from pipeline.ledger import compare, record
from pipeline.models import AnalysedArticle, Article, Claim, Ledger, Quantity, Slots, Story, stable_id
from pipeline.stories import join_story, start_story
from workers import cli
from workers.server import EmbeddedServer
from workers.store import Store

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RNG = np.random.default_rng(14)


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


QUAKE, SCHOOL, GOVERNOR, FLOOD, AFTERSHOCK = (unit(RNG.normal(size=384)) for _ in range(5))


def claim(article_id: str, text: str, vector: np.ndarray, slots: Slots | None = None) -> Claim:
    return Claim(
        id=stable_id(article_id, text), article_id=article_id, text=text, slots=slots or Slots(), vector=vector
    )


def toll(value: int) -> Slots:
    return Slots(places=["Ridgeville"], quantities=[Quantity(float(value), "", f"{value} people", "people")])


def analysed(article_id: str, source: str, claims: list[tuple[str, np.ndarray, Slots | None]]) -> AnalysedArticle:
    made = [claim(article_id, text, vector, slots) for text, vector, slots in claims]
    article = Article(
        id=article_id,
        url=f"https://{source.lower()}.example/{article_id}",
        source=source,
        title=f"{source} on {made[0].text[:30]}",
        text=" ".join(c.text for c in made),
    )
    return AnalysedArticle(
        article=article, claims=made, vector=unit(np.sum([c.vector for c in made], axis=0)), entities=["Ridgeville"]
    )


A1 = analysed(
    "a1",
    "Alpha",
    [
        ("The earthquake killed 40 people in Ridgeville.", QUAKE, toll(40)),
        ("Rescue teams searched the collapsed school overnight.", SCHOOL, None),
    ],
)
A2 = analysed(
    "a2",
    "Beta",
    [
        ("Rescue teams searched the collapsed school overnight again.", SCHOOL, None),
        ("The governor declared a state of emergency on Monday.", GOVERNOR, None),
    ],
)
A3 = analysed("a3", "Gamma", [("The river flooded three villages downstream.", FLOOD, None)])
# Filed with the flood by mistake: it is about the earthquake, and gives another death toll.
A4 = analysed(
    "a4",
    "Delta",
    [
        ("The earthquake killed 45 people in Ridgeville.", unit(QUAKE + 0.05 * FLOOD), toll(45)),
        ("Aftershocks rattled the region for hours.", AFTERSHOCK, None),
    ],
)


def integrate_into(
    story: Story | None, ledger: Ledger, item: AnalysedArticle, now: datetime
) -> tuple[Story, Ledger, Outcome]:
    """The ordered step with the story chosen by the test, so the fixtures do not hang on assignment."""
    created = story is None
    story = start_story(item, now) if story is None else copy.deepcopy(story)
    if not created:
        join_story(story, item, now)
    ledger = copy.deepcopy(ledger) if not created else Ledger(story_id=story.id)
    comparison = compare(ledger, item.claims, item.article)
    record(ledger, comparison, item.article, seen_at=now.isoformat(timespec="seconds"))
    alert = build_alert(story, item.article, comparison, created, created_at=now.isoformat(timespec="seconds"))
    return story, ledger, Outcome(item.article.id, story, ledger, alert, created)


def fixture_stories() -> tuple[Story, Ledger, Story, Ledger]:
    quake, quake_ledger, _ = integrate_into(None, Ledger(story_id=""), A1, START)
    quake, quake_ledger, _ = integrate_into(quake, quake_ledger, A2, START + timedelta(minutes=5))
    flood, flood_ledger, _ = integrate_into(None, Ledger(story_id=""), A3, START + timedelta(minutes=10))
    flood, flood_ledger, _ = integrate_into(flood, flood_ledger, A4, START + timedelta(minutes=15))
    return quake, quake_ledger, flood, flood_ledger


def reporters(ledger: Ledger) -> set[str]:
    """Every article the ledger credits with anything."""
    found = {ref.article_id for ref in ledger.articles}
    for fact in ledger.facts:
        found |= {fact.first.article_id, *(c.article_id for c in fact.confirmations)}
    return found | {c.claim.article_id for c in ledger.contradictions}


# --- the pure module ---------------------------------------------------------------------------


def test_fixtures_hold_a_confirmation_and_the_mistake() -> None:
    _, quake_ledger, flood, flood_ledger = fixture_stories()
    school = next(f for f in quake_ledger.facts if "school" in f.text)
    assert [c.article_id for c in school.confirmations] == ["a2"]
    assert flood.article_ids == ["a3", "a4"] and len(flood_ledger.facts) == 3 and not flood_ledger.contradictions


def test_without_article_keeps_what_others_reported() -> None:
    _, quake_ledger, _, _ = fixture_stories()
    left = without_article(quake_ledger, "a1")
    # The school fact stays, now first reported by Beta in Beta's own words; the toll goes with a1.
    assert [(f.first.article_id, f.text) for f in left.facts if "school" in f.text] == [
        ("a2", "Rescue teams searched the collapsed school overnight again.")
    ]
    assert not any("40 people" in f.text for f in left.facts)
    assert "a1" not in reporters(left)
    # The input is not touched.
    assert any(f.first.article_id == "a1" for f in quake_ledger.facts)


def test_move_takes_the_facts_across_and_compares_them_again() -> None:
    quake, quake_ledger, flood, flood_ledger = fixture_stories()
    moved = move(A4, "a4", flood, flood_ledger, quake, quake_ledger, START + timedelta(hours=1))
    assert "a4" not in reporters(moved.origin_ledger) and moved.origin.article_ids == ["a3"]
    assert [f.text for f in moved.origin_ledger.facts] == ["The river flooded three villages downstream."]
    assert "Delta" not in moved.origin.sources and not moved.origin_removed
    # In the quake story the toll is a contradiction, the aftershocks a new fact.
    assert [c.kind for c in moved.target_ledger.contradictions] == ["number"]
    assert [f.text for f in moved.target_ledger.facts if f.first.article_id == "a4"] == [
        "Aftershocks rattled the region for hours."
    ]
    assert moved.target.article_ids == ["a1", "a2", "a4"] and "Delta" in moved.target.sources
    alert = moved.alert
    assert alert.type == "story.updated" and alert.story["id"] == quake.id and len(alert.contradictions) == 1
    assert alert.summary.startswith(f"Moved by hand from story {flood.id}: number conflict")
    assert alert.story["curated"] == {"action": "move", "from": flood.id, "article": "a4"}


def test_move_of_the_last_article_removes_an_unwatched_story_only() -> None:
    quake, quake_ledger, flood, flood_ledger = fixture_stories()
    lone = copy.deepcopy(flood)
    lone.article_ids = ["a3"]
    ledger = without_article(flood_ledger, "a4")
    assert move(A3, "a3", lone, ledger, quake, quake_ledger, START).origin_removed
    lone.watched = True
    kept = move(A3, "a3", lone, ledger, quake, quake_ledger, START)
    assert not kept.origin_removed and kept.origin.article_ids == [] and kept.origin_ledger.facts == []


def test_the_first_article_moved_into_a_watched_story_creates_it() -> None:
    quake, quake_ledger, flood, _ = fixture_stories()
    watched = copy.deepcopy(flood)
    watched.watched, watched.article_ids, watched.id = True, [], "watched-flood"
    moved = move(A1, "a1", quake, quake_ledger, watched, Ledger(story_id=watched.id), START)
    assert not moved.created and moved.target.id == "watched-flood" and moved.alert.type == "story.created"
    assert moved.target.article_ids == ["a1"] and len(moved.target_ledger.facts) == 2


def test_move_without_the_analysis_uses_what_the_ledger_kept() -> None:
    quake, quake_ledger, flood, flood_ledger = fixture_stories()
    moved = move(None, "a4", flood, flood_ledger, quake, quake_ledger, START + timedelta(hours=1))
    assert [c.kind for c in moved.target_ledger.contradictions] == ["number"]
    assert "a4" in moved.target.article_ids and "a4" not in reporters(moved.origin_ledger)
    # Without the article's vector the target's centroid stays as it was.
    assert np.array_equal(moved.target.centroid, quake.centroid)


def test_detach_starts_a_story_of_its_own() -> None:
    quake, quake_ledger, _, _ = fixture_stories()
    detached = move(A2, "a2", quake, quake_ledger, None, None, START + timedelta(hours=1))
    assert detached.created and detached.target.article_ids == ["a2"]
    assert detached.target.id not in (quake.id, stable_id("story", "a2"))
    assert detached.alert.type == "story.created" and detached.alert.summary.startswith("Detached by hand")
    assert len(detached.target_ledger.facts) == 2 and "a2" not in reporters(detached.origin_ledger)
    # a2 only confirmed the school fact: a1 still reports it, with no confirmation left.
    school = next(f for f in detached.origin_ledger.facts if "school" in f.text)
    assert school.first.article_id == "a1" and school.confirmations == []


def test_merge_keeps_a_watched_story_and_refuses_two() -> None:
    quake, quake_ledger, flood, flood_ledger = fixture_stories()
    done = merge(quake, flood, quake_ledger, flood_ledger, START + timedelta(hours=1))
    assert done.kept.id == quake.id and done.gone.id == flood.id and flood.id in done.kept.merged_from
    assert done.kept.article_ids == ["a1", "a2", "a3", "a4"]
    assert len(done.ledger.facts) == len(quake_ledger.facts) + len(flood_ledger.facts)
    assert done.ledger.story_id == quake.id and done.alert.story["merged"] == [flood.id]
    assert done.alert.summary.startswith("Merged by hand")
    watched = copy.deepcopy(flood)
    watched.watched = True
    swapped = merge(quake, watched, quake_ledger, flood_ledger, START)
    assert swapped.kept.id == flood.id and swapped.gone.id == quake.id and swapped.ledger.story_id == flood.id
    both = copy.deepcopy(quake)
    both.watched = True
    with pytest.raises(CurationError, match="both watched"):
        merge(both, watched, quake_ledger, flood_ledger, START)
    with pytest.raises(CurationError, match="itself"):
        merge(quake, quake, quake_ledger, quake_ledger, START)


# --- against a real server, through the command line -------------------------------------------


@pytest.fixture
def live(embedded: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A namespace holding the fixture stories, integrated through the real commit."""
    monkeypatch.setenv("REDIS_URL", embedded.url)
    store = Store(redis.Redis.from_url(embedded.url), f"curate-{uuid.uuid4().hex[:8]}")
    # Stories by their first article; each item names the story it joins (None: it starts one).
    stories: dict[str, tuple[Story | None, Ledger]] = {}
    plan = [(A1, None), (A2, "a1"), (A3, None), (A4, "a3")]
    for minutes, (item, joins) in enumerate(plan):
        first = joins or item.article.id
        story, ledger = stories.get(first, (None, Ledger(story_id="")))
        story, ledger, outcome = integrate_into(story, ledger, item, START + timedelta(minutes=minutes))
        stories[first] = (story, ledger)
        seq = store.next_to_integrate()
        store.put_pending(seq, {"analysed": item.to_dict(), "revision": ""})
        lock = store.integration_lock(5)
        assert lock.acquire()
        store.commit(lock, seq, outcome)
        lock.release()
    yield store
    store.client.close()


def storywatch(store: Store, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = cli.main(["--namespace", store.namespace, "story", *args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_repairs_through_the_cli(live: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store = live
    quake, flood = store.story_of("a1"), store.story_of("a3")
    assert quake and flood and quake != flood and store.alert_count() == 4
    assert store.analysed("a4") is not None  # kept at commit, so a move brings the claims' vectors
    assert store.client.ttl(store.key("analysed", "a4")) > 7 * 24 * 3600  # not the pending result's week
    # What a running worker reads to refresh its story index (`workers.story_cache`).
    _, seen = store.story_snapshot()

    code, report, _ = storywatch(store, capsys, "move", "a4", quake)
    assert code == 0 and report["changed"] and report["contradictions"] == 1
    assert store.alert_count() == 5
    assert "a4" not in reporters(store.ledger(flood)) and "a4" in reporters(store.ledger(quake))
    assert store.story_of("a4") == quake and store.story(flood).article_ids == ["a3"]
    last = store.alerts()[-1][1]
    assert last.story["id"] == quake and last.contradictions and "Moved by hand" in last.summary
    # A running worker learns that both stories changed.
    changes = store.story_changes(seen)
    assert changes is not None and set(changes[0]) == {quake, flood} and changes[1] == []
    seen = changes[2]
    assert store.story(quake).article_ids == ["a1", "a2", "a4"]

    code, report, _ = storywatch(store, capsys, "move", "a4", quake)
    assert code == 0 and not report["changed"] and "already in story" in report["message"]
    assert store.alert_count() == 5

    code, report, _ = storywatch(store, capsys, "detach", "a2")
    alone = report["to"]
    assert code == 0 and report["created"] and store.story_of("a2") == alone and store.alert_count() == 6
    assert store.alerts()[-1][1].type == "story.created"
    assert "a2" not in reporters(store.ledger(quake)) and reporters(store.ledger(alone)) == {"a2"}
    code, report, _ = storywatch(store, capsys, "detach", "a2")
    assert code == 0 and not report["changed"] and store.alert_count() == 6

    facts = len(store.ledger(quake).facts) + len(store.ledger(alone).facts)
    code, report, _ = storywatch(store, capsys, "merge", quake, alone)
    assert code == 0 and report["kept"] == quake and store.story(alone) is None and store.alert_count() == 7
    assert len(store.ledger(quake).facts) == facts and store.story_of("a2") == quake
    assert alone in store.story(quake).merged_from
    code, report, _ = storywatch(store, capsys, "merge", quake, alone)
    assert code == 0 and not report["changed"] and store.alert_count() == 7

    # The flood's last article leaves: the empty story goes, and every index forgets it.
    code, report, _ = storywatch(store, capsys, "move", "a3", quake)
    assert code == 0 and report["from_removed"] and store.story(flood) is None and store.alert_count() == 8
    changes = store.story_changes(seen)
    assert changes is not None and flood in changes[1]
    assert {s.id for s in store.stories()} == {quake} and store.story(quake).article_ids == ["a1", "a4", "a2", "a3"]
    assert reporters(store.ledger(quake)) == {"a1", "a2", "a3", "a4"}
    # Alert ids are all distinct: no alert was raised twice.
    assert len({alert.id for _, alert in store.alerts()}) == 8


def test_cli_errors_are_one_line(live: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store = live
    for args in (
        ("merge", store.story_of("a1"), "nope"),
        ("move", "nope", store.story_of("a1")),
        ("detach", "nope"),
        ("move", "a1"),
    ):
        code, _, err = storywatch(store, capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("storywatch: error:"), err
    code, _, err = storywatch(store, capsys, "merge", store.story_of("a1"), store.story_of("a1"))
    assert code == 1 and "into itself" in err
    assert store.alert_count() == 4


def test_story_help_shows_the_repairs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["story", "--help"])
    out = capsys.readouterr().out
    assert "merge A B" in out and "move ARTICLE STORY" in out and "detach ARTICLE" in out and "examples:" in out
