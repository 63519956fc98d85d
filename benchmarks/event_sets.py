"""Labelled full-text sets for the same-event model: loading, briefs, shuffling, analysis and scoring.

Sets (read by path from ../shared/data; never copied here):
- ``gvc``: Gun Violence Corpus validation split, 78 shooting reports, 37 incidents.
- ``gvc-test``: its test split, 74 reports, 34 incidents: kept out of every choice (features, weights,
  bars) and scored only with the shipped model.
- ``fcct``: FCC-T dev, 117 football reports and previews, 35 matches.
- ``newswcl50``: 50 long political articles, 10 events of five outlets each.
- ``ledger-dev``: five real multi-outlet stories with written follow-ups; each story's other-event
  article is an event of its own.
- ``pages``: the seeds and the 181 real pages of the article-extraction benchmark, 13 hand-judged
  events among them (``fulltext_stories.json``; "unsure" pairs are scored neither way).

The event-clusters corpora carry no useful arrival times: they are shuffled and placed within one hour,
so time tells nothing apart. A ``+briefs`` variant cuts every other non-first article of an event
down to its lead (about 60-120 words, title kept): the short follow-up case.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from clustering_fulltext import PAGES, page_records, seed_records  # noqa: E402
from labelled import scored_pairs, truth_of  # noqa: E402

from pipeline.cluster import RecordAnalyser, load_ner  # noqa: E402
from pipeline.corpus import read_document  # noqa: E402
from pipeline.embed import Embedder  # noqa: E402
from pipeline.models import AnalysedArticle  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
EVENT_CLUSTERS = DATA / "event-clusters"
LEDGER_DEV = DATA / "ledger-dev"
FULLTEXT_LABELS = ROOT / "benchmarks" / "fulltext_stories.json"
CACHE = ROOT / ".storywatch" / "cache" / "analysed"
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


@dataclass(frozen=True)
class LabelledSet:
    """Records in stream order, the event of each, and the unsure groups each is in (pages only)."""

    name: str
    records: tuple[dict[str, str], ...]
    events: tuple[str, ...]
    unsure: tuple[frozenset[str], ...]


def _detokenise(text: str) -> str:
    """CoNLL token text ('Kokomo , Ind .') back to prose, and the corpora's literal line markers out."""
    text = text.replace("//n", " ").replace("\\n", " ")
    text = re.sub(r" ([,.;:!?%)\]'](?:\s|$))", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    text = re.sub(r"([(\[$]) ", r"\1", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def event_clusters(name: str, files: tuple[str, ...]) -> LabelledSet:
    rows = [json.loads(line) for f in files for line in (EVENT_CLUSTERS / f).open(encoding="utf-8") if line.strip()]
    records = tuple(
        {
            "id": f"{name}-{i}",
            "time": START.isoformat(),
            "title": _detokenise(row["title"]),
            "text": "\n".join(_detokenise(line) for line in row["body"].splitlines() if line.strip()),
        }
        for i, row in enumerate(rows)
    )
    return LabelledSet(name, records, tuple(f"{name}:{row['event']}" for row in rows), tuple(frozenset() for _ in rows))


def ledger_dev() -> LabelledSet:
    records, events = [], []
    for folder in sorted(p for p in LEDGER_DEV.iterdir() if p.is_dir()):
        roles = {a["file"]: a["role"] for a in json.loads((folder / "labels.json").read_text())["articles"]}
        for path in sorted(folder.glob("*.txt")):
            document = read_document(path)
            moment = datetime.fromisoformat((document.published or "2019-11-19")[:10]).replace(hour=12, tzinfo=UTC)
            records.append(
                {
                    "id": f"{folder.name}-{path.stem}",
                    "time": moment.isoformat(),
                    "title": document.title,
                    "text": document.text,
                    "source": path.stem,
                }
            )
            events.append(f"{folder.name}:{path.stem}" if roles.get(path.name) == "other-event" else folder.name)
    order = sorted(range(len(records)), key=lambda i: (records[i]["time"], records[i]["id"]))
    return LabelledSet(
        "ledger-dev",
        tuple(records[i] for i in order),
        tuple(events[i] for i in order),
        tuple(frozenset() for _ in order),
    )


def pages() -> LabelledSet:
    labelled = sorted(seed_records() + page_records(PAGES.resolve(), "published"), key=lambda item: item[0]["time"])
    truth, unsure = truth_of([key for _, key in labelled], FULLTEXT_LABELS)
    return LabelledSet("pages", tuple(r for r, _ in labelled), tuple(truth), tuple(frozenset(u) for u in unsure))


LOADERS: dict[str, Callable[[], LabelledSet]] = {
    "gvc": lambda: event_clusters("gvc", ("gvc_val.jsonl",)),
    "gvc-test": lambda: event_clusters("gvc-test", ("gvc_test.jsonl",)),
    "fcct": lambda: event_clusters("fcct", ("fcct_dev.jsonl",)),
    "newswcl50": lambda: event_clusters("newswcl50", ("newswcl50.jsonl",)),
    "ledger-dev": ledger_dev,
    "pages": pages,
}
# Sets without arrival times: shuffled and placed within an hour.
UNTIMED = frozenset({"gvc", "gvc-test", "fcct", "newswcl50"})


def lead(text: str, words: int = 90) -> str:
    """The opening of a body, cut at a sentence end near ``words`` words: what a brief restates."""
    sentences = re.split(r"(?<=[.!?])\s+", text.replace("\n", " "))
    kept: list[str] = []
    for sentence in sentences:
        kept.append(sentence)
        if sum(len(s.split()) for s in kept) >= words:
            break
    return " ".join(kept)


def with_briefs(labelled: LabelledSet) -> LabelledSet:
    """Every other report of an event after its first, cut down to its lead."""
    seen: dict[str, int] = defaultdict(int)
    records = []
    for record, event in zip(labelled.records, labelled.events, strict=True):
        seen[event] += 1
        if seen[event] % 2 == 0 and len(record["text"].split()) > 150:
            record = {**record, "id": record["id"] + "-brief", "text": lead(record["text"])}
        records.append(record)
    return replace(labelled, name=labelled.name + "+briefs", records=tuple(records))


def shuffled(labelled: LabelledSet, seed: int) -> LabelledSet:
    """The set in a random order, all at one moment: time tells nothing apart."""
    order = list(range(len(labelled.records)))
    random.Random(seed).shuffle(order)
    # One moment for all: the cooling then reads exactly 0, so no order-dependent noise reaches the model.
    records = tuple({**labelled.records[i], "time": START.isoformat()} for i in order)
    return LabelledSet(
        labelled.name, records, tuple(labelled.events[i] for i in order), tuple(labelled.unsure[i] for i in order)
    )


def streams(name: str, seeds: tuple[int, ...] = (1, 2, 3)) -> list[LabelledSet]:
    """The orders a set is clustered in: shuffles for untimed sets, arrival order otherwise."""
    base = LOADERS[name.removesuffix("+briefs")]()
    if name.endswith("+briefs"):
        base = with_briefs(base)
    return [shuffled(base, seed) for seed in seeds] if base.name.removesuffix("+briefs") in UNTIMED else [base]


class Analysis:
    """Analysed articles by record, computed once and cached on disk (embedding ~600 articles takes minutes)."""

    def __init__(self) -> None:
        self._analyser: RecordAnalyser | None = None

    def _key(self, record: dict[str, str]) -> Path:
        digest = hashlib.sha1(f"{record['id']}\x1f{record['title']}\x1f{record['text']}".encode()).hexdigest()
        return CACHE / f"{digest}.pkl"

    def __call__(self, labelled: LabelledSet) -> list[AnalysedArticle]:
        missing = [r for r in labelled.records if not self._key(r).exists()]
        if missing:
            if self._analyser is None:
                self._analyser = RecordAnalyser(Embedder(threads=1), load_ner())
            CACHE.mkdir(parents=True, exist_ok=True)
            for record, analysed in zip(missing, self._analyser.analyse(missing), strict=True):
                self._key(record).write_bytes(pickle.dumps(analysed.to_dict()))
        out = []
        for record in labelled.records:
            analysed = AnalysedArticle.from_dict(pickle.loads(self._key(record).read_bytes()))
            analysed.article.published = record["time"]
            out.append(analysed)
        return out


@dataclass(frozen=True)
class Scores:
    pair_p: float
    pair_r: float
    pair_f1: float
    bcubed_p: float
    bcubed_r: float
    bcubed_f1: float


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(labelled: LabelledSet, found: list[str]) -> Scores:
    """Pair counting (unsure pairs of different events left out) and BCubed P/R/F1."""
    truth, unsure = labelled.events, labelled.unsure
    pair_p, pair_r, pair_f1 = scored_pairs(list(truth), [set(u) for u in unsure], found)
    by_found, by_truth = defaultdict(list), defaultdict(list)
    for i, (t, f) in enumerate(zip(truth, found, strict=True)):
        by_found[f].append(i)
        by_truth[t].append(i)
    n = len(truth)
    bp = sum(sum(truth[j] == truth[i] for j in by_found[found[i]]) / len(by_found[found[i]]) for i in range(n)) / n
    br = sum(sum(found[j] == found[i] for j in by_truth[truth[i]]) / len(by_truth[truth[i]]) for i in range(n)) / n
    return Scores(pair_p, pair_r, pair_f1, bp, br, _f1(bp, br))


def mean_scores(scores: list[Scores]) -> Scores:
    fields = zip(*((s.pair_p, s.pair_r, s.pair_f1, s.bcubed_p, s.bcubed_r, s.bcubed_f1) for s in scores), strict=True)
    return Scores(*(sum(f) / len(scores) for f in fields))
