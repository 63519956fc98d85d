"""The int8 ONNX embedder: agreement with torch, output shape and norm, and a cache that repairs itself.

The export runs once per session into a temporary cache; the repair tests copy that cache and
replace the exporter, so they never export twice.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline import embed
from pipeline.embed import DIMENSION, Embedder, OnnxUnavailable

SENTENCES = [
    "The prime minister resigned on Tuesday after losing a confidence vote in parliament.",
    "Rescue teams pulled 14 survivors from the rubble overnight.",
    "“It is a dark day for our city,” the mayor told reporters.",
    "Oil prices rose 2% to $84 a barrel.",
    "The two leaders agreed to reopen a military hotline that was suspended in August.",
    "Officials did not say how many people had been evacuated from the area near the volcano.",
]


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding one good export."""
    directory = tmp_path_factory.mktemp("embed-cache")
    Embedder(backend="onnx", cache=directory)
    return directory


@pytest.fixture(scope="session")
def onnx_embedder(cache: Path) -> Embedder:
    return Embedder(backend="onnx", cache=cache)


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


def copy_cache(cache: Path, tmp_path: Path) -> Path:
    target = tmp_path / "cache"
    shutil.copytree(cache, target)
    return target


def cache_file(cache: Path, suffix: str) -> Path:
    return next(cache.glob(f"*{suffix}"))


def test_onnx_agrees_with_torch(onnx_embedder: Embedder, torch_embedder: Embedder) -> None:
    assert onnx_embedder.backend == "onnx" and torch_embedder.backend == "torch"
    cosines = np.sum(onnx_embedder.encode(SENTENCES) * torch_embedder.encode(SENTENCES), axis=1)
    assert cosines.mean() >= 0.99, cosines
    assert onnx_embedder.agreement is not None and onnx_embedder.agreement >= embed.MIN_AGREEMENT


def test_rows_are_unit_length_and_in_input_order(onnx_embedder: Embedder) -> None:
    vectors = onnx_embedder.encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Batches are sorted by length inside; each row must still belong to its own sentence. (Not equal
    # to the row of a batch of one: activations are quantized with one range per batch.)
    one_by_one = np.stack([onnx_embedder.encode([sentence])[0] for sentence in SENTENCES])
    similarity = vectors @ one_by_one.T
    assert (similarity.argmax(axis=1) == np.arange(len(SENTENCES))).all()
    assert np.diag(similarity).min() >= 0.98, np.diag(similarity)


def test_empty_input(onnx_embedder: Embedder, torch_embedder: Embedder) -> None:
    for embedder in (onnx_embedder, torch_embedder):
        vectors = embedder.encode([])
        assert vectors.shape == (0, DIMENSION) and vectors.dtype == np.float32


def test_long_text_is_truncated_not_rejected(onnx_embedder: Embedder) -> None:
    vectors = onnx_embedder.encode(["word " * 2000, "short"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batches_group_similar_lengths_within_a_token_budget() -> None:
    lengths = [12, 300, 10, 40, 11, 90]
    batches = embed._batches(lengths, batch_size=64, max_tokens=100)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert [[lengths[i] for i in batch] for batch in batches] == [[10, 11, 12], [40], [90], [300]]
    assert embed._batches(lengths, batch_size=2, max_tokens=10_000) == [[2, 4], [0, 3], [5, 1]]


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedding backend"):
        Embedder(backend="tensorflow")  # type: ignore[arg-type]


def test_corrupt_model_file_is_exported_again(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = copy_cache(cache, tmp_path)
    cache_file(broken, ".onnx").write_bytes(b"not an onnx model")
    exports: list[Path] = []

    def export_by_copying(model_dir: Path, model_file: Path, reference_file: Path) -> None:
        exports.append(model_file)
        shutil.copy(cache_file(cache, ".onnx"), model_file)
        shutil.copy(cache_file(cache, ".probes.npy"), reference_file)

    monkeypatch.setattr(embed, "_export", export_by_copying)
    embedder = Embedder(cache=broken)
    assert embedder.backend == "onnx" and embedder.fallback_reason is None
    assert len(exports) == 1
    assert cache_file(broken, ".onnx").read_bytes() == cache_file(cache, ".onnx").read_bytes()


def test_falls_back_to_torch_with_a_reason_when_export_fails(cache: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    broken = copy_cache(cache, tmp_path)
    cache_file(broken, ".onnx").write_bytes(b"\x00" * 64)

    def failing_export(model_dir: Path, model_file: Path, reference_file: Path) -> None:
        raise RuntimeError("exporter unavailable")

    monkeypatch.setattr(embed, "_export", failing_export)
    embedder = Embedder(cache=broken)
    assert embedder.backend == "torch"
    assert embedder.fallback_reason is not None and "exporter unavailable" in embedder.fallback_reason
    assert np.allclose(np.linalg.norm(embedder.encode(SENTENCES[:2]), axis=1), 1.0, atol=1e-5)
    with pytest.raises(OnnxUnavailable, match="exporter unavailable"):
        Embedder(backend="onnx", cache=broken)


def test_falls_back_when_the_int8_model_disagrees_with_torch(cache: Path, tmp_path: Path) -> None:
    skewed = copy_cache(cache, tmp_path)
    rng = np.random.default_rng(0)
    wrong = rng.normal(size=(len(embed.PROBES), DIMENSION)).astype(np.float32)
    np.save(cache_file(skewed, ".probes.npy"), wrong / np.linalg.norm(wrong, axis=1, keepdims=True))
    embedder = Embedder(cache=skewed)
    assert embedder.backend == "torch"
    assert embedder.fallback_reason is not None and "mean cosine" in embedder.fallback_reason


def test_workers_starting_together_export_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports: list[Path] = []

    def slow_export(model_dir: Path, model_file: Path, reference_file: Path) -> None:
        exports.append(model_file)
        time.sleep(0.2)
        model_file.write_bytes(b"model")
        reference_file.write_bytes(b"reference")

    monkeypatch.setattr(embed, "_export", slow_export)
    results: list[tuple[Path, Path]] = []
    threads = [threading.Thread(target=lambda: results.append(embed._cached_export(tmp_path, embed._model_path())))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(exports) == 1 and len(set(results)) == 1
    assert not list(tmp_path.glob("*.tmp"))
