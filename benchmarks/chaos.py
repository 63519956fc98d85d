"""Chaos run: a stream of articles through the real fleet while workers and the server are SIGKILLed.

    .venv/bin/python benchmarks/chaos.py [--articles 300] [--workers 2] [--kill-every 8]

The same stream runs twice, each on an embedded Valkey of its own in a temp dir: calm, then with
a random worker of the pool SIGKILLed every few seconds (the pool respawns it) and the server
SIGKILLed twice and restarted on its data dir. Articles come from a loopback site whose feed grows
as the run goes; the real poller reads it and `storywatch worker -n N` processes take it from
there; a jsonl channel records every delivered alert. The chaos run must end with every article
integrated once, no duplicate alert, and the calm run's ledgers and alert ids.

The chaos config retries failed jobs after 2, 5 and 10 s (instead of 10, 30, 60) to keep the run short.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rq import Queue

PROJECT = Path(__file__).resolve().parents[1]
# This folder's own pipeline.py would shadow the package.
sys.path.insert(0, str(PROJECT))

from pipeline.config import Feed, load_settings  # noqa: E402
from pipeline.corpus import Document  # noqa: E402
from workers.connection import PatientRedis  # noqa: E402
from workers.loopback import LoopbackSite  # noqa: E402
from workers.poller import Poller  # noqa: E402
from workers.replay import corpus_responder, fleet_alive  # noqa: E402
from workers.server import EmbeddedServer  # noqa: E402
from workers.status import collect, queue_status  # noqa: E402
from workers.store import Store  # noqa: E402

NAMESPACE = "chaos"

TOPICS = [  # place, organisation, person, subject, unit
    ("Oslo", "the Norwegian Public Roads Administration", "Kari Nordmann", "harbour ferry line", "passengers"),
    ("Lagos", "the Lagos State Government", "Adebayo Okafor", "coastal rail link", "commuters"),
    ("Lima", "Sedapal", "Lucia Quispe", "water treatment plant", "households"),
    ("Hanoi", "Vietnam Electricity", "Nguyen Van An", "offshore wind farm", "megawatts"),
    ("Quebec", "Hydro-Quebec", "Marie Tremblay", "northern dam project", "megawatts"),
    ("Nairobi", "Kenya Power", "Wanjiru Kamau", "geothermal plant", "homes"),
    ("Santiago", "Codelco", "Diego Fuentes", "copper smelter upgrade", "tonnes"),
    ("Osaka", "Kansai Electric", "Haruto Sato", "hydrogen bus fleet", "buses"),
    ("Krakow", "the Krakow city council", "Anna Kowalska", "tram network extension", "stops"),
    ("Perth", "Water Corporation", "Liam Murphy", "desalination plant", "litres"),
    ("Cairo", "the Egyptian Ministry of Transport", "Omar Hassan", "monorail line", "stations"),
    ("Bogota", "TransMilenio", "Camila Rojas", "cable car line", "riders"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
SENTENCES = [
    "{person} of {org} said on {day} that the {subject} in {place} will serve {n} {unit} a day by {year}.",
    "The {subject} in {place} is expected to cost {m} million dollars, {org} said on {day}.",
    "{person} told reporters in {place} on {day} that {k} percent of residents support the {subject}.",
    "Critics in {place} warned on {day} that the {subject} could be delayed until {year}.",
    "According to {org}, about {n2} people attended a public meeting on the {subject} in {place} on {day}.",
    "{org} confirmed on {day} that construction of the {subject} in {place} began with {w} workers.",
]


def corpus(count: int, seed: int = 7) -> list[Document]:
    """``count`` distinct short articles over the topics, deterministic for a seed."""
    rng = random.Random(seed)
    documents = []
    for index in range(count):
        place, org, person, subject, unit = TOPICS[index % len(TOPICS)]
        values = {"place": place, "org": org, "person": person, "subject": subject, "unit": unit,
                  "day": rng.choice(DAYS), "year": rng.choice([2026, 2027, 2028]), "n": rng.randrange(100, 5000, 50),
                  "m": rng.randrange(20, 900, 10), "k": rng.randrange(30, 80), "n2": rng.randrange(50, 900, 10),
                  "w": rng.randrange(100, 3000, 100)}
        chosen = rng.sample(SENTENCES, 4)
        text = " ".join(sentence.format(**values) for sentence in chosen) + f" The report was filed as number {index}."
        documents.append(Document(id=f"a{index:04d}", text=text, published="2025-11-03", path=Path(f"a{index}.txt")))
    return documents


class GrowingSite:
    """A loopback site whose feed lists the articles released so far (``released`` grows)."""

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents
        self.released = 0
        # Every released article, so that each keeps its <updated> (its place in the list).
        self.loopback = LoopbackSite(corpus_responder(documents, lambda: self.documents[:self.released]))
        self.base_url = self.loopback.base_url

    def close(self) -> None:
        self.loopback.close()


def pool_children(pool_pid: int) -> list[int]:
    """The worker processes the pool forked (not their schedulers, one level further down)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pool_pid:
                children.append(int(entry.name))
    return children


