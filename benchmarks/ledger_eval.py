"""The fact ledger scored through the real path: `storywatch replay DIR --json`, nothing handed in.

    .venv/bin/python benchmarks/ledger_eval.py [--verbose] [--skip-shared] [--skip-stream] [--stream PATH]

Every corpus runs through the poller, the queue, the worker processes, story assignment and the
ledger, exactly as live articles do; only the alerts and the stories that come out are scored.

1. The labelled stories of ``../shared/data/ledger-dev/`` (read in place, never copied), scored by
   the shared scorer ``../shared/tools/score_ledger.py`` (the one the held-out stories are scored
   with), in two groups printed apart: DEVELOPMENT (rules may be tuned on them; ``--verbose`` lists
   their misses) and HELD-OUT (nobody tunes on them, and their misses are not listed).
2. The labelled stream of ``benchmarks/ledger_stream/stream.jsonl`` (the Hegseth seed story, an
   earthquake, a football match): written out as a corpus (one ``NN_id.txt`` per line, in stream
   order) and replayed in one go with the project's ``config/``, so the seeds are the watched
   story's seeds. Scored per labelled sentence: new facts, contradictions and their kind, false
   contradictions per 20 articles, new facts from paraphrases and copies, membership; and for the
   seed documents, the facts they must give the story (``must_new``, read from the story's ledger)
   and what their arrival reports.

Prints numbers only: no asserts, no bar enforced.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
STORIES = SHARED / "data" / "ledger-dev"
SCORER = SHARED / "tools" / "score_ledger.py"
STORYWATCH = ROOT / ".venv" / "bin" / "storywatch"
DEFAULT_STREAM = ROOT / "benchmarks" / "ledger_stream" / "stream.jsonl"

# Rules may be developed against these; the held-out ones are only ever reported.
DEVELOPMENT = ("stadia-launch", "feather-duvet-lung", "south-dakota-meth-campaign")
HELD_OUT = ("europa-water-plumes", "doobie-brothers-tour")


def _scorer() -> ModuleType:
    """The shared scorer as a module, so the stream reads alerts and membership exactly as it does."""
    spec = importlib.util.spec_from_file_location("score_ledger", SCORER)
    assert spec is not None and spec.loader is not None, SCORER
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator}/{denominator}" if denominator else "-"


# --- the shared labelled stories ---------------------------------------------------------------

_COLUMNS = (
    ("contra", lambda c: _ratio(c.get("contradictions found", 0), c.get("contradictions", 0))),
    ("sentence", lambda c: _ratio(c.get("contradiction sentence found", 0), c.get("contradictions", 0))),
    ("kind", lambda c: _ratio(c.get("kind right", 0), c.get("contradictions found", 0))),
    ("false", lambda c: str(c.get("false contradictions", 0))),
    ("/20", lambda c: f"{20 * c.get('false contradictions', 0) / max(c.get('articles', 0), 1):.1f}"),
    ("traps", lambda c: _ratio(c.get("traps flagged", 0), c.get("traps", 0))),
    ("updates", lambda c: _ratio(c.get("updates found", 0), c.get("updates", 0))),
    ("upd=contra", lambda c: str(c.get("updates called contradictions", 0))),
    ("new", lambda c: _ratio(c.get("new facts found", 0), c.get("new facts", 0))),
    ("para max", lambda c: str(c.get("paraphrase max new", 0))),
    ("joined", lambda c: _ratio(c.get("followups joined", 0), c.get("followups", 0))),
    ("other in", lambda c: _ratio(c.get("other events joined", 0), c.get("other events", 0))),
    ("base contra", lambda c: str(c.get("base contradictions flagged", 0))),
)


def score_group(name: str, stories: tuple[str, ...], verbose: bool) -> dict[str, Any] | None:
    """One call of the shared scorer over a group of story folders; prints its table."""
    folders = [STORIES / story for story in stories if (STORIES / story / "labels.json").exists()]
    if not folders:
        print(f"{name}: no story folders under {STORIES}")
        return None
    command = [sys.executable, str(SCORER), *map(str, folders), "--storywatch", str(STORYWATCH), "--json"]
    result = subprocess.run(
        command + (["-v"] if verbose else []), capture_output=True, text=True, cwd=ROOT, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines or not lines[-1].startswith("{"):
        print(f"{name}: the scorer exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        return None
    scored = json.loads(lines[-1])
    print(f"\n{name} ({', '.join(stories)})")
    if result.stderr.strip():
        print("  scorer stderr: " + result.stderr.strip().splitlines()[-1])
    width = max(len(s) for s in [*stories, "total"])
    print("  " + f"{'story':{width}}  " + "  ".join(f"{title:>10}" for title, _ in _COLUMNS))
    rows = [*((story, scored["stories"].get(story, {})) for story in stories), ("total", scored["total"])]
    for story, counts in rows:
        print("  " + f"{story:{width}}  " + "  ".join(f"{cell(counts):>10}" for _, cell in _COLUMNS))
    print(
        f"  false per 20 articles {scored['false_per_20']:.2f}; "
        f"{'meets' if scored['meets_bar'] else 'below'} the held-out bar"
    )
    for line in lines[:-1] if verbose else ():
        print("  " + line.strip())
    return scored


# --- the project's own labelled stream ---------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of the stream: an article of a named story, its labelled sentences or its seed file."""

    stem: str
    id: str
    story: str
    kind: str
    labels: tuple[tuple[str, str], ...]
    must_new: tuple[str, ...]
    seed: bool


