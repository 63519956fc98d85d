"""Story clustering on full text, with the settings tuned on headlines: does it hold on data it never saw?

    .venv/bin/python benchmarks/clustering_fulltext.py [--pages DIR]

The stream: the five seed articles (five outlets' full reports of one event) mixed, in time order,
with the 181 real article pages of ``../shared/data/article-extraction`` (extracted by trafilatura),
run twice: at the pages' own publication dates, and all within one hour so that time separates
nothing. The pages played no part in choosing the settings. Several of them report one event from different outlets:
``benchmarks/fulltext_stories.json`` holds those groups, judged by hand, and groups too loose to call
one event either way ("unsure": their pairs are not scored). Prints pair-counting precision, recall
and F1, the stories split, and every group the clustering made across stories, with titles, marked
wrong or unsure. Prints numbers only: no asserts.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cluster import cluster_file  # noqa: E402
from pipeline.corpus import read_document  # noqa: E402
from pipeline.extract import ExtractError, extract_article  # noqa: E402

SEEDS = ROOT / "seeds"
LABELS = ROOT / "benchmarks" / "fulltext_stories.json"
PAGES = ROOT / ".." / "shared" / "data" / "article-extraction"
SEED_EVENT = datetime(2025, 11, 2, 12, tzinfo=UTC)


def seed_records() -> list[tuple[dict[str, str], str]]:
    """The seed articles: five outlets' full reports of one event."""
    records = []
    for path in sorted(SEEDS.glob("*.txt")):
        document = read_document(path)
        moment = datetime.fromisoformat((document.published or "2025-11-02")[:10]).replace(hour=12, tzinfo=UTC)
        records.append(({"id": document.id, "time": moment.isoformat(), "title": document.title,
                         "text": document.text}, "seed event"))
    return records


def page_records(folder: Path, timing: str) -> list[tuple[dict[str, str], str]]:
    """Each real page, at its publication date (``timing="published"``; noon when the page gives no
    time of day) or, with ``timing="hour"``, all within one hour of the seed event: then time tells
    nothing apart and nothing cools."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    records = []
    for i, path in enumerate(sorted((folder / "html").glob("*.html.gz"))):
        page_id = path.name.removesuffix(".html.gz")
        url = truth.get(page_id, {}).get("url") or "http://example.com/"
        try:
            article = extract_article(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"), url, page_id)
        except ExtractError:
            continue
        if timing == "published" and article.published:
            moment = datetime.fromisoformat(article.published[:10]).replace(hour=12, tzinfo=UTC)
        else:
            moment = SEED_EVENT + timedelta(seconds=20 * i)
        records.append(({"id": f"page-{page_id}", "time": moment.isoformat(), "title": article.title,
                         "text": article.text, "source": article.source}, f"page-{page_id}"))
    return records


def truth_of(records: list[tuple[dict[str, str], str]]) -> tuple[list[str], list[set[str]]]:
    """A story label per record and the unsure groups each record is in, from the hand-made labels."""
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    same = {page: story for story, pages in labels["same"].items() for page in pages}
    unsure: dict[str, set[str]] = {}
    for group, pages in labels["unsure"].items():
        for page in pages:
            unsure.setdefault(page, set()).add(group)
    prefixes = [label.removeprefix("page-")[:8] if label.startswith("page-") else "" for _, label in records]
    truth = [same.get(prefix, label) for prefix, (_, label) in zip(prefixes, records, strict=True)]
    return truth, [unsure.get(prefix, set()) for prefix in prefixes]


def scored_pairs(truth: list[str], unsure: list[set[str]], found: list[str]) -> tuple[float, float, float]:
    """Pair-counting precision, recall and F1, leaving out pairs of different truth inside one unsure group."""
    tp = fp = fn = 0
    for i, j in combinations(range(len(truth)), 2):
        together, should = found[i] == found[j], truth[i] == truth[j]
        if not should and unsure[i] & unsure[j]:
            continue
        tp += together and should
        fp += together and not should
        fn += should and not together
    precision, recall = tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate(records: list[tuple[dict[str, str], str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        stream.write_text("".join(json.dumps(record) + "\n" for record, _ in records), encoding="utf-8")
        output = io.StringIO()
        stats = cluster_file(stream, output)
    found_by_id = {r["id"]: r["story"] for r in map(json.loads, output.getvalue().splitlines())}
    truth, unsure = truth_of(records)
    found = [found_by_id[record["id"]] for record, _ in records]
    sizes = Counter(truth)
    print(f"articles {len(records)}: {sum(n for n in sizes.values() if n > 1)} in {sum(n > 1 for n in sizes.values())} "
          f"stories of several articles, {sum(n == 1 for n in sizes.values())} alone; found stories {len(set(found))}")
    print("pair counting  P {:.3f}  R {:.3f}  F1 {:.3f}".format(*scored_pairs(truth, unsure, found)))
    split = []
    for story in sorted({label for label in truth if sizes[label] > 1}):
        members = [i for i, label in enumerate(truth) if label == story]
        together = Counter(found[i] for i in members).most_common(1)[0][1]
        if together < len(members):
            split.append(f"{story} {together}/{len(members)}")
    print(f"  stories split: {', '.join(split) or 'none'}")
    made = Counter(found)
    for cluster in sorted(c for c in made if made[c] > 1):
        members = [i for i in range(len(records)) if found[i] == cluster]
        if len({truth[i] for i in members}) > 1:
            verdict = "unsure" if set.intersection(*(unsure[i] for i in members)) else "WRONG"
            print(f"  joined ({verdict}):", " | ".join(records[i][0]["title"][:50] for i in members))
    print(f"  throughput {stats.articles_per_second:.0f} articles/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=Path, default=PAGES, help="the article-extraction benchmark folder")
    args = parser.parse_args()
    for timing, label in (("published", "pages at their publication dates"),
                          ("hour", "pages all within one hour, time telling nothing apart")):
        print(f"--- {label}")
        evaluate(sorted(seed_records() + page_records(args.pages.resolve(), timing), key=lambda item: item[0]["time"]))


if __name__ == "__main__":
    main()
