"""Reading what analysts collect, at size: `python -m bench.documents [--pages 1000]
[--messages 100000] [--items 100000]`.

Builds, in a temporary folder, from the real cases (bench/.cache/real.sqlite, else the
2015-2021 scrape in ../shared): web pages (a case's title and summary as the article,
among a site's menu, sidebar and footer), a Telegram Desktop channel export (messages
from the cases' summaries, some with formatting entities, some forwarded) and an RSS
feed; then reads each through disinfodb.documents in a fresh process and reports
documents per second and that process's peak resident memory (VmHWM), beside its
memory once the reader's modules and the language model are loaded.
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bench.measure import rss_mb

CACHE = Path(__file__).resolve().parent / ".cache"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def case_texts(limit: int) -> list[tuple[str, str]]:
    """(title, summary) of real cases with a summary."""
    from disinfodb.ingest import read_file  # noqa: PLC0415 - only when building
    from disinfodb.store import open_store  # noqa: PLC0415

    found: list[tuple[str, str]] = []
    real = CACHE / "real.sqlite"
    if real.is_file():
        store = open_store(str(real))
        try:
            found = [(case.title, case.summary) for case in store.iter_cases() if case.summary]
        finally:
            store.close()
    else:
        source = SHARED / "data" / "euvsdisinfo-2015-2017" / "cases.csv"
        found = [(r.case.title, r.case.summary) for r in read_file(str(source)) if r.case and r.case.summary]
    if not found:
        sys.exit("no real cases: run `make run` (or bench.import_search) first, or check ../shared/data")
    return found[:limit]


def page(number: int, title: str, summary: str) -> str:
    day = (datetime(2022, 1, 1) + timedelta(days=number % 700)).date().isoformat()
    paragraphs = "\n".join(f"<p>{html.escape(part)}</p>" for part in summary.split(". ") if part)
    menu = " ".join(f'<li><a href="/{topic.lower()}">{topic}</a></li>'
                    for topic in ("World", "Politics", "Economy", "Opinion", "Video", "Subscribe"))
    sidebar = "".join(f'<li><a href="/story/{number + n}">Most read story {number + n}</a></li>' for n in range(8))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)} | Daily Truth</title>
<link rel="canonical" href="https://daily-truth.example/{day}/story-{number}">
<meta property="og:site_name" content="Daily Truth"><meta property="article:published_time" content="{day}T08:00:00Z">
</head><body><header><nav><ul>{menu}</ul></nav><form><input name="q" placeholder="Search"></form></header>
<main><article><h1>{html.escape(title)}</h1><p class="byline">By staff writer, {day}</p>{paragraphs}</article>
<aside><h2>Most read</h2><ul>{sidebar}</ul></aside></main>
<footer><p>© 2022 Daily Truth. All rights reserved.</p><p><a href="/privacy">Privacy</a> · <a href="/about">About</a>
· <a href="/contact">Contact</a></p><p>Cookies help us deliver our services.</p></footer></body></html>"""


def messages(count: int, texts: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    start = datetime(2022, 1, 1)
    for number in range(1, count + 1):
        title, summary = texts[number % len(texts)]
        text: Any = summary
        if number % 3 == 0:
            text = [f"{title}. ", {"type": "bold", "text": summary[:80]}, summary[80:]]
        message: dict[str, Any] = {"id": number, "type": "message" if number % 50 else "service",
                                   "date": (start + timedelta(minutes=7 * number)).isoformat(),
                                   "from": "Daily Truth", "text": text}
        if number % 5 == 0:
            message["forwarded_from"] = "Another Channel"
        yield message


def write_export(path: Path, count: int, texts: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as sink:
        sink.write('{\n "name": "Daily Truth", "type": "public_channel", "id": 1361234567, "messages": [\n')
        for number, message in enumerate(messages(count, texts)):
            sink.write((",\n" if number else "") + json.dumps(message, ensure_ascii=False, indent=1))
        sink.write("\n ]\n}\n")


def write_feed(path: Path, count: int, texts: list[tuple[str, str]]) -> None:
    start = datetime(2022, 1, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8") as sink:
        sink.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Daily Truth</title>'
                   "<language>en</language>\n")
        for number in range(1, count + 1):
            title, summary = texts[number % len(texts)]
            sink.write(f"<item><title>{html.escape(title)}</title>"
                       f"<link>https://daily-truth.example/story-{number}</link>"
                       f"<pubDate>{format_datetime(start + timedelta(minutes=7 * number))}</pubDate>"
                       f"<description>{html.escape('<p>' + summary + '</p>')}</description></item>\n")
        sink.write("</channel></rss>\n")


def read_in_child(path: Path) -> dict[str, Any]:
    """Read a file or folder in a fresh process: its documents, time and memory."""
    done = subprocess.run([sys.executable, "-m", "bench.documents", "--read", str(path)], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def read_here(path: Path) -> dict[str, Any]:
    from disinfodb.documents import read_documents  # noqa: PLC0415
    from disinfodb.documents.sources import reader  # noqa: PLC0415

    for fmt in ("html", "telegram", "feeds"):
        reader(fmt)  # imported before the baseline, like the language model
    from disinfodb.documents.lang import detect  # noqa: PLC0415

    detect("The model is loaded before the baseline is taken.")
    baseline = rss_mb()
    skipped: list[Any] = []
    started = time.perf_counter()
    docs = chars = 0
    for document in read_documents(path, skipped):
        docs += 1
        chars += len(document.text)
    seconds = time.perf_counter() - started
    return {"docs": docs, "chars": chars, "skipped": len(skipped), "seconds": round(seconds, 2),
            "docs_per_s": round(docs / seconds, 1), "rss_after_imports_mb": round(baseline, 1),
            "peak_rss_mb": round(rss_mb(field="VmHWM"), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=1_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_here(args.read)))
        return
    texts = case_texts(20_000)
    report: dict[str, Any] = {"cases_used": len(texts)}
    with tempfile.TemporaryDirectory() as folder:
        pages = Path(folder) / "pages"
        pages.mkdir()
        for number in range(args.pages):
            (pages / f"story-{number:05d}.html").write_text(page(number, *texts[number % len(texts)]))
        export, feed = Path(folder) / "result.json", Path(folder) / "feed.rss"
        write_export(export, args.messages, texts)
        write_feed(feed, args.items, texts)
        for name, path, size in (("html pages", pages, sum(p.stat().st_size for p in pages.iterdir())),
                                 ("telegram export", export, export.stat().st_size),
                                 ("rss feed", feed, feed.stat().st_size)):
            result = {"input_mb": round(size / 2**20, 1), **read_in_child(path)}
            report[name] = result
            print(f"{name}: {result}", flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
