"""Story assignment on full text, set by set: the learned same-event model against two baselines.

    .venv/bin/python benchmarks/clustering_events.py [--orders 2]

For each labelled set of ``event_sets.py`` (shootings, football, politics, the ledger-dev stories, the
real pages; each untimed set also with short briefs), three deciders place the articles online with
the real ``StoryIndex`` and are scored by pair counting and BCubed:

- ``centroid``: the MiniLM centroid cosine alone (naive dense baseline);
- ``tf-idf``: the rarity-weighted term cosine to the story's word bag alone (sparse baseline);
- ``model``: the columns of ``pipeline/evidence.py`` the shipped model reads (``MODEL_FEATURES``).

**Leave one set out** (the figures for data a choice never saw): for each set, each decider is
trained and its bars chosen on the *other* sets exactly as ``train_same_event.py`` does, then scored
on the set left out. **Shipped**: ``pipeline/same_event.json`` as committed, trained on all the
training sets, so its figures on them are not held out — except ``gvc-test``, which no choice of
features, weights or bars ever saw. Untimed sets are averaged over ``--orders`` shuffles.
Prints numbers only: no asserts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from event_sets import Analysis, Scores  # noqa: E402
from train_same_event import MODEL_FEATURES, TRAINING_SETS, Stream, load_streams, set_scores, train  # noqa: E402

from pipeline.same_event import load_model  # noqa: E402
from pipeline.stories import StorySettings  # noqa: E402

DECIDERS: dict[str, tuple[str, ...]] = {"centroid": ("dense",), "tf-idf": ("terms",), "model": MODEL_FEATURES}


def _row(name: str, decider: str, s: Scores) -> str:
    return (
        f"  {name:18s} {decider:9s} pair P {s.pair_p:.3f} R {s.pair_r:.3f} F1 {s.pair_f1:.3f}   "
        f"BCubed P {s.bcubed_p:.3f} R {s.bcubed_r:.3f} F1 {s.bcubed_f1:.3f}"
    )


def leave_one_set_out(streams_of: dict[str, list[Stream]], settings: StorySettings) -> None:
    print("--- leave one set out: trained and chosen on the other sets, scored on this one")
    bases = list(dict.fromkeys(name.removesuffix("+briefs") for name in streams_of))
    means: dict[str, list[float]] = {d: [] for d in DECIDERS}
    for held in bases:
        training = {n: s for n, s in streams_of.items() if n.removesuffix("+briefs") != held}
        tested = {n: s for n, s in streams_of.items() if n.removesuffix("+briefs") == held}
        for decider, columns in DECIDERS.items():
            model = train(training, settings, columns)
            for name, scores in set_scores(tested, model, settings).items():
                print(_row(name, decider, scores) + f"   (join {model.join}, merge {model.merge})", flush=True)
                means[decider].append(scores.pair_f1)
    for decider, values in means.items():
        print(f"  mean pair F1 over held-out sets, {decider}: {sum(values) / len(values):.3f}")


def shipped(streams_of: dict[str, list[Stream]], settings: StorySettings) -> None:
    model = load_model()
    print(
        f"--- shipped model (pipeline/same_event.json: join {model.join}, merge {model.merge}); "
        "trained on every set below except gvc-test"
    )
    for name, scores in set_scores(streams_of, model, settings).items():
        print(_row(name, "model", scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2, help="shuffles of each untimed set")
    args = parser.parse_args()
    settings = StorySettings()
    analysis = Analysis()
    seeds = tuple(range(11, 11 + args.orders))
    streams_of = load_streams(list(TRAINING_SETS), analysis, seeds)
    leave_one_set_out(streams_of, settings)
    shipped({**streams_of, **load_streams(["gvc-test", "gvc-test+briefs"], analysis, seeds)}, settings)


if __name__ == "__main__":
    main()
