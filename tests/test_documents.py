"""Readers for what analysts collect (disinfodb.documents): web pages, PDFs, Telegram
exports, RSS/Atom feeds, SRT/WebVTT subtitles, text and folders; what each skips, and
where; and the faces that use them: `match --file`, `scan FOLDER` (local and Ray give the
same rows) and the check page's upload.

The hand-made files are in tests/fixtures/documents/collected; PDFs are written here.
"""

from __future__ import annotations

import io
import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner, Result

from disinfodb.cli import app
from disinfodb.documents import Document, Skipped, read_documents, read_file, read_upload
from disinfodb.documents.lang import detect
from disinfodb.embed import models_dir
from disinfodb.ingest import read_file as read_cases
from disinfodb.ingest.pipeline import import_records
from disinfodb.scan import Corpus, read_rows
from disinfodb.store import open_store

COLLECTED = Path(__file__).resolve().parent / "fixtures" / "documents" / "collected"
runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None, "DISINFODB_MODEL": None,
                        "DISINFODB_MODELS": str(models_dir())})
KAZAKH_COUP = "a-coup-in-kazakhstan-was-meant-to-divert-russias-attention-before-negotiations"


def read(path: Path, start_at: int = 0) -> tuple[list[Document], list[str]]:
    skipped: Skipped = []
    found = list(read_file(path, skipped, start_at))
    return found, [str(problem) for problem in skipped]


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF whose pages carry these texts in a text layer (Helvetica), written by hand."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 11 Tf 40 750 Td ({escaped}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
                       "/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password, owner_password="owner-secret", algorithm="AES-128")
    sink = io.BytesIO()
    writer.write(sink)
    return sink.getvalue()


# -- one reader each -------------------------------------------------------------------------


def test_a_web_page_gives_its_main_text_and_metadata() -> None:
    [page], skipped = read(COLLECTED / "page.html")
    assert skipped == []
    assert "yet another attempt at a colour revolution" in page.text
    for boilerplate in ("Subscribe", "All rights reserved", "Privacy"):  # the menu and the footer
        assert boilerplate not in page.text
    assert (page.title, page.date, page.url, page.lang, dict(page.meta)) == (
        "Kazakhstan: what really happened", "2022-01-09",
        "https://eurasia-truth.example/2022/01/kazakhstan-what-really-happened", "en",
        {"site": "Eurasia Daily Truth"})


def test_malformed_html_is_read_as_far_as_it_goes_and_an_empty_page_is_skipped(tmp_path: Path) -> None:
    malformed = tmp_path / "malformed.html"
    malformed.write_bytes(b"<html><body><article><p>The riots did not come from nowhere, <b>they were staged "
                          b"from abroad<p>said the paper</article></span></div></body>")
    [page], _ = read(malformed)
    assert page.text == "The riots did not come from nowhere, they were staged from abroad\nsaid the paper"
    empty, nothing = tmp_path / "empty.html", tmp_path / "nothing.html"
    empty.write_bytes(b"<html><head><title>Only a title</title></head><body></body></html>")
    nothing.write_bytes(b"<html>")
    assert read(empty) == ([], [f"{empty}: no main text found in the page"])
    assert read(nothing)[0] == []


def test_a_pdf_gives_its_text_with_the_page_of_each_sentence(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf_bytes(["Weather report for the week ahead.",
                                "NATO is preparing a coup in Kazakhstan, the report claims."]))
    [doc], skipped = read(path)
    assert skipped == [] and doc.meta == {"pages": "2"}
    assert "Weather report" in doc.text and "NATO is preparing a coup in Kazakhstan" in doc.text
    assert doc.at("NATO is preparing a coup in Kazakhstan, the report claims.") == "page 2"
    assert doc.at("Weather report for the week ahead.") == "page 1"
    assert doc.lang == "en"  # the PDF does not say: detected


