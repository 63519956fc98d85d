"""Online story clustering on the UCI news stream: quality, throughput, and assignment cost at scale.

    .venv/bin/python benchmarks/clustering.py [CSV] [--no-entities] [--interleave] [--limit N]

Reads ``ID,TITLE,URL,PUBLISHER,CATEGORY,STORY,HOSTNAME,TIMESTAMP`` (ms) in arrival order, writes it
to a temporary JSONL, runs ``cluster_file`` over it and scores the result against the STORY labels
with pair counting and BCubed. In this stream each story's articles arrive as one contiguous burst,
which flatters any use of time; ``--interleave`` shuffles the articles (keeping the timestamps in
order) to show what content alone achieves. Prints numbers only: no asserts.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cluster import cluster_file  # noqa: E402
from pipeline.models import AnalysedArticle, Article, Story  # noqa: E402
from pipeline.stories import StoryIndex, StorySettings  # noqa: E402

DEFAULT_CSV = ROOT / ".." / "shared" / "data" / "uci-news-stream.csv"


def pair_counting(truth: list[str], found: list[str]) -> tuple[float, float, float]:
    """Precision, recall, F1 over all pairs of articles put together (by the clustering / the truth)."""

    def pairs(counts: Counter) -> int:
        return sum(c * (c - 1) // 2 for c in counts.values())

    together = pairs(Counter(zip(truth, found, strict=True)))
    precision = together / max(pairs(Counter(found)), 1)
    recall = together / max(pairs(Counter(truth)), 1)
    return precision, recall, _f1(precision, recall)


def bcubed(truth: list[str], found: list[str]) -> tuple[float, float, float]:
    """Per-article precision and recall of its cluster against its true story, averaged."""
    both = Counter(zip(truth, found, strict=True))
    by_truth, by_found = Counter(truth), Counter(found)
    precision = sum(both[(t, f)] / by_found[f] for t, f in zip(truth, found, strict=True)) / len(truth)
    recall = sum(both[(t, f)] / by_truth[t] for t, f in zip(truth, found, strict=True)) / len(truth)
    return precision, recall, _f1(precision, recall)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def read_stream(path: Path, interleave: bool, limit: int | None) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        # The last line of the file is cut short; a row without a timestamp is no article.
        rows = [r for r in csv.DictReader(handle) if r.get("TIMESTAMP") and r.get("STORY")]
    rows = rows[:limit] if limit else rows
    if interleave:
        stamps = [r["TIMESTAMP"] for r in rows]
        random.Random(7).shuffle(rows)
        rows = [dict(r, TIMESTAMP=stamp) for r, stamp in zip(rows, stamps, strict=True)]
    return rows


def record_of(row: dict[str, str]) -> dict[str, str]:
    """A CSV row as a `storywatch cluster` record."""
    moment = datetime.fromtimestamp(int(row["TIMESTAMP"]) / 1000, tz=UTC)
    return {"id": row["ID"], "time": moment.isoformat(), "title": row["TITLE"], "source": row["PUBLISHER"]}


def write_jsonl(rows: list[dict[str, str]], handle: io.TextIOBase) -> None:
    for row in rows:
        handle.write(json.dumps(record_of(row)) + "\n")


def assignment_cost(stories: int = 10_000, articles: int = 500, dim: int = 384) -> tuple[float, float]:
    """Median and 95th percentile milliseconds to place one article among ``stories`` active random stories:
    scoring, joining or starting a story, and looking for merges.

    Percentiles, after a warm-up pass, because on a shared machine a neighbour's burst shows up as
    a few slow calls that a mean would smear over all of them."""
    rng = np.random.default_rng(3)
    now = datetime(2025, 11, 2, tzinfo=UTC)

    def unit(n: int) -> np.ndarray:
        v = rng.normal(size=(n, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    centroids = unit(stories)
    vocabulary = [f"name{i}" for i in range(5000)]
    index = StoryIndex(
        Story(
            id=f"s{i}",
            title=f"story {i}",
            watched=False,
            centroid=centroids[i],
            created_at=(now - timedelta(hours=float(rng.uniform(0, 48)))).isoformat(),
            updated_at=(now - timedelta(hours=float(rng.uniform(0, 24)))).isoformat(),
            article_ids=[f"a{i}"],
            entities={vocabulary[j]: 1 for j in rng.choice(5000, 12)},
            terms={vocabulary[j]: 1 for j in rng.choice(5000, 12)},
            weight=1.0,
        )
        for i in range(stories)
    )
    # Queries near existing stories, so that candidates pass the cheap filter and get scored in full.
    targets = rng.choice(stories, articles)
    queries = centroids[targets] + 0.6 * unit(articles) / np.sqrt(2)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    probes = [
        AnalysedArticle(
            Article(id=f"q{i}", url="", source="", title=" ".join(rng.choice(vocabulary, 8)), text=""),
            [],
            queries[i],
            list(rng.choice(vocabulary, 6)),
        )
        for i in range(articles)
    ]
    for probe in probes[:50]:
        index.assign(probe, now)
    costs = []
    for probe in probes:
        started = time.perf_counter()
        index.place(probe, now)
        costs.append((time.perf_counter() - started) * 1000)
    median, p95 = np.percentile(costs, [50, 95])
    return float(median), float(p95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--no-entities", action="store_true", help="skip spaCy NER")
    parser.add_argument("--interleave", action="store_true", help="shuffle the stories into each other")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    rows = read_stream(args.csv.resolve(), args.interleave, args.limit)
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        with open(stream, "w", encoding="utf-8") as handle:
            write_jsonl(rows, handle)
        output = io.StringIO()
        stats = cluster_file(
            stream, output, progress=sys.stderr, settings=StorySettings(), entities=not args.no_entities
        )
    found_by_id = {r["id"]: r["story"] for r in map(json.loads, output.getvalue().splitlines())}
    truth = [r["STORY"] for r in rows]
    found = [found_by_id[r["ID"]] for r in rows]

    print(
        f"articles {len(rows)}, true stories {len(set(truth))}, found stories {len(set(found))}, merges {stats.merges}"
    )
    print("pair counting  P {:.3f}  R {:.3f}  F1 {:.3f}".format(*pair_counting(truth, found)))
    print("BCubed         P {:.3f}  R {:.3f}  F1 {:.3f}".format(*bcubed(truth, found)))
    print(
        f"throughput     {stats.articles_per_second:.0f} articles/s ({stats.backend} embedding) "
        f"after {stats.load_seconds:.1f} s of model loading "
        f"(embedding {stats.embed_seconds:.1f} s in its own thread, overlapping NER {stats.entity_seconds:.1f} s "
        f"and assignment {stats.assign_seconds:.2f} s; {stats.seconds:.1f} s in all)"
    )
    median, p95 = assignment_cost()
    print(f"assignment     {median:.2f} ms/article (p95 {p95:.2f} ms) with 10,000 active stories")


if __name__ == "__main__":
    main()