def write_corpus(stream: Path, folder: Path) -> list[Entry]:
    """The stream as a replayable corpus: ``NN_id.txt`` in stream order, dated where the line is."""
    entries = []
    for index, line in enumerate(filter(str.strip, stream.read_text(encoding="utf-8").splitlines())):
        item = json.loads(line)
        stem = f"{index:02d}_{item['id']}"
        if "seed" in item:
            text, labels = (ROOT / item["seed"]).read_text(encoding="utf-8"), ()
        else:
            labels = tuple((label, sentence) for label, sentence in item["sentences"])
            dated = f" date {item['published']}\n" if item.get("published") else ""
            text = dated + "\n\n".join(sentence for _, sentence in labels) + "\n"
        (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
        entries.append(
            Entry(
                stem, item["id"], item["story"], item["kind"], labels, tuple(item.get("must_new", ())), "seed" in item
            )
        )
    return entries


def _label_of(text: str, labels: tuple[tuple[str, str], ...]) -> str | None:
    return next((label for label, sentence in labels if sentence in text or text in sentence), None)


def _ledger_texts(scorer: ModuleType, namespace: str, story_id: str) -> list[str]:
    shown = scorer.run(str(STORYWATCH), "--namespace", namespace, "story", story_id, "--json", timeout=120)
    try:
        return [fact["text"] for fact in json.loads(shown.stdout)["ledger"]["facts"]]
    except (json.JSONDecodeError, KeyError):
        return []


def score_stream(stream: Path, verbose: bool) -> Counter[str] | None:
    scorer = _scorer()
    with tempfile.TemporaryDirectory(prefix="ledger-stream-") as tmp:
        entries = write_corpus(stream, Path(tmp))
        result = scorer.run(str(STORYWATCH), "replay", tmp, "--json")
    if result.returncode != 0:
        print(f"stream: replay exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        return None
    alerts: dict[str, list[dict[str, Any]]] = {}
    for alert in scorer.alerts_of(result.stdout):
        alerts.setdefault(str(alert.get("article", {}).get("id", "")), []).append(alert)
    match = re.search(r"namespace (replay-[0-9a-f]+)", result.stdout + result.stderr)
    namespace = match.group(1) if match else ""
    story_of = scorer.membership(str(STORYWATCH), namespace) if namespace else {}
    # Each labelled story lives where its first article went.
    home: dict[str, str | None] = {}
    for entry in entries:
        home.setdefault(entry.story, story_of.get(entry.stem))
    tally: Counter[str] = Counter()
    paraphrase_new: list[int] = []
    print(f"\nSTREAM {stream.relative_to(ROOT)} ({len(entries)} articles, namespace {namespace})")
    for entry in entries:
        mine = alerts.get(entry.stem, [])
        new_texts = [f["text"] for a in mine for f in a.get("new_facts") or []]
        contradictions = [c for a in mine for c in a.get("contradictions") or []]
        joined = story_of.get(entry.stem) is not None and story_of.get(entry.stem) == home[entry.story]
        if entry.stem != next(e.stem for e in entries if e.story == entry.story):
            tally["articles to join"] += 1
            tally["joined"] += joined
        others = {sid for story, sid in home.items() if story != entry.story and sid}
        tally["joined another story"] += story_of.get(entry.stem) in others
        line = (
            f"  {entry.stem:22} {entry.kind:10} {story_of.get(entry.stem, '-')[:22]:22} "
            f"new={len(new_texts):2} contradictions={len(contradictions)}"
        )
        if verbose:
            print(line)
        if entry.seed:
            tally["seed articles"] += 1
            tally["seed new facts"] += len(new_texts)
            tally["seed contradictions"] += len(contradictions)
            continue
        tally["articles"] += 1
        if entry.kind == "paraphrase":
            paraphrase_new.append(len(new_texts))
        if entry.kind == "copy":
            tally["copy new facts"] += len(new_texts)
        for text in new_texts:
            label = _label_of(text, entry.labels)
            if label is not None:
                tally["new reported"] += 1
                tally["new correct"] += label == "new"
        for label, sentence in entry.labels:
            if label == "new":
                tally["new expected"] += 1
                tally["new found"] += any(sentence in t or t in sentence for t in new_texts)
            elif label.startswith("contradiction:"):
                tally["contradictions expected"] += 1
                hit = any(sentence in c["text"] or c["text"] in sentence for c in contradictions)
                if verbose and not hit:
                    print(f"     MISSED {label.split(':', 1)[1]}: {sentence[:100]}")
        for item in contradictions:
            label = _label_of(item["text"], entry.labels) or ""
            tally["contradictions reported"] += 1
            if label.startswith("contradiction:"):
                tally["contradictions correct"] += 1
                tally["kinds correct"] += label.split(":", 1)[1] == item.get("kind")
            else:
                tally["false contradictions"] += 1
                if verbose:
                    print(
                        f"     FALSE {item.get('kind')}: {item['text'][:80]} vs {item['conflicts_with']['text'][:50]}"
                    )
    seed_home = next((home[e.story] for e in entries if e.seed), None)
    if seed_home and namespace:
        facts = _ledger_texts(scorer, namespace, seed_home)
        for entry in entries:
            for wanted in entry.must_new:
                tally["seed facts expected"] += 1
                tally["seed facts in ledger"] += any(wanted in text for text in facts)
    t = tally
    print(
        f"  new facts        precision {_ratio(t['new correct'], t['new reported'])}  "
        f"recall {_ratio(t['new found'], t['new expected'])}"
    )
    print(
        f"  contradictions   precision {_ratio(t['contradictions correct'], t['contradictions reported'])}  "
        f"recall {_ratio(t['contradictions correct'], t['contradictions expected'])}  "
        f"kind right {_ratio(t['kinds correct'], t['contradictions correct'])}"
    )
    print(
        f"  false contradictions {t['false contradictions']} "
        f"({20 * t['false contradictions'] / max(t['articles'], 1):.1f} per 20 articles)"
    )
    print(
        f"  new facts from paraphrases {paraphrase_new} (max {max(paraphrase_new, default=0)}); "
        f"from the copy {t['copy new facts']}"
    )
    print(
        f"  joined their story {_ratio(t['joined'], t['articles to join'])}; "
        f"in another labelled story {t['joined another story']}"
    )
    print(
        f"  seed documents: facts the story holds {_ratio(t['seed facts in ledger'], t['seed facts expected'])}; "
        f"on arrival {t['seed new facts']} new facts, {t['seed contradictions']} contradictions "
        f"({t['seed articles']} seeds)"
    )
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="list misses and false contradictions (development stories and the stream only)",
    )
    parser.add_argument("--skip-shared", action="store_true", help="do not score ../shared/data/ledger-dev")
    parser.add_argument("--skip-stream", action="store_true", help="do not score the project's stream")
    parser.add_argument("--stream", type=Path, default=DEFAULT_STREAM)
    args = parser.parse_args()
    if not args.skip_shared:
        score_group("DEVELOPMENT", DEVELOPMENT, args.verbose)
        # Never verbose: reading the held-out misses would be tuning on them.
        score_group("HELD-OUT", HELD_OUT, verbose=False)
    if not args.skip_stream:
        score_stream(args.stream.resolve(), args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
