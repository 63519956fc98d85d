"""Story clustering on full text: the seed articles among 181 real pages, some reporting one event.

    .venv/bin/python benchmarks/clustering_fulltext.py [--pages DIR]

The stream: the five seed articles (five outlets' full reports of one event) mixed, in time order,
with the 181 real article pages of ``../shared/data/article-extraction`` (extracted by trafilatura),
run twice: at the pages' own publication dates, and all within one hour so that time separates
nothing. Several pages report one event from different outlets: ``benchmarks/fulltext_stories.json``
holds those groups, judged by hand, and groups too loose to call one event either way ("unsure":
their pairs are not scored). The same-event model that places these pages was trained on them among
other sets (benchmarks/train_same_event.py), so they are not held out here; clustering_events.py
leaves them out. Prints pair-counting precision, recall and F1, the stories split,
and every group the clustering made across stories, with titles, marked wrong or unsure. Prints
numbers only: no asserts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelled import Labelled, evaluate  # noqa: E402

from pipeline.corpus import read_document  # noqa: E402
from pipeline.extract import ExtractError, extract_article  # noqa: E402

SEEDS = ROOT / "seeds"
LABELS = ROOT / "benchmarks" / "fulltext_stories.json"
PAGES = ROOT / ".." / "shared" / "data" / "article-extraction"
SEED_EVENT = datetime(2025, 11, 2, 12, tzinfo=UTC)


def seed_records() -> list[Labelled]:
    """The seed articles: five outlets' full reports of one event."""
    records = []
    for path in sorted(SEEDS.glob("*.txt")):
        document = read_document(path)
        moment = datetime.fromisoformat((document.published or "2025-11-02")[:10]).replace(hour=12, tzinfo=UTC)
        records.append(({"id": document.id, "time": moment.isoformat(), "title": document.title,
                         "text": document.text}, "seed event"))
    return records


def page_records(folder: Path, timing: str) -> list[Labelled]:
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
                         "text": article.text, "source": article.source}, page_id[:8]))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=Path, default=PAGES, help="the article-extraction benchmark folder")
    args = parser.parse_args()
    for timing, label in (("published", "pages at their publication dates"),
                          ("hour", "pages all within one hour, time telling nothing apart")):
        print(f"--- {label}")
        evaluate(sorted(seed_records() + page_records(args.pages.resolve(), timing), key=lambda item: item[0]["time"]),
                 LABELS)


if __name__ == "__main__":
    main()
