"""Unit vectors kept as int8, and their cosines with query vectors as one int8 matrix product
on onnxruntime.

Why not float32 and numpy: a one-sentence claim against 20,000 cases is a matrix-vector
product over ~29,000 unit vectors per model (103 MB of float32 for the default pair), bound
by memory bandwidth; and numpy's OpenBLAS threads keep spinning after each call, stealing
the cores from the embedding models' next run (e5 took 17.6 ms a claim inside the matcher,
11.2 ms with BLAS held to one thread). Stored as int8 with one scale per vector (a quarter
of the bytes) and fed to onnxruntime's DynamicQuantizeMatMul (MLAS's VNNI kernel; the query
is quantised per call), one use-m query takes 0.9 ms instead of 2.9 and 32 take 2.8 instead
of 14 (bench.match_speed's 28,796 units). The matrix is fed as an input, not baked into the
graph: onnxruntime then holds no copy of it (as a constant it pre-packed it into 6x its
size, for 0.6 ms less a query). Cosines move by 0.0003 on average, at most 0.003: less than
any difference the calibration relies on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from disinfodb.embed.base import Vectors, default_threads


class QuantisedVectors:
    """L2-normalised vectors as int8 (one scale each), and their cosines with queries."""

    def __init__(self, vectors: Vectors, threads: int | None = None) -> None:
        import onnxruntime  # noqa: PLC0415 - heavy; the models load it anyway
        from onnx import TensorProto, helper  # noqa: PLC0415

        self.count, self.dim = vectors.shape
        self.scale = (np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0 if self.count
                      else np.ones(0)).astype(np.float32)
        quantised = np.clip(np.rint(vectors / self.scale[:, None]), -127, 127).astype(np.int8)
        self._columns = np.ascontiguousarray(quantised.T)  # dim x count: the product's right-hand side
        self._zero = np.zeros(self.count, dtype=np.int8)
        graph = helper.make_graph(
            [helper.make_node("DynamicQuantizeMatMul", ["queries", "vectors", "scale", "zero"], ["cosines"],
                              domain="com.microsoft")],
            "cosines",
            [helper.make_tensor_value_info("queries", TensorProto.FLOAT, ["n", self.dim]),
             helper.make_tensor_value_info("vectors", TensorProto.INT8, [self.dim, "count"]),
             helper.make_tensor_value_info("scale", TensorProto.FLOAT, ["count"]),
             helper.make_tensor_value_info("zero", TensorProto.INT8, ["count"])],
            [helper.make_tensor_value_info("cosines", TensorProto.FLOAT, ["n", "count"])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.microsoft", 1)])
        model.ir_version = 8
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                     providers=["CPUExecutionProvider"])

    def cosines(self, queries: Vectors) -> npt.NDArray[np.float32]:
        """queries x vectors."""
        if not self.count or not len(queries):
            return np.zeros((len(queries), self.count), dtype=np.float32)
        feeds = {"queries": np.ascontiguousarray(queries, dtype=np.float32), "vectors": self._columns,
                 "scale": self.scale, "zero": self._zero}
        return np.asarray(self._session.run(["cosines"], feeds)[0], dtype=np.float32)

    def rows(self, start: int, stop: int) -> Vectors:
        """Vectors start..stop, back in float32."""
        return np.asarray(self._columns[:, start:stop].T * self.scale[start:stop, None], dtype=np.float32)

    def take(self, indices: npt.NDArray[np.int64]) -> Vectors:
        """The vectors at these positions, back in float32."""
        return np.asarray(self._columns[:, indices].T * self.scale[indices, None], dtype=np.float32)

    def group_means(self, starts: npt.NDArray[np.int64], block: int = 4096) -> Vectors:
        """The L2-normalised mean of each group of consecutive vectors (group g: starts[g]..starts[g+1]),
        dequantised a block of groups at a time (never the whole float matrix at once)."""
        groups = len(starts) - 1
        out = np.empty((groups, self.dim), dtype=np.float32)
        for first in range(0, groups, block):
            last = min(first + block, groups)
            lo, hi = int(starts[first]), int(starts[last])
            sums = np.add.reduceat(self.rows(lo, hi), starts[first:last] - lo, axis=0)
            out[first:last] = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return out

    @property
    def nbytes(self) -> int:
        return int(self._columns.nbytes + self.scale.nbytes + self._zero.nbytes)
