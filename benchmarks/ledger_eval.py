"""Replays a labelled article stream through the fact ledger and scores it.

Usage: .venv/bin/python benchmarks/ledger_eval.py [PATH]  (default: benchmarks/ledger_stream/stream.jsonl)

Each line is an article of a named story, given either as a seed file (``seed``, scored only for a
minimum of new facts, the sentences it ``must_new`` report, and the absence of contradictions) or as
labelled sentences: ``known`` (a restatement), ``new``, or ``contradiction:KIND``. Articles run in
file order, one ledger per story, through the same calls as the runtime: extract_claims, embedding,
compare, record. Prints precision and recall of new facts and contradictions, kind accuracy, false
contradictions per 20 articles and new facts reported by pure paraphrase articles.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.claims import extract_claims, load_nlp  # noqa: E402
from pipeline.corpus import read_document  # noqa: E402
from pipeline.embed import Embedder  # noqa: E402
from pipeline.ledger import compare, record  # noqa: E402
from pipeline.models import Article, Ledger  # noqa: E402

DEFAULT_STREAM = ROOT / "benchmarks" / "ledger_stream" / "stream.jsonl"


@dataclass
class Entry:
    article: Article
    story: str
    kind: str
    labels: list[tuple[str, str]]
    min_new: int
    must_new: list[str]


def load_stream(path: Path) -> list[Entry]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if "seed" in item:
            document = read_document(ROOT / item["seed"])
            text, published, labels = document.text, document.published, []
        else:
            labels = [(label, sentence) for label, sentence in item["sentences"]]
            text, published = "\n".join(sentence for _, sentence in labels), item.get("published")
        article = Article(
            id=item["id"],
            url=f"https://example.test/{item['id']}",
            source=item.get("source", item["id"]),
            title=item["id"],
            text=text,
            published=published,
        )
        entries.append(
            Entry(article, item["story"], item["kind"], labels, item.get("min_new", 0), item.get("must_new", []))
        )
    return entries


def _label_of(claim_text: str, labels: list[tuple[str, str]]) -> str | None:
    return next((label for label, sentence in labels if sentence in claim_text or claim_text in sentence), None)


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.2f} ({numerator}/{denominator})" if denominator else "n/a"


def main(path: Path) -> None:
    entries = load_stream(path)
    nlp, embedder = load_nlp(), Embedder()
    ledgers: dict[str, Ledger] = {}
    tally: Counter[str] = Counter()
    paraphrase_new: list[int] = []
    for entry in entries:
        claims = extract_claims(entry.article, nlp)
        for claim, vector in zip(claims, embedder.encode([c.text for c in claims]), strict=True):
            claim.vector = vector
        ledger = ledgers.setdefault(entry.story, Ledger(story_id=entry.story))
        comparison = compare(ledger, claims, entry.article)
        record(ledger, comparison, entry.article, seen_at=entry.article.published or "")
        new_texts = [c.text for c in comparison.new_facts]
        print(
            f"{entry.article.id:20} {entry.kind:10} claims={len(claims):2} new={len(new_texts):2} "
            f"corroborated={len(comparison.corroborations):2} contradictions={len(comparison.contradictions)}"
            f"{' copy of ' + comparison.copy_of if comparison.copy_of else ''}"
        )
        if entry.kind == "copy":
            tally["copies"] += 1
            tally["copies found"] += bool(comparison.copy_of)
        if entry.kind == "paraphrase":
            paraphrase_new.append(len(new_texts))
        if entry.min_new:
            tally["seed articles"] += 1
            tally["seed articles with enough new"] += len(new_texts) >= entry.min_new
        for wanted in entry.must_new:
            tally["new expected"] += 1
            tally["new found"] += any(wanted in text for text in new_texts)
        for text in new_texts:
            label = _label_of(text, entry.labels)
            if label is not None:
                tally["new reported"] += 1
                tally["new correct"] += label == "new"
        tally["new expected"] += sum(label == "new" for label, _ in entry.labels)
        tally["new found"] += sum(
            label == "new" and any(sentence in t or t in sentence for t in new_texts)
            for label, sentence in entry.labels
        )
        expected = {s: label.split(":", 1)[1] for label, s in entry.labels if label.startswith("contradiction:")}
        tally["contradictions expected"] += len(expected)
        tally["articles"] += 1
        for claim, fact, kind in comparison.contradictions:
            label = _label_of(claim.text, entry.labels) or ""
            tally["contradictions reported"] += 1
            if label.startswith("contradiction:"):
                tally["contradictions correct"] += 1
                tally["kinds correct"] += label.split(":", 1)[1] == kind
            else:
                tally["false contradictions"] += 1
                print(f"   FALSE {kind}: “{claim.text}” vs “{fact.text}”")
        for sentence, kind in expected.items():
            if not any(sentence in c.text or c.text in sentence for c, _, _ in comparison.contradictions):
                print(f"   MISSED {kind}: “{sentence}”")
    print()
    print(
        f"new facts:       precision {_ratio(tally['new correct'], tally['new reported'])}  "
        f"recall {_ratio(tally['new found'], tally['new expected'])}"
    )
    print(
        f"contradictions:  precision {_ratio(tally['contradictions correct'], tally['contradictions reported'])}  "
        f"recall {_ratio(tally['contradictions correct'], tally['contradictions expected'])}  "
        f"kind accuracy {_ratio(tally['kinds correct'], tally['contradictions correct'])}"
    )
    print(f"false contradictions per 20 articles: {20 * tally['false contradictions'] / max(tally['articles'], 1):.2f}")
    print(f"new facts from paraphrase articles: {paraphrase_new} (max {max(paraphrase_new, default=0)})")
    print(
        f"copies recognised: {_ratio(tally['copies found'], tally['copies'])}; seed articles with new facts: "
        f"{_ratio(tally['seed articles with enough new'], tally['seed articles'])}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_STREAM)
