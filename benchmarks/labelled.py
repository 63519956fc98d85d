"""Scoring a clustering against same-event groups judged by hand.

A label file (``fulltext_stories.json``, ``nyt_world_stories.json``) holds "same" groups, whose
members report one event, and "unsure" groups, whose members share a running story but arguably not
one event: a pair inside an unsure group is scored neither way. Every other item is a story of its own.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections import Counter
from itertools import combinations
from pathlib import Path

from pipeline.cluster import cluster_file

# A record to cluster and the key the label file knows it by.
Labelled = tuple[dict[str, str], str]


def truth_of(keys: list[str], labels_path: Path) -> tuple[list[str], list[set[str]]]:
    """The true story of each key and the unsure groups it is in."""
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    same = {key: story for story, members in labels["same"].items() for key in members}
    unsure: dict[str, set[str]] = {}
    for group, members in labels["unsure"].items():
        for key in members:
            unsure.setdefault(key, set()).add(group)
    return [same.get(key, key) for key in keys], [unsure.get(key, set()) for key in keys]


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


def evaluate(records: list[Labelled], labels_path: Path) -> tuple[float, float, float]:
    """Cluster the records in order with the default settings; print the scores, the true stories split
    and every cluster that joined different stories (marked wrong, or unsure), and return P, R, F1."""
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        stream.write_text("".join(json.dumps(record) + "\n" for record, _ in records), encoding="utf-8")
        output = io.StringIO()
        stats = cluster_file(stream, output)
    found_by_id = {r["id"]: r["story"] for r in map(json.loads, output.getvalue().splitlines())}
    truth, unsure = truth_of([key for _, key in records], labels_path)
    found = [found_by_id[record["id"]] for record, _ in records]
    sizes = Counter(truth)
    scores = scored_pairs(truth, unsure, found)
    print(f"articles {len(records)}: {sum(n for n in sizes.values() if n > 1)} in {sum(n > 1 for n in sizes.values())} "
          f"stories of several articles, {sum(n == 1 for n in sizes.values())} alone; found stories {len(set(found))}")
    print("pair counting  P {:.3f}  R {:.3f}  F1 {:.3f}".format(*scores))
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
    return scores