def test_encrypted_scanned_and_broken_pdfs_are_no_text_entries(tmp_path: Path) -> None:
    text = pdf_bytes(["The referendum was rigged by foreign agents, observers said."])
    locked, restricted = tmp_path / "locked.pdf", tmp_path / "restricted.pdf"
    locked.write_bytes(encrypted(text, "reader-secret"))
    restricted.write_bytes(encrypted(text, ""))  # encrypted only against editing: anyone can read it
    assert read(locked) == ([], [f"{locked}: no text: the PDF is encrypted with a password"])
    [readable], _ = read(restricted)
    assert "referendum was rigged" in readable.text
    scanned = tmp_path / "scanned.pdf"
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.write(scanned)
    [problem] = read(scanned)[1]
    assert problem.startswith(f"{scanned}: no text: none of its 1 page(s) has a text layer")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a PDF\n")
    [problem] = read(broken)[1]
    assert problem.startswith(f"{broken}: no text: not a readable PDF")


def test_a_telegram_channel_export_gives_one_document_per_message_with_text() -> None:
    path = COLLECTED / "channel" / "result.json"
    found, skipped = read(path)
    assert [(d.id, d.position) for d in found] == [
        (f"{path}#1361234567/102", 2), (f"{path}#1361234567/103", 3), (f"{path}#1361234567/106", 6)]
    first, forwarded, english = found
    assert first.text == ("Срочно: события в Казахстане — очередная попытка цветной революции, организованной "
                          "из-за рубежа перед переговорами России и США.")  # the entities joined
    assert (first.date, first.url, first.lang) == ("2022-01-06T10:15:00", "https://t.me/eurasia_truth/102", "ru")
    assert forwarded.meta == {"channel": "Правда Евразии", "from": "Правда Евразии", "forwarded_from": "Weather Almaty"}
    assert english.lang == "en"
    # the service message (101) and the photo without text (104) are not documents; 105 is located
    assert skipped == [f"{path}:message 5 [text]: the text must be a string or a list of strings and entities "
                       "(message id 105)"]
    assert [d.id for d in read(path, start_at=3)[0]] == [found[1].id, found[2].id]


def test_a_truncated_export_yields_the_messages_before_the_cut(tmp_path: Path) -> None:
    whole = (COLLECTED / "channel" / "result.json").read_bytes()
    cut = tmp_path / "result.json"
    cut.write_bytes(whole[:whole.index(b"Under pressure")])
    found, skipped = read(cut)
    assert [d.id.rpartition("/")[2] for d in found] == ["102", "103"]
    [problem] = skipped[1:]
    assert problem.startswith(f"{cut}:message 6: the export ends early (truncated?) after 5 messages")


