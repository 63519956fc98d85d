"""Story assignment: watched seed story, near-topic rejection, time decay, merging, the file runner."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from pipeline import cluster as cluster_module
from pipeline.cluster import RecordAnalyser, cluster_file, load_ner, read_seed
from pipeline.config import WatchedStorySpec
from pipeline.models import AnalysedArticle, Article, Story
from pipeline.stories import (
    StoryIndex,
    StorySettings,
    join_story,
    merge_stories,
    start_story,
    watched_story,
)

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
NOV_2 = datetime(2025, 11, 2, 12, tzinfo=UTC)

# Near the seed story's topic (US, China, Trump, Xi, Malaysia, the military) but about other events.
TRADE_TALKS = {
    "id": "trade-talks",
    "title": "US and China reach trade framework in Kuala Lumpur, pave way for Trump-Xi deal on tariffs",
    "text": (
        "Top economic officials from the United States and China said on Sunday they had agreed on a "
        "framework for a trade deal after two days of talks in Kuala Lumpur, on the sidelines of the ASEAN "
        "summit in Malaysia. Treasury Secretary Scott Bessent said the framework would let President Donald "
        "Trump and President Xi Jinping discuss a pause on the 100% tariffs Washington had threatened on "
        "Chinese goods from November 1. China's chief negotiator, Vice Premier He Lifeng, said the two sides "
        "reached a preliminary consensus on export controls for rare earths, soybean purchases and port fees. "
        "US Trade Representative Jamieson Greer said Beijing was ready to delay its expanded rare earth "
        "licensing regime for a year. Soybean futures rose in Chicago on the news, and Asian stock markets "
        "gained on Monday as investors bet that the tariff truce between the world's two largest economies "
        "would hold."
    ),
}
TAIWAN_STRAIT = {
    "id": "taiwan-strait",
    "title": "Chinese coast guard ships confront Taiwanese vessel near Kinmen as tensions rise in the strait",
    "text": (
        "Four Chinese coast guard ships sailed into restricted waters around Taiwan's Kinmen islands on "
        "Tuesday and confronted a Taiwanese coast guard patrol boat, Taiwan's Ocean Affairs Council said. "
        "The Chinese vessels left after about two hours following radio warnings, the council said, calling "
        "the incursion a deliberate provocation. China's coast guard said it had carried out a law "
        "enforcement patrol in the waters, which Beijing considers its own. Taiwan's defence ministry said "
        "it had also tracked 14 People's Liberation Army aircraft and seven navy ships operating around the "
        "island over the previous 24 hours. A US Navy destroyer transited the Taiwan Strait last week, "
        "drawing a protest from the PLA's Eastern Theater Command, which said it had monitored the ship."
    ),
}
# Another report of the seed event itself, worded independently of the seeds.
FOLLOW_UP = {
    "id": "follow-up",
    "title": "Hegseth and Chinese defence minister Dong Jun agree to set up military hotlines",
    "text": (
        "US Secretary of War Pete Hegseth said he met Chinese Defence Minister Admiral Dong Jun in Kuala "
        "Lumpur and that the two sides agreed to establish military-to-military channels to deconflict and "
        "de-escalate any problems. The meeting came a day after President Donald Trump met Chinese leader "
        "Xi Jinping in South Korea. Hegseth said on X that peace, stability and good relations were the best "
        "path for the two countries. Military communication between Washington and Beijing was largely "
        "suspended after 2022 and only partly restored since."
    ),
}


@pytest.fixture(scope="module")
def analyser() -> RecordAnalyser:
    from pipeline.embed import Embedder

    return RecordAnalyser(Embedder(), load_ner())


@pytest.fixture(scope="module")
def seeds(analyser: RecordAnalyser) -> list[AnalysedArticle]:
    return analyser.analyse([read_seed(path) for path in SEEDS])


@pytest.fixture()
def seed_index(seeds: list[AnalysedArticle]) -> StoryIndex:
    spec = WatchedStorySpec(id="us-china-mil", title="US-China military communication channels", seeds=tuple(SEEDS))
    return StoryIndex([watched_story(spec, seeds, NOV_2)])


def test_all_five_seeds_join_the_watched_story(seed_index: StoryIndex, seeds: list[AnalysedArticle]) -> None:
    assert len(seeds) == 5
    for hour, seed in enumerate(seeds):
        placement = seed_index.place(seed, NOV_2 + timedelta(hours=hour))
        assert placement.story.id == "us-china-mil"
        assert not placement.created
    story = seed_index.get("us-china-mil")
    assert story is not None and len(story.article_ids) == 5 and len(seed_index) == 1


def test_another_report_of_the_seed_event_joins(seed_index: StoryIndex, analyser: RecordAnalyser) -> None:
    (report,) = analyser.analyse([FOLLOW_UP])
    story = seed_index.assign(report, NOV_2 + timedelta(hours=6))
    assert story is not None and story.id == "us-china-mil"


def test_near_topic_articles_about_other_events_start_their_own_stories(
    seed_index: StoryIndex, analyser: RecordAnalyser
) -> None:
    trade, taiwan = analyser.analyse([TRADE_TALKS, TAIWAN_STRAIT])
    # Same day as the seeds: time gives no help, content must tell the events apart.
    first = seed_index.place(trade, NOV_2)
    second = seed_index.place(taiwan, NOV_2)
    assert first.created and second.created
    assert len({first.story.id, second.story.id, "us-china-mil"}) == 3


def test_headlines_meet_the_watched_story_on_the_full_text_bar(
    seed_index: StoryIndex, analyser: RecordAnalyser
) -> None:
    same, other = analyser.analyse(
        [
            {"id": "h1", "title": "US and China agree to set up military communication channels, Hegseth says"},
            {"id": "h2", "title": "US and China reach trade framework in Kuala Lumpur ahead of Trump-Xi meeting"},
        ]
    )
    assert seed_index.assign(same, NOV_2 + timedelta(hours=2)) is not None
    assert seed_index.assign(other, NOV_2 + timedelta(hours=2)) is None


def test_unwatched_full_text_story_takes_its_event_not_its_neighbours(
    seeds: list[AnalysedArticle], analyser: RecordAnalyser
) -> None:
    index = StoryIndex([start_story(seeds[0], NOV_2)])
    for minutes, seed in enumerate(seeds[1:], 1):
        assert not index.place(seed, NOV_2 + timedelta(minutes=10 * minutes)).created
    trade, taiwan = analyser.analyse([TRADE_TALKS, TAIWAN_STRAIT])
    assert index.assign(trade, NOV_2 + timedelta(hours=1)) is None
    assert index.assign(taiwan, NOV_2 + timedelta(hours=1)) is None


def test_watched_story_include_and_exclude_terms(seeds: list[AnalysedArticle], analyser: RecordAnalyser) -> None:
    (report,) = analyser.analyse([FOLLOW_UP])
    spec = WatchedStorySpec(id="w", title="US-China military channels", seeds=tuple(SEEDS))
    excluding = replace(spec, exclude=("Kuala Lumpur",))
    assert StoryIndex([watched_story(excluding, seeds, NOV_2)]).assign(report, NOV_2) is None
    including = replace(spec, include=("hotline", "Dong Jun"))
    assert StoryIndex([watched_story(including, seeds, NOV_2)]).assign(report, NOV_2) is not None
    requiring = replace(spec, include=("Taiwan",))
    assert StoryIndex([watched_story(requiring, seeds, NOV_2)]).assign(report, NOV_2) is None


def _unit(rng: np.random.Generator, near: np.ndarray | None = None, cosine: float = 1.0) -> np.ndarray:
    """A random unit vector, or one at exactly ``cosine`` to ``near``."""
    noise = rng.normal(size=384).astype(np.float32)
    if near is None:
        return noise / np.linalg.norm(noise)
    noise -= (noise @ near) * near
    noise /= np.linalg.norm(noise)
    return (cosine * near + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def _article(
    article_id: str, vector: np.ndarray, title: str = "", entities: list[str] | None = None
) -> AnalysedArticle:
    return AnalysedArticle(Article(article_id, "", "wire", title, ""), [], vector, entities or [])


def test_the_same_content_far_in_time_needs_more_evidence() -> None:
    rng = np.random.default_rng(1)
    base = _unit(rng)
    title, names = "Volcano erupts on Iceland's Reykjanes peninsula", ["Iceland", "Reykjanes"]
    index = StoryIndex([start_story(_article("a", base, title, names), NOV_2)])
    similar = _article("b", _unit(rng, base, 0.8))
    assert index.assign(similar, NOV_2 + timedelta(minutes=30)) is not None
    assert index.assign(similar, NOV_2 + timedelta(days=5)) is None
    # Stronger evidence (the same names and headline words) still reaches a story that has gone quiet.
    stronger = _article("c", _unit(rng, base, 0.9), "Reykjanes peninsula volcano erupts, Iceland says", names)
    assert index.assign(stronger, NOV_2 + timedelta(days=5)) is not None


def test_stories_expire_but_watched_stories_stay() -> None:
    rng = np.random.default_rng(2)
    old = start_story(_article("a", _unit(rng)), NOV_2)
    spec = WatchedStorySpec(id="w", title="watched", seeds=())
    kept = watched_story(spec, [_article("s", _unit(rng))], NOV_2)
    index = StoryIndex([old, kept])
    assert [s.id for s in index.expire(NOV_2 + timedelta(days=30))] == [old.id]
    assert [s.id for s in index] == ["w"]


def test_split_stories_merge_into_the_older_one() -> None:
    rng = np.random.default_rng(3)
    base = _unit(rng)
    settings = StorySettings()
    first = start_story(_article("a", _unit(rng, base, 0.7), "Airline grounds its fleet"), NOV_2)
    second = start_story(
        _article("b", _unit(rng, base, 0.7), "Engine fire at Denver airport"), NOV_2 + timedelta(minutes=5)
    )
    index = StoryIndex([first, second], settings)
    assert index.merge_candidates(second, NOV_2) == []
    # Reports that sit between the two pull both centroids together until they describe one event.
    for i in range(6):
        join_story(
            first, _article(f"x{i}", base, "Airline fleet grounded after engine fire at Denver"), NOV_2, settings
        )
        join_story(
            second, _article(f"y{i}", base, "Airline fleet grounded after engine fire at Denver"), NOV_2, settings
        )
    index.add(first)
    index.add(second)
    assert index.merge_candidates(second, NOV_2) == [first]
    kept, absorbed = index.merge(second, first, NOV_2)
    assert (kept.id, absorbed.id) == (first.id, second.id)
    assert index.get(second.id) is None and len(index) == 1
    assert kept.article_ids[:1] == ["a"] and {"b", "y0"} <= set(kept.article_ids)


def test_watched_story_absorbs_and_is_never_absorbed() -> None:
    rng = np.random.default_rng(4)
    base = _unit(rng)
    loose = start_story(_article("a", base, "Talks"), NOV_2 - timedelta(days=1))
    watched = watched_story(WatchedStorySpec(id="w", title="Talks", seeds=()), [_article("s", base)], NOV_2)
    kept, absorbed = StoryIndex([loose, watched]).merge(loose, watched, NOV_2)
    assert kept.id == "w" and absorbed.id == loose.id and kept.article_ids == ["a"]


def test_representation_stays_bounded_and_round_trips() -> None:
    rng = np.random.default_rng(5)
    settings = StorySettings()
    story = start_story(_article("a", _unit(rng), "first"), NOV_2, settings)
    for i in range(300):
        join_story(story, _article(f"n{i}", _unit(rng), f"headline word{i}", [f"Name {i}"]), NOV_2, settings)
    assert len(story.entities) <= settings.max_keys and len(story.terms) <= settings.max_keys
    # A late article still moves the centroid: inertia stops at max_weight documents.
    late = _unit(rng)
    before = float(story.centroid @ late)
    join_story(story, _article("late", late), NOV_2, settings)
    assert float(story.centroid @ late) - before > 0.5 / settings.max_weight
    again = Story.from_dict(json.loads(json.dumps(story.to_dict())))
    assert again.terms == story.terms and again.weight == story.weight
    assert np.allclose(again.centroid, story.centroid)


def test_merge_stories_keeps_members_and_sources_once() -> None:
    rng = np.random.default_rng(6)
    a = start_story(_article("a", _unit(rng)), NOV_2)
    b = start_story(_article("a", _unit(rng)), NOV_2 + timedelta(hours=1))
    join_story(b, _article("b", _unit(rng)), NOV_2 + timedelta(hours=2))
    merge_stories(a, b, NOV_2 + timedelta(hours=3))
    assert a.article_ids == ["a", "b"] and a.sources == ["wire"]
    assert a.updated_at == (NOV_2 + timedelta(hours=3)).isoformat()


HEADLINES = [
    ("1", "2014-03-10T10:00:00", "Malaysia Airlines flight MH370 missing with 239 people on board", "mh370"),
    ("2", "2014-03-10T10:01:00", "Apple releases iOS 7.1 with CarPlay and Touch ID fixes", "ios"),
    ("3", "2014-03-10T10:02:00", "Search for missing Malaysia Airlines jet MH370 widens to Strait of Malacca", "mh370"),
    ("4", "2014-03-10T10:03:00", "iOS 7.1 update: Apple fixes Touch ID and speeds up iPhone 4", "ios"),
    ("5", "2014-03-10T10:04:00", "Fed's Plosser says taper should speed up as economy improves", "fed"),
    ("6", "2014-03-10T10:05:00", "Missing MH370: Malaysia Airlines plane may have turned back, military says", "mh370"),
    ("7", "2014-03-10T10:06:00", "Apple's iOS 7.1 is out: here is what is new", "ios"),
    ("8", "2014-03-10T10:07:00", "Fed's Charles Plosser sees high bar for change in pace of tapering", "fed"),
]


def headline_stream(tmp_path: Path) -> Path:
    stream = tmp_path / "stream.jsonl"
    stream.write_text(
        "".join(json.dumps({"id": i, "time": t, "title": title}) + "\n" for i, t, title, _ in HEADLINES),
        encoding="utf-8",
    )
    return stream


def test_cluster_file_groups_a_headline_stream(tmp_path: Path, analyser: RecordAnalyser) -> None:
    stream = headline_stream(tmp_path)
    output = io.StringIO()
    stats = cluster_file(stream, output, embedder=analyser.embedder, nlp=analyser.nlp)
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [line["id"] for line in lines] == [i for i, *_ in HEADLINES]
    found = {line["id"]: line["story"] for line in lines}
    groups: dict[str, set[str]] = {}
    for article_id, *_, truth in HEADLINES:
        groups.setdefault(truth, set()).add(found[article_id])
    assert all(len(ids) == 1 for ids in groups.values())
    assert len({next(iter(ids)) for ids in groups.values()}) == 3
    assert stats.articles == 8 and stats.stories == 3


def slow_follow_up_stream(tmp_path: Path) -> Path:
    """One outlet's report and its follow-up half a day later."""
    stream = tmp_path / "slow.jsonl"
    stream.write_text("".join(json.dumps({"id": i, "time": t, "title": title}) + "\n" for i, t, title in [
        ("first", "2014-03-10T10:00:00", HEADLINES[0][2]),
        ("later", "2014-03-10T22:00:00", HEADLINES[2][2]),
    ]), encoding="utf-8")
    return stream