def write_config(folder: Path, deliveries: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "storywatch.toml").write_text(
        f'[runtime]\nnamespace = "{NAMESPACE}"\n[workers]\nretry_intervals = [2, 5, 10]\n'
        f'[[channel]]\nname = "record"\ntype = "jsonl"\npath = "{deliveries}"\nretry_intervals = [2, 10, 30, 60]\n')
    return folder


def run(documents: list[Document], workdir: Path, workers: int, chaos: bool, kill_every: float,
        rng: random.Random, timeout: float) -> dict[str, Any]:
    label = "chaos" if chaos else "calm"
    deliveries = workdir / f"{label}-deliveries.jsonl"
    config = write_config(workdir / f"{label}-config", deliveries)
    server = EmbeddedServer(workdir / f"{label}-server")
    server.start()
    store = Store(PatientRedis.from_url(server.url), NAMESPACE)
    site = GrowingSite(documents)
    with open(workdir / f"{label}-fleet.log", "wb") as log:
        fleet = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "--namespace", NAMESPACE, "--config", str(config), "worker",
             "-n", str(workers)], env={**os.environ, "REDIS_URL": server.url}, cwd=PROJECT, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    stop = threading.Event()
    poller = threading.Thread(target=Poller(store, load_settings(config)).run, daemon=True, args=(
        [Feed(url=f"{site.base_url}/feed.xml", name="chaos", interval=1, min_interval=1, max_interval=2,
              allow_private=True)], stop))
    poller.start()
    events: Counter[str] = Counter()
    started = time.monotonic()
    next_kill = started + kill_every
    server_kills = [len(documents) * 0.35, len(documents) * 0.7] if chaos else []
    try:
        while True:
            now = time.monotonic()
            site.released = min(len(documents), int((now - started) * 4) + 1)  # four new articles a second
            integrated = store.next_to_integrate() - 1
            if chaos and now >= next_kill and (children := pool_children(fleet.pid)):
                os.kill(rng.choice(children), signal.SIGKILL)
                events["worker kills"] += 1
                next_kill = now + kill_every * rng.uniform(0.5, 1.5)
            if server_kills and integrated >= server_kills[0]:
                server_kills.pop(0)
                os.kill(server.pid() or 0, signal.SIGKILL)
                events["server kills"] += 1
                time.sleep(1.0)
                EmbeddedServer(server.data_dir).start()
            if site.released == len(documents) and store.last_sequence() >= len(documents) \
                    and integrated >= store.last_sequence() and _deliveries_idle(store):
                break
            if now - started > timeout:
                events["timed out"] += 1
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        status = collect(store)
        stories = {story.id: [(fact.id, fact.text) for fact in store.ledger(story.id).facts]
                   for story in store.stories()}
        alerts = [alert.id for _, alert in store.alerts(count=100_000)]
    finally:
        stop.set()
        fleet.send_signal(signal.SIGTERM)
        try:
            fleet.wait(timeout=120)
        except subprocess.TimeoutExpired:
            events["fleet ignored SIGTERM"] += 1
            os.killpg(fleet.pid, signal.SIGKILL)
        poller.join(timeout=30)
        site.close()
        server.stop()
    lines = [json.loads(line)["id"] for line in deliveries.read_text().splitlines()] if deliveries.exists() else []
    return {"label": label, "elapsed_s": round(elapsed, 1), "events": dict(events), "status": status,
            "stories": stories, "alerts": alerts, "delivered": lines, "leftover": fleet_alive(fleet)}


def _deliveries_idle(store: Store) -> bool:
    row = queue_status(Queue(store.delivery_queue_name, connection=store.client), datetime.now(UTC))
    return row["queued"] == row["started"] == row["scheduled"] == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=8.0, help="mean seconds between worker kills")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=420.0, help="seconds per run before giving up")
    parser.add_argument("--keep", metavar="DIR", help="keep servers' data, configs and fleet logs in DIR")
    args = parser.parse_args()
    documents = corpus(args.articles)
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        folder = Path(args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="sw-chaos-")))
        calm = run(documents, folder, args.workers, False, args.kill_every, rng, args.timeout)
        chaos = run(documents, folder, args.workers, True, args.kill_every, rng, args.timeout)
    articles = chaos["status"]["stories"]["articles"]
    alerts, delivered = chaos["alerts"], chaos["delivered"]
    report = {
        "articles in": len(documents),
        "articles processed": articles,
        "alerts expected": len(calm["alerts"]),
        "alerts raised": len(alerts),
        "alerts delivered": len(set(delivered)),
        "duplicates (raised, delivered)": (len(alerts) - len(set(alerts)), len(delivered) - len(set(delivered))),
        "ledger equals calm run": chaos["stories"] == calm["stories"],
        "alert ids equal calm run": alerts == calm["alerts"],
        "stories": len(chaos["stories"]),
        "faults": chaos["events"],
        "failed jobs by cause": chaos["status"]["failed"],
        "seconds (calm, chaos)": (calm["elapsed_s"], chaos["elapsed_s"]),
        "processes left after SIGTERM": chaos["leftover"] or calm["leftover"],
    }
    for key, value in report.items():
        print(f"{key:>32}: {value}")
    ok = (articles == len(documents) and alerts == calm["alerts"] and chaos["stories"] == calm["stories"]
          and len(set(delivered)) == len(calm["alerts"]) and "timed out" not in chaos["events"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
