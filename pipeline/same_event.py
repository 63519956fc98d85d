"""The learned same-event decision: a logistic model over columns of `evidence.EVIDENCE`, from a small JSON file.

The file is written by ``benchmarks/train_same_event.py`` (one command regenerates it) and reviewed
like code: it names the features, their standardisation, the weights, the two probability bars and
the data it was trained and checked on.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .evidence import EVIDENCE, LIFTS

MODEL_PATH = Path(__file__).with_name("same_event.json")


class ModelFileError(ValueError):
    """The model file is missing, unreadable or does not fit this code's features."""


@dataclass(frozen=True)
class SameEventModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    # An article joins its best candidate when the probability reaches ``join``.
    join: float
    # A story the article also reaches with this probability is the same event: the two merge.
    merge: float
    # The mean candidate cosines of the training streams, one per lift (see ``evidence.with_lifts``).
    background: tuple[float, ...]

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(same event) for each row of evidence (one row per candidate story)."""
        columns = rows[:, [EVIDENCE.index(name) for name in self.features]]
        z = ((columns - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self, provenance: dict[str, object]) -> str:
        data = {
            "features": list(self.features),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "weights": [round(v, 6) for v in self.weights],
            "bias": round(self.bias, 6),
            "join": round(self.join, 4),
            "merge": round(self.merge, 4),
            "background": [round(v, 6) for v in self.background],
            "provenance": provenance,
        }
        return json.dumps(data, indent=2) + "\n"


def _numbers(data: dict[str, object], key: str, size: int, path: Path) -> tuple[float, ...]:
    values = data.get(key)
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, int | float) for v in values):
        raise ModelFileError(f"{path}: '{key}' must be a list of {size} numbers")
    if not all(math.isfinite(v) for v in values):
        raise ModelFileError(f"{path}: '{key}' holds a number that is not finite")
    return tuple(float(v) for v in values)


def _probability(data: dict[str, object], key: str, path: Path) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ModelFileError(f"{path}: '{key}' must be a probability between 0 and 1, got {value!r}")
    return float(value)


@functools.cache
def load_model(path: Path = MODEL_PATH) -> SameEventModel:
    """The model in ``path``; a missing, malformed or mismatched file raises a one-line ModelFileError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: same-event model file not found (regenerate it with benchmarks/train_same_event.py)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: not a readable JSON model file ({error})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object")
    features = data.get("features")
    if not isinstance(features, list) or not features or not set(features) <= set(EVIDENCE):
        raise ModelFileError(
            f"{path}: its features {features} are not among this code's evidence {list(EVIDENCE)}; "
            "retrain with benchmarks/train_same_event.py"
        )
    size = len(features)
    scale = _numbers(data, "scale", size, path)
    if any(v <= 0 for v in scale):
        raise ModelFileError(f"{path}: 'scale' must be positive")
    bias = data.get("bias")
    if not isinstance(bias, int | float) or not math.isfinite(bias):
        raise ModelFileError(f"{path}: 'bias' must be a number")
    return SameEventModel(
        tuple(str(name) for name in features),
        _numbers(data, "mean", size, path),
        scale,
        _numbers(data, "weights", size, path),
        float(bias),
        _probability(data, "join", path),
        _probability(data, "merge", path),
        _numbers(data, "background", len(LIFTS), path),
    )
