"""The claim index: every case's claim units (title, first summary sentences, the whole
summary when it is short), their vectors per model (cached in the database per case,
model and text hash, so only changed claims are embedded again) and a BM25 index of the
cases' titles and summaries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import numpy as np

from disinfodb.embed import Embedder, Vectors
from disinfodb.errors import DisinfoError
from disinfodb.store import Store
from disinfodb.store.term_index import IntArray
from disinfodb.text import claim_sentences

CASE_UNITS = 8


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
    vectors: dict[str, Vectors]  # model name -> units x dim; the first model is the primary
    bm25: bm25s.BM25 | None

    @classmethod
    def build(cls, store: Store, embedders: list[Embedder],
              progress: Callable[[int, int], None] | None = None) -> ClaimIndex:
        """Load cached vectors; embed (and cache) the cases whose claim text is new."""
        vectors: dict[str, Vectors] = {}
        for _attempt in range(3):  # another process may write between the models' reads
            reads = [_model_vectors(store, embedder, progress) for embedder in embedders]
            if all(read[0] == reads[0][0] for read in reads):
                break
        else:
            raise DisinfoError("the cases kept changing while the matching index was built; try again")
        pks, texts, bm25_corpus, _ = reads[0]
        for embedder, read in zip(embedders, reads, strict=True):
            vectors[embedder.name] = read[3]
        counts = np.array([len(t) for t in texts], dtype=np.int64)
        tokens = bm25s.tokenize(bm25_corpus, stopwords="en", show_progress=False)
        retriever = None
        if tokens.vocab:  # no indexable word at all (or no case): no lexical channel
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
        return cls(
            case_pks=np.array(pks, dtype=np.int64),
            unit_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            unit_text=[unit for parts in texts for unit in parts],
            vectors=vectors,
            bm25=retriever,
        )

    @property
    def primary(self) -> Vectors:
        return next(iter(self.vectors.values()))

    def case_vectors(self) -> Vectors:
        """One vector per case: the normalised mean of its units (for related cases)."""
        sums = np.add.reduceat(self.primary, self.unit_start[:-1], axis=0) if len(self.case_pks) \
            else self.primary
        norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return np.asarray(sums / norms, dtype=np.float32)


def _model_vectors(store: Store, embedder: Embedder, progress: Callable[[int, int], None] | None
                   ) -> tuple[list[int], list[list[str]], list[str], Vectors]:
    """Every case's units and their vectors for one model, embedding what is not cached."""
    pks: list[int] = []
    texts: list[list[str]] = []
    blocks: list[Vectors | None] = []
    stale: list[int] = []
    bm25_corpus: list[str] = []
    for pk, title, summary, text_hash, units_json, blob in store.claim_rows(embedder.name):
        parts = case_units(title, summary)
        pks.append(pk)
        texts.append(parts)
        bm25_corpus.append(f"{title}\n{summary}")
        if text_hash == _units_hash(parts) and blob is not None and units_json is not None:
            blocks.append(np.frombuffer(blob, dtype=np.float32).reshape(len(parts), embedder.dim))
        else:
            blocks.append(None)
            stale.append(len(pks) - 1)
    _embed_stale(store, embedder, pks, texts, blocks, stale, progress)
    matrix = (np.vstack([b for b in blocks if b is not None]) if pks
              else np.zeros((0, embedder.dim), dtype=np.float32))
    return pks, texts, bm25_corpus, matrix


def _embed_stale(store: Store, embedder: Embedder, pks: list[int], texts: list[list[str]],
                 blocks: list[Vectors | None], stale: list[int],
                 progress: Callable[[int, int], None] | None, chunk: int = 256) -> None:
    for start in range(0, len(stale), chunk):
        rows = stale[start:start + chunk]
        flat = [unit for row in rows for unit in texts[row]]
        vectors = embedder.embed(flat, "passage")
        offset, cached = 0, []
        for row in rows:
            block = vectors[offset:offset + len(texts[row])]
            offset += len(texts[row])
            blocks[row] = block
            cached.append((pks[row], _units_hash(texts[row]), json.dumps(texts[row]), block.tobytes()))
        store.save_embeddings(embedder.name, cached)
        if progress:
            progress(min(start + chunk, len(stale)), len(stale))