def test_a_follow_up_half_a_day_later_joins_unless_stories_are_assumed_fast(
    tmp_path: Path, analyser: RecordAnalyser
) -> None:
    stream = slow_follow_up_stream(tmp_path)
    stories = {}
    for gap in (0.5, 12.0):
        output = io.StringIO()
        cluster_file(stream, output, embedder=analyser.embedder, nlp=analyser.nlp,
                     settings=StorySettings(assumed_gap_hours=gap))
        stories[gap] = {line["story"] for line in map(json.loads, output.getvalue().splitlines())}
    assert len(stories[0.5]) == 2 and len(stories[12.0]) == 1


def test_a_burst_that_went_quiet_cools_faster_than_a_lone_report() -> None:
    """The same quiet time weighs more against a story that drew twenty reports in an hour."""
    rng = np.random.default_rng(5)
    base = _unit(rng)
    lone = start_story(_article("lone", base), NOV_2)
    burst = start_story(_article("b0", _unit(rng, base, 0.95)), NOV_2)
    for i in range(1, 20):
        join_story(burst, _article(f"b{i}", _unit(rng, base, 0.95)), NOV_2 + timedelta(minutes=3 * i))
    settings = StorySettings()
    assert settings.half_life_hours(lone) == settings.assumed_gap_hours * settings.quiet_gaps
    assert settings.half_life_hours(burst) < settings.half_life_hours(lone) / 10
    later = NOV_2 + timedelta(hours=12)
    follow_up = _article("late", _unit(rng, base, 0.75))
    assert StoryIndex([lone]).assign(follow_up, later) is lone
    assert StoryIndex([burst]).assign(follow_up, later) is None


def test_cluster_file_in_small_chunks_assigns_as_in_one(
    tmp_path: Path, analyser: RecordAnalyser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are embedded in a thread while the one before is assigned: order and result stay the same."""
    stream = headline_stream(tmp_path)
    whole = io.StringIO()
    cluster_file(stream, whole, embedder=analyser.embedder, nlp=analyser.nlp)
    monkeypatch.setattr(cluster_module, "CHUNK", 3)
    chunked = io.StringIO()
    stats = cluster_file(stream, chunked, embedder=analyser.embedder, nlp=analyser.nlp)
    assert chunked.getvalue() == whole.getvalue() and stats.articles == len(HEADLINES)
