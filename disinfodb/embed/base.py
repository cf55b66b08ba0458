"""What every embedding model is to the rest of disinfodb: texts in, L2-normalised vectors out."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Kind = Literal["query", "passage"]
BATCH = 64
MAX_CHARS = 1000  # longer units are cut: both models truncate far earlier anyway


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `kind` matters for asymmetric models (e5).

    `name` is what a model spec and the calibration call the model; `cache_key` is what its
    cached case vectors are stored under: it changes whenever the vectors would (another
    runtime or conversion of the same model), so a store never mixes two versions' vectors.
    """

    name: str
    cache_key: str
    dim: int
    # (mean, standard deviation) of a query's best cosine with each case, over the 13,665 real
    # cases (320 xling claims, 8 languages): the prior a small database's z-scores lean on
    spread: tuple[float, float]

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors: ...


def normalised(vectors: npt.NDArray[Any]) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def joined(per_model: list[Vectors]) -> Vectors:
    """One vector per row from several models' unit-length vectors of it, side by side and
    scaled so that a dot product is the mean of the models' cosines (the pair's claim vector
    that suggestions and narratives learn from)."""
    return np.asarray(np.hstack(per_model) / np.sqrt(len(per_model)), dtype=np.float32)


def batched(texts: list[str], dim: int, run: Callable[[list[str]], npt.NDArray[Any]]) -> Vectors:
    """`run` over batches of at most BATCH texts, each cut at MAX_CHARS, normalised."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    clipped = [text[:MAX_CHARS] for text in texts]
    return np.vstack([normalised(run(clipped[i:i + BATCH])) for i in range(0, len(clipped), BATCH)])


def default_threads() -> int:
    """min(2, usable CPUs): two threads is where the int8 GEMMs stop scaling well against their sync overhead."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return max(1, min(2, usable))
