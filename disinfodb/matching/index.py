"""The claim index: every case's claim units (title, first summary sentences, the whole
summary when it is short), their vectors per model (cached in the database per case,
model and text hash, so only changed claims are embedded again) and a BM25 index of the
cases' titles and summaries."""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import bm25s
import numpy as np
import numpy.typing as npt

from disinfodb.embed import Embedder, Vectors
from disinfodb.errors import DisinfoError
from disinfodb.matching.similarity import QuantisedVectors
from disinfodb.store import Store
from disinfodb.store.term_index import IntArray
from disinfodb.text import claim_sentences

CASE_UNITS = 8
# Embedding progress: (model name, cases embedded so far, cases to embed); called with 0
# before the first batch, so that a face can say what it is about to do.
EmbeddingProgress = Callable[[str, int, int], None]


def case_units(title: str, summary: str) -> list[str]:
    """What a case claims: its title, its summary's first sentences, and the whole summary
    when it is a few sentences (a paraphrase often restates the claim as a whole)."""
    sentences_ = claim_sentences(summary)
    out = [title]
    for sentence in sentences_:
        if len(out) >= CASE_UNITS:
            break
        if sentence.casefold() != title.casefold():
            out.append(sentence)
    if 2 <= len(sentences_) <= 4 and len(out) < CASE_UNITS:
        out.append(" ".join(sentences_))
    return out


def _units_hash(case_units_: list[str]) -> str:
    return hashlib.sha1("\x1f".join(case_units_).encode()).hexdigest()


@dataclass
class ClaimIndex:
    """Every case's claim units, their vectors (per model) and a BM25 index of the cases."""

    case_pks: IntArray  # one row per case, ascending
    unit_start: IntArray  # units of case row r: unit_start[r]:unit_start[r + 1]
    unit_text: list[str]
    vectors: dict[str, QuantisedVectors]  # model name -> one vector per unit; the first model is the primary
    bm25: bm25s.BM25 | None
    _cases: QuantisedVectors | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(cls, store: Store, embedders: list[Embedder], progress: EmbeddingProgress | None = None,
              threads: int | None = None, embed: bool = True) -> ClaimIndex:
        """Load cached vectors; embed (and cache) the cases whose claim text is new, or, with
        `embed=False`, leave them out (what a server still embedding answers with).
        `threads`: for the similarity products (default: the models' own default)."""
        for _attempt in range(3):  # another process may write between the models' reads
            reads = [_model_vectors(store, embedder, progress, embed) for embedder in embedders]
            if all(read[0] == reads[0][0] for read in reads):
                break
        else:
            raise DisinfoError("the cases kept changing while the matching index was built; try again")
        pks, texts, bm25_corpus, _, _ = reads[0]
        present = np.logical_and.reduce([read[3] for read in reads])
        kept = [int(row) for row in np.flatnonzero(present)]
        vectors = {}
        for embedder, read in zip(embedders, reads, strict=True):
            vectors[embedder.name] = QuantisedVectors(_rows_of(read[4], read[3], present, texts), threads)
        texts = [texts[row] for row in kept]
        counts = np.array([len(t) for t in texts], dtype=np.int64)
        tokens = bm25s.tokenize([bm25_corpus[row] for row in kept], stopwords="en", show_progress=False)
        retriever = None
        if tokens.vocab:  # no indexable word at all (or no case): no lexical channel
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
        return cls(
            case_pks=np.array([pks[row] for row in kept], dtype=np.int64),
            unit_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            unit_text=[unit for parts in texts for unit in parts],
            vectors=vectors,
            bm25=retriever,
        )

    @property
    def title_only(self) -> npt.NDArray[np.bool_]:
        """Per case: it has one claim unit, its title (no summary, or one that only repeats it)."""
        return np.asarray(np.diff(self.unit_start) == 1)

    @property
    def primary(self) -> QuantisedVectors:
        return next(iter(self.vectors.values()))

    def case_vectors(self) -> Vectors:
        """One vector per case: the normalised mean of its units' primary vectors."""
        return self.primary.group_means(self.unit_start)

    @property
    def cases(self) -> QuantisedVectors:
        """The case vectors, quantised like the units (for related cases and near-duplicates);
        computed on first use."""
        if self._cases is None:
            self._cases = QuantisedVectors(self.case_vectors())
        return self._cases