def test_an_all_chats_export_links_only_messages_of_chats_with_a_username(tmp_path: Path) -> None:
    export = {"about": "Telegram Desktop export", "chats": {"about": "...", "list": [
        {"name": "News", "type": "public_channel", "id": 11, "username": "news_channel",
         "messages": [{"id": 1, "type": "message", "date": "2022-02-01T10:00:00", "text": "Kyiv fell overnight."}]},
        {"name": "Family", "type": "private_group", "id": 22,
         "messages": [{"id": 7, "type": "message", "date": "2022-02-02T10:00:00", "from": "Olga",
                       "text": ["See ", {"type": "link", "text": "this"}]}]}]}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    found, skipped = read(path)
    assert skipped == []
    assert [(d.id, d.url, d.meta.get("channel"), d.text) for d in found] == [
        (f"{path}#11/1", "https://t.me/news_channel/1", "News", "Kyiv fell overnight."),
        (f"{path}#22/7", None, "Family", "See this")]


def test_a_big_export_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    messages = [{"id": n, "type": "message", "date": "2022-03-01T00:00:00", "from": "Channel",
                 "text": f"Message number {n} repeats that the sanctions hurt Europe more than Russia."}
                for n in range(1, 5_001)]
    path.write_text(json.dumps({"name": "C", "type": "public_channel", "id": 5, "messages": messages}))
    del messages
    read(COLLECTED / "channel" / "result.json")  # the reader's modules and the language model, loaded once
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_file(path, [], start_at=0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 5_000
    # ijson's buffers take ~0.8 MB at any size (3.4 MB and 20,000 messages: the same);
    # json.load of this 0.85 MB file peaks at 4.3 MB
    assert peak < 1.5 * 2**20, f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte export"


def test_rss_and_atom_give_one_document_per_item() -> None:
    rss = COLLECTED / "feeds" / "news.rss"
    found, skipped = read(rss)
    assert [(d.id, d.title, d.date, d.url, d.lang) for d in found] == [
        (f"{rss}#1", "Kazakhstan unrest is a US plot", "2022-01-08T12:00:00Z",
         "https://eurasia-truth.example/2022/01/kazakhstan-unrest", "en"),
        (f"{rss}#2", "Snow closes the roads around Almaty", "2022-01-09T01:00:00Z",  # +0600 -> UTC
         "https://eurasia-truth.example/2022/01/snow", "en")]
    assert found[0].text == ("Kazakhstan unrest is a US plot\n\nNo country is more interested in destabilising "
                             "Kazakhstan than the United States, and Turkey is the next to gain.")  # HTML taken out
    assert skipped == [f"{rss}:item 3: the item has no title and no text"]
    assert [d.id for d in read(rss, start_at=2)[0]] == [f"{rss}#2"]
    atom = COLLECTED / "feeds" / "news.atom"
    [entry], _ = read(atom)
    assert (entry.title, entry.date, entry.lang, entry.url) == (
        "Putschversuch in Kasachstan", "2022-01-10T08:00:00Z", "de", "https://eurasia-truth.example/de/2022/01/putsch")
    assert "weiterer Versuch einer Farbrevolution" in entry.text and "<p>" not in entry.text


def test_a_feed_cut_short_keeps_the_items_before_the_cut(tmp_path: Path) -> None:
    whole = (COLLECTED / "feeds" / "news.rss").read_text(encoding="utf-8")
    cut = tmp_path / "cut.rss"
    cut.write_text(whole[:whole.index("<title>Snow")], encoding="utf-8")
    found, _ = read(cut)
    assert [d.title for d in found] == ["Kazakhstan unrest is a US plot"]


def test_subtitles_keep_each_cue_start_and_skip_broken_timings() -> None:
    srt = COLLECTED / "interview.srt"
    [talk], skipped = read(srt)
    assert talk.spoken and talk.text.splitlines() == [
        "Good evening, and welcome to the programme.", "What happened in Kazakhstan is yet another attempt",
        "at a colour revolution, organised from abroad.", "We will be back after the break."]
    assert [s.at for s in talk.segments] == ["00:00:01", "00:01:02", "00:01:06", "00:01:12"]
    assert talk.at("What happened in Kazakhstan is yet another attempt at a colour revolution, "
                   "organised from abroad.") == "00:01:02"
    assert talk.at("We will be back after the break.") == "00:01:12"
    assert talk.at("Never said.") is None
    assert skipped == [f"{srt}:line 14: broken cue timing '00:01:xx,000 --> 00:01:12,000'"]
    vtt = COLLECTED / "briefing.vtt"
    [briefing], skipped = read(vtt)
    assert briefing.text.startswith("Thank you all for coming to this briefing.\nWestern media accuse Moscow")
    assert [s.at for s in briefing.segments] == ["00:00:05", "00:01:20"]
    assert skipped == [f"{vtt}:line 12: broken cue timing '00:01:99.000 --> 00:02:00.000'"]


def test_a_folder_is_read_recursively_and_content_beats_the_extension(tmp_path: Path) -> None:
    folder = tmp_path / "collected"
    shutil.copytree(COLLECTED, folder)
    shutil.copy(COLLECTED / "interview.srt", folder / "subtitles-saved-as.txt")
    shutil.copy(COLLECTED / "page.html", folder / "page-without-extension")
    (folder / ".hidden.txt").write_text("Never read.")
    skipped: Skipped = []
    found = list(read_documents(folder, skipped))
    names = [d.id.removeprefix(f"{folder}/") for d in found]
    assert names == ["briefing.vtt", "channel/result.json#1361234567/102", "channel/result.json#1361234567/103",
                     "channel/result.json#1361234567/106", "feeds/news.atom#1", "feeds/news.rss#1",
                     "feeds/news.rss#2", "interview.srt", "notes.txt", "page-without-extension", "page.html",
                     "subtitles-saved-as.txt"]
    by_name = dict(zip(names, found, strict=True))
    assert by_name["subtitles-saved-as.txt"].segments == by_name["interview.srt"].segments
    assert by_name["page-without-extension"].title == by_name["page.html"].title
    assert f"{folder}/photo.png: not a format read here (.png)" in "\n".join(map(str, skipped))
    assert len(skipped) == 6  # the fixtures' five, and the broken cue of the copied subtitles


def test_language_is_detected_only_where_it_can_be_told() -> None:
    assert detect("НАТО готовит переворот в Казахстане, пишут местные СМИ.") == "ru"
    assert detect("Die Regierung in Berlin plant neue Sanktionen gegen Moskau.") == "de"
    assert detect("ok lol") is None
    assert detect("12345 !!! ###") is None


def test_documents_are_sharded_by_file_and_position() -> None:
    corpus = Corpus.open(COLLECTED)
    every = [d.id for d in corpus.docs()]
    for size in (1, 2, 4):
        shards = list(corpus.shards(size))
        assert [d.id for shard in shards for d in corpus.read(shard)] == every, size
    assert len(every) == 10


def test_an_upload_is_read_by_its_content() -> None:
    [page] = read_upload("upload.html", (COLLECTED / "page.html").read_bytes(), [])
    assert page.title == "Kazakhstan: what really happened"


# -- through the command line ----------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, seed_path: Path) -> Path:
    db = tmp_path_factory.mktemp("documents") / "seed.sqlite"
    store = open_store(str(db))
    try:
        assert import_records(store, read_cases(str(seed_path))).created == 4
    finally:
        store.close()
    return db


def invoke(db: Path, *args: str) -> Result:
    command, *rest = args
    return runner.invoke(app, [command, "--db", str(db), "--model", "use-m", *rest])


def matches_of(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)["matches"]
    return found


def test_match_file_reads_a_page_and_subtitles(seeded: Path) -> None:
    page = matches_of(invoke(seeded, "match", "--file", str(COLLECTED / "page.html"), "--json"))
    assert page[0]["case_id"] == KAZAKH_COUP
    assert "colour revolution" in page[0]["evidence"][0]["input_sentence"]
    assert page[0]["evidence"][0]["at"] is None  # a page has no times
    talk = invoke(seeded, "match", "--file", str(COLLECTED / "interview.srt"), "--json")
    assert "skipped:" in talk.stderr and "broken cue timing" in talk.stderr
    best = matches_of(talk)[0]
    assert best["case_id"] == KAZAKH_COUP and best["label"] in ("match", "related")
    assert best["evidence"][0]["at"] == "00:01:02"


def test_match_file_refuses_what_it_cannot_match(seeded: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypted(pdf_bytes(["A text nobody can read."]), "secret"))
    for path, message in ((locked, "no text: the PDF is encrypted"),
                          (COLLECTED / "channel" / "result.json", "holds 3 documents"),
                          (COLLECTED / "photo.png", "not a format read here")):
        result = invoke(seeded, "match", "--file", str(path))
        assert result.exit_code == 1, path
        assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own deprecated settings
def test_scan_a_folder_local_and_ray_give_the_same_rows(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "local.jsonl"
    result = invoke(seeded, "scan", str(COLLECTED), "--out", str(out), "--workers", "2", "--shard-size", "3")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "Scanned 10 documents" in said and "Skipped 5 part(s) of the input" in said
    assert "interview.srt:line 14: broken cue timing" in said
    rows = read_rows(out)
    by_doc = {row["doc_id"].removeprefix(f"{COLLECTED}/"): row for row in reversed(rows)}  # each doc's best
    assert by_doc["interview.srt"]["case_id"] == KAZAKH_COUP
    assert by_doc["interview.srt"]["evidence"][0]["at"] == "00:01:02"
    unrest = "kazakhstan-unrest-is-a-us-attempt-to-drag-russia-into-new-conflicts"
    assert by_doc["feeds/news.rss#1"]["case_id"] == unrest
    assert "notes.txt" not in by_doc and "feeds/news.rss#2" not in by_doc  # bread and snow repeat no case
    pytest.importorskip("ray")
    ray_out = tmp_path / "ray.jsonl"
    result = invoke(seeded, "scan", str(COLLECTED), "--out", str(ray_out), "--engine", "ray", "--workers", "2",
                    "--shard-size", "3")
    assert result.exit_code == 0, result.stderr
    assert ray_out.read_bytes() == out.read_bytes()
