"""The seed corpus end to end: CLI, embedded server, real poller, real worker processes, real models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.corpus import read_corpus
from tests.conftest import PROJECT, run_cli

pytestmark = pytest.mark.integration

SEEDS = read_corpus(PROJECT / "seeds")
ALERT_KEYS = {"id", "type", "created_at", "story", "article", "new_facts", "contradictions", "corroborated", "summary"}


# The watched story is defined by the first three seed files; the other two arrive as news.
WATCHED = ("000", "001", "002")


def make_config(folder: Path) -> Path:
    """A config folder whose embedded server lives in ``folder``, watching the shipped seed story as
    defined by the ``WATCHED`` seed files only, so a replay of seeds/ shows both kinds of arrival."""
    config = folder / "config"
    (config / "stories").mkdir(parents=True)
    (config / "storywatch.toml").write_text(f'[server]\ndata_dir = "{folder / "server"}"\n')
    shipped = (PROJECT / "config" / "stories" / "us-china-mil-channels.toml").read_text()
    (config / "stories" / "us-china-mil-channels.toml").write_text(
        shipped.replace('"../../seeds/*.txt"', f'"{PROJECT / "seeds"}/00[0-2]_*.txt"')
    )
    return config


def normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    """`storywatch replay --json -w 2` with no REDIS_URL: the CLI starts and stops its own server."""
    folder = tmp_path_factory.mktemp("replay")
    config = make_config(folder)
    result = run_cli(
        "--config", str(config), "--namespace", "seedtest", "replay", "--json", "-w", "2", env={"REDIS_URL": ""}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()], config


def test_one_watched_story_created_then_updated(embedded_run: tuple[list[dict], Path]) -> None:
    alerts, _ = embedded_run
    by_article = {a["article"]["id"]: a for a in alerts}
    # The first seed to arrive makes the story; a later seed raises an alert only to tell a
    # disagreement with an earlier seed; the two documents that are not seeds bring news.
    assert [a["article"]["id"] for a in alerts] == [doc.id for doc in SEEDS if doc.id in by_article]
    assert alerts[0]["article"]["id"] == SEEDS[0].id and alerts[0]["type"] == "story.created"
    assert [a["type"] for a in alerts[1:]] == ["story.updated"] * (len(alerts) - 1)
    assert {doc.id for doc in SEEDS[3:]} <= set(by_article)
    # The date line is the publication date; an undated document stays undated (no guess, no feed time).
    published = {doc.id: doc.published for doc in SEEDS}
    assert [(a["article"]["published"] or "")[:10] or None for a in alerts] == [
        published[a["article"]["id"]] for a in alerts
    ]
    assert {a["story"]["id"] for a in alerts} == {"us-china-mil-channels"}
    assert all(a["story"]["watched"] is True for a in alerts)
    for alert in alerts:
        assert set(alert) >= ALERT_KEYS
        is_seed = alert["article"]["id"].startswith(WATCHED)
        # A seed's sentences are the story's baseline: never news when the seed arrives.
        assert bool(alert["new_facts"]) != is_seed, f"{alert['article']['id']}: {alert['new_facts']}"
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", alert["created_at"])
        assert alert["summary"] and "\n" not in alert["summary"]


def test_alerts_quote_their_sources(embedded_run: tuple[list[dict], Path]) -> None:
    alerts, _ = embedded_run
    texts = {doc.id: normalise(doc.text) for doc in SEEDS}
    for alert in alerts:
        for fact in alert["new_facts"]:
            assert normalise(fact["text"]) in texts[alert["article"]["id"]]
        for item in alert["contradictions"]:
            assert normalise(item["text"]) in texts[alert["article"]["id"]]
            assert normalise(item["conflicts_with"]["text"]) in texts[item["conflicts_with"]["article_id"]]


def test_seed_examples_of_the_ledger(embedded_run: tuple[list[dict], Path]) -> None:
    alerts, config = embedded_run
    by_article = {a["article"]["id"]: a for a in alerts}
    third = " ".join(f["text"] for f in by_article["003_3c7258d1f1c40819"]["new_facts"])
    assert "57%" in third and "47%" in third
    assert "more than 90" in third
    ledger = story_json(config)["ledger"]
    # The seeds were in the ledger before any article arrived, each under its file and date.
    seeded = {ref["article_id"]: ref for ref in ledger["articles"] if ref["text"] == "seed document"}
    assert sorted(seeded) == [doc.id for doc in SEEDS[:3]]
    assert all(ref["source"] == f"seed {ref['article_id']}.txt" for ref in seeded.values())
    assert seeded[SEEDS[0].id]["seen_at"] == SEEDS[0].published
    # "Defense Secretary" (002) and "Hagseth" (001) are the same man as "Secretary of War Pete Hegseth".
    assert not [c for c in ledger["contradictions"] if c["kind"] == "person"], ledger["contradictions"]
    for alert in alerts:
        assert "person" not in [c["kind"] for c in alert["contradictions"]], alert["contradictions"]


def story_json(config: Path) -> dict:
    shown = run_cli(
        "--config",
        str(config),
        "--namespace",
        "seedtest",
        "story",
        "us-china-mil-channels",
        "--json",
        env={"REDIS_URL": ""},
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_stories_and_ledger_after_replay(embedded_run: tuple[list[dict], Path]) -> None:
    alerts, config = embedded_run
    # The replay stopped the server it started; `stories` starts it again on the same data.
    listed = run_cli("--config", str(config), "--namespace", "seedtest", "stories", "--json", env={"REDIS_URL": ""})
    assert listed.returncode == 0, listed.stderr
    [story] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert story["id"] == "us-china-mil-channels" and story["articles"] == 5 and story["sources"] == 5
    ledger = story_json(config)["ledger"]
    fact_ids = {f["id"] for f in ledger["facts"]}
    assert {f["claim_id"] for a in alerts for f in a["new_facts"]} <= fact_ids
    streamed = run_cli("--config", str(config), "--namespace", "seedtest", "alerts", "--json", env={"REDIS_URL": ""})
    assert [json.loads(line)["id"] for line in streamed.stdout.splitlines()] == [a["id"] for a in alerts]
    stop = run_cli("--config", str(config), "server", "stop", env={"REDIS_URL": ""})
    assert stop.stdout.strip() == "stopped"


def test_external_server_and_one_worker_give_the_same_alerts(
    embedded_run: tuple[list[dict], Path], tcp_valkey: str, tmp_path: Path
) -> None:
    alerts, _ = embedded_run
    config = make_config(tmp_path)
    result = run_cli("--config", str(config), "replay", "--json", "-w", "1", env={"REDIS_URL": tcp_valkey})
    assert result.returncode == 0, result.stderr[-3000:]
    again = [json.loads(line) for line in result.stdout.splitlines()]
    assert not (tmp_path / "server").exists(), "REDIS_URL set: no embedded server may start"

    def essence(items: list[dict]) -> list[tuple]:
        return [
            (
                a["id"],
                a["type"],
                a["article"]["id"],
                [f["text"] for f in a["new_facts"]],
                [(c["kind"], c["text"]) for c in a["contradictions"]],
                a["corroborated"],
            )
            for a in items
        ]

    assert essence(again) == essence(alerts)