def _model_vectors(store: Store, embedder: Embedder, progress: EmbeddingProgress | None, embed: bool
                   ) -> tuple[list[int], list[list[str]], list[str], npt.NDArray[np.bool_], Vectors]:
    """Every case's units, which cases have vectors for one model (all of them, once what was not
    cached is embedded; with `embed=False` only the cached ones), and those cases' unit vectors
    stacked in case order (the database's bytes are let go model by model)."""
    pks: list[int] = []
    texts: list[list[str]] = []
    blocks: list[Vectors | None] = []
    stale: list[int] = []
    bm25_corpus: list[str] = []
    for pk, title, summary, text_hash, units_json, blob in store.claim_rows(embedder.cache_key):
        parts = case_units(title, summary)
        pks.append(pk)
        texts.append(parts)
        bm25_corpus.append(f"{title}\n{summary}")
        if text_hash == _units_hash(parts) and blob is not None and units_json is not None:
            blocks.append(np.frombuffer(blob, dtype=np.float32).reshape(len(parts), embedder.dim))
        else:
            blocks.append(None)
            stale.append(len(pks) - 1)
    if embed:
        _embed_stale(store, embedder, pks, texts, blocks, stale, progress)
    present = np.array([block is not None for block in blocks], dtype=bool)
    stacked = [block for block in blocks if block is not None]
    matrix = np.vstack(stacked) if stacked else np.zeros((0, embedder.dim), dtype=np.float32)
    return pks, texts, bm25_corpus, present, matrix


def _rows_of(matrix: Vectors, has: npt.NDArray[np.bool_], kept: npt.NDArray[np.bool_],
             texts: list[list[str]]) -> Vectors:
    """The unit vectors of the kept cases, from a matrix of the units of the cases that `has`."""
    if has.sum() == kept.sum():
        return matrix
    counts = np.array([len(texts[row]) for row in np.flatnonzero(has)], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    position = np.cumsum(has) - 1  # case row -> its place among the cases that have vectors
    chosen = [np.arange(starts[position[row]], starts[position[row] + 1]) for row in np.flatnonzero(kept)]
    return matrix[np.concatenate(chosen)] if chosen else matrix[:0]


def _embed_stale(store: Store, embedder: Embedder, pks: list[int], texts: list[list[str]],
                 blocks: list[Vectors | None], stale: list[int],
                 progress: EmbeddingProgress | None, chunk: int = 256) -> None:
    """Embed the stale cases a chunk at a time, caching each chunk as it is done.

    Several processes may build at once over one database (`serve --workers N`, each with
    its match workers): each takes the chunks in an order of its own (shuffled by its pid)
    and takes a chunk another process has cached since instead of embedding it again, so
    together they embed most chunks once. The chunks are the same in every process (the same stale cases,
    cut the same way), so the vectors are too, whoever embeds them."""
    if progress and stale:
        progress(embedder.name, 0, len(stale))
    starts = list(range(0, len(stale), chunk))
    random.Random(os.getpid()).shuffle(starts)
    for done, start in enumerate(starts, 1):
        rows = stale[start:start + chunk]
        hashes = [_units_hash(texts[row]) for row in rows]
        cached = store.cached_embeddings(embedder.cache_key, [pks[row] for row in rows])
        if all(cached.get(pks[row], ("", b""))[0] == text_hash for row, text_hash in zip(rows, hashes, strict=True)):
            for row in rows:
                blocks[row] = np.frombuffer(cached[pks[row]][1], dtype=np.float32).reshape(len(texts[row]),
                                                                                           embedder.dim)
        else:
            vectors = embedder.embed([unit for row in rows for unit in texts[row]], "passage")
            offset, rows_out = 0, []
            for row, text_hash in zip(rows, hashes, strict=True):
                block = vectors[offset:offset + len(texts[row])]
                offset += len(texts[row])
                blocks[row] = block
                rows_out.append((pks[row], text_hash, json.dumps(texts[row]), block.tobytes()))
            store.save_embeddings(embedder.cache_key, rows_out)
        if progress:
            progress(embedder.name, min(done * chunk, len(stale)), len(stale))
