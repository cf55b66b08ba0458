"""Unit vectors kept as int8, and their cosines with query vectors as one int8 matrix product
on onnxruntime.

Why not float32 and numpy: a one-sentence claim against 20,000 cases is a matrix-vector
product over ~29,000 unit vectors per model (103 MB of float32 for the default pair), bound
by memory bandwidth; and numpy's OpenBLAS threads keep spinning after each call, stealing
the cores from the embedding models' next run (e5 took 17.6 ms a claim inside the matcher,
11.2 ms with BLAS held to one thread). Stored as int8 with one scale per vector (a quarter
of the bytes) and fed to onnxruntime's DynamicQuantizeMatMul (MLAS's VNNI kernel; the query
is quantised per call; below, that op's arithmetic), one use-m query takes 0.9 ms instead
of 2.9 and 32 take 2.8 instead of 14 (bench.match_speed's 28,796 units). The matrix is fed
as an input, not baked into the graph: onnxruntime then holds no copy of it (as a constant
it pre-packed it into 6x its size, for 0.6 ms less a query). Cosines move by 0.0003 on average, at most 0.003: less than
any difference the calibration relies on.

The product is DynamicQuantizeMatMul's arithmetic taken apart, so that many blocks of
queries (the sentences of many documents, in `scan`) share one pass over the matrix and
each block still gets exactly the cosines it gets alone: DynamicQuantizeMatMul quantises
its whole query input with one uint8 scale and zero point, so a block's cosines would
otherwise depend on the blocks multiplied with it. Here each block is quantised as that
op would quantise it alone (its min and max, in float32), the products of all of them are
one MatMulInteger (exact int32), the zero point is taken out with the matrix's column sums,
and the int32 sums are scaled as that op scales them; tests/test_similarity.py checks the
result against DynamicQuantizeMatMul bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from disinfodb.embed.base import Vectors, default_threads

# Query rows per product: past this, the scaling after it leaves the cache (measured with
# use-m on the 13,665 real cases: 0.35 ms a row at 64 rows, ~1 at 1,000, 1.3 a short block alone).
PRODUCT_ROWS = 64


@dataclass(frozen=True)
class _Quantised:
    """A block of queries as DynamicQuantizeLinear (and so DynamicQuantizeMatMul) quantises
    it: uint8, the range widened to include 0, one scale and zero point (round half to even)."""

    values: npt.NDArray[np.uint8]
    scale: np.float32
    zero_point: np.int32

    @classmethod
    def of(cls, block: Vectors) -> _Quantised:
        if not block.size:
            return cls(np.zeros(block.shape, dtype=np.uint8), np.float32(1.0), np.int32(0))
        low, high = min(block.min(), np.float32(0.0)), max(block.max(), np.float32(0.0))
        scale = np.float32(1.0) if high == low else np.float32((high - low) / np.float32(255.0))
        zero_point = np.int32(np.rint(np.clip(np.float32(0.0) - low / scale, 0, 255)))
        values = np.clip(np.rint(block / scale) + zero_point, 0, 255).astype(np.uint8)
        return cls(values, scale, zero_point)


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
        self._column_sums = self._columns.sum(axis=0, dtype=np.int32)  # what a zero point adds to a product
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["queries", "vectors"], ["products"])],
            "cosines",
            [helper.make_tensor_value_info("queries", TensorProto.UINT8, ["n", self.dim]),
             helper.make_tensor_value_info("vectors", TensorProto.INT8, [self.dim, "count"])],
            [helper.make_tensor_value_info("products", TensorProto.INT32, ["n", "count"])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                     providers=["CPUExecutionProvider"])

    def cosines(self, queries: Vectors) -> npt.NDArray[np.float32]:
        """queries x vectors, the queries quantised together (one block)."""
        return next(self.block_cosines([queries]))

    def block_cosines(self, blocks: Iterable[Vectors], rows: int = PRODUCT_ROWS) -> Iterator[npt.NDArray[np.float32]]:
        """Each block's cosines (block x vectors), in order, each exactly as `cosines` gives it
        alone. Blocks are multiplied together until they hold `rows` query rows: one pass over
        the matrix for many short blocks, and at most about rows x vectors int32 in memory
        (a block longer than that is one product)."""
        pending: list[_Quantised] = []
        held = 0
        for block in blocks:
            pending.append(_Quantised.of(np.asarray(block, dtype=np.float32)))
            held += len(block)
            if held >= rows:
                yield from self._products(pending)
                pending, held = [], 0
        if pending:
            yield from self._products(pending)

    def _products(self, blocks: list[_Quantised]) -> Iterator[npt.NDArray[np.float32]]:
        total = sum(len(block.values) for block in blocks)
        if not self.count or not total:
            products = np.zeros((total, self.count), dtype=np.int32)
        else:
            products = self._session.run(["products"], {"queries": np.vstack([b.values for b in blocks]),
                                                        "vectors": self._columns})[0]
        start = 0
        for block in blocks:
            sums = products[start:start + len(block.values)]
            start += len(block.values)
            sums -= block.zero_point * self._column_sums
            yield sums.astype(np.float32) * (block.scale * self.scale)

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
        return int(self._columns.nbytes + self.scale.nbytes + self._column_sums.nbytes)
