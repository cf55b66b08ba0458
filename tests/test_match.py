"""Claim matching with the real offline models on real SQLite files (no mocks).

The 2015-2017 file is imported and embedded once per session (`claims_2017`); tests that
write to a store use their own copy of it or the 4-case seed store.
"""

from __future__ import annotations

import json
import math
import random
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import Claims2017, seed_case

from disinfodb.cases import Case
from disinfodb.embed import Embedder, Kind, UniversalSentenceEncoder, Vectors, load_embedder, load_embedders
from disinfodb.errors import DisinfoError, InputTooLarge, ModelMissing, NothingToMatch
from disinfodb.matching import ClaimIndex, Match, Matcher, case_units, near_duplicates
from disinfodb.matching.matcher import NEAR_DUPLICATE
from disinfodb.matching.similarity import QuantisedVectors
from disinfodb.related import related_cases, title_key
from disinfodb.search import SearchQuery
from disinfodb.store import SQLiteStore

VINNITSA = "Explosions in Vinnitsa were organized by Ukrainian soldiers"
# Written for these tests (not the case's text): the claim of the 2015-2017 file's first row.
VINNITSA_RU = ("Недавние взрывы на складе боеприпасов в Виннице организовали сами украинские военные, "
               "чтобы скрыть кражу оружия.")
VINNITSA_EN = ("The blasts at the ammunition depot near Vinnitsa were staged by Ukrainian troops "
               "themselves to hide that they had stolen weapons.")
RECIPE = ("Preheat the oven to 180 degrees. Mix the flour, the sugar and three eggs in a bowl, "
          "then bake the cake for forty minutes and let it cool before serving.")
COUP = "NATO is preparing a coup in Kazakhstan"
COUP_RU = "НАТО готовит государственный переворот в Казахстане"
COUP_ES = "La OTAN está preparando un golpe de Estado en Kazajistán"
UNRELATED = "Mix the flour with two eggs and bake the cake for forty minutes."
KAZAKH_COUP = "A coup in Kazakhstan was meant to divert Russia"
KAZAKH_UNREST = "Kazakhstan unrest is a US attempt"


def cosine(a: Vectors, b: Vectors) -> float:
    return float(a @ b)


def every(vectors: QuantisedVectors) -> Vectors:
    """All of an index's vectors, back in float32."""
    return vectors.rows(0, vectors.count)


def assert_unit_vectors(vectors: Vectors, rows: int, dim: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def assert_well_formed(matches: list[Match], limit: int) -> None:
    assert len(matches) <= limit
    assert all(0.0 <= m.score <= 1.0 and math.isfinite(m.dense) for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert {m.label for m in matches} <= {"match", "related", "none"}


# -- embedders -------------------------------------------------------------------------


def test_use_m_is_multilingual() -> None:
    [model] = load_embedders("use-m")
    assert (model.name, model.dim) == ("use-m", 512)
    en, ru, es, other = model.embed([COUP, COUP_RU, COUP_ES, UNRELATED])
    assert_unit_vectors(np.vstack([en, ru, es, other]), 4, 512)
    for a, b in ((en, ru), (en, es), (ru, es)):
        assert cosine(a, b) > 0.6
        assert cosine(a, b) > max(cosine(a, other), cosine(b, other)) + 0.4


def test_use_m_embeds_long_and_empty_input() -> None:
    [model] = load_embedders("use-m")
    assert_unit_vectors(model.embed([COUP * 200, "x"]), 2, 512)
    empty = model.embed([])
    assert empty.shape == (0, 512) and empty.dtype == np.float32
    # Batches (64 texts each) give what one text at a time gives, up to the int8 model's
    # activation quantization, which depends a little on the rest of the batch.
    texts = [f"Case number {n}: {COUP}" for n in range(70)]
    together = model.embed(texts)[[0, 69]]
    alone = np.vstack([model.embed([texts[0]]), model.embed([texts[69]])])
    assert np.all((together * alone).sum(axis=1) > 0.995)


def test_e5_small_is_multilingual() -> None:
    [model] = load_embedders("e5-small")
    assert (model.name, model.dim) == ("e5-small", 384)
    query = model.embed([COUP], "query")
    passages = model.embed([COUP_RU, UNRELATED], "passage")
    assert_unit_vectors(query, 1, 384)
    assert_unit_vectors(passages, 2, 384)
    same, other = (query @ passages.T)[0]
    assert same > 0.8
    assert same > other + 0.08  # e5's cosines are compressed into a narrow band near 1
    # query/passage prefixes matter for e5: the same text gets different vectors.
    assert not np.allclose(model.embed([COUP], "passage"), query)


def test_missing_weights_say_how_to_fetch_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISINFODB_MODELS", str(tmp_path))
    with pytest.raises(ModelMissing, match=r"run `disinfodb models fetch`") as missing:
        UniversalSentenceEncoder()  # load_embedder caches models: build one directly
    assert str(tmp_path / "embedding_model_quantized.onnx") in str(missing.value)
    assert isinstance(missing.value, DisinfoError)


@pytest.mark.parametrize("spec", ["no-such-model", "use-m+no-such-model", "use-m+"])
def test_unknown_model_name(spec: str) -> None:
    with pytest.raises(DisinfoError, match="unknown model"):
        load_embedders(spec)


def test_model_spec_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISINFODB_MODEL", "e5-small")
    assert [m.name for m in load_embedders()] == ["e5-small"]
    monkeypatch.delenv("DISINFODB_MODEL")
    assert [m.name for m in load_embedders()] == ["use-m", "e5-small"]  # the default pair
    assert [m.name for m in load_embedders("use-m + e5-small")] == ["use-m", "e5-small"]
    assert load_embedder("use-m") is load_embedders("use-m")[0]


# -- the vector cache ------------------------------------------------------------------


class CountingEmbedder:
    """A real embedder that records what it was asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache_key = inner.cache_key
        self.dim = inner.dim
        self.spread = inner.spread
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str], kind: Kind = "passage") -> Vectors:
        self.calls.append(list(texts))
        return self.inner.embed(texts, kind)

    def take(self) -> list[str]:
        """Everything embedded since the last take."""
        done = [text for call in self.calls for text in call]
        self.calls.clear()
        return done


def units_of(store: SQLiteStore) -> dict[str, list[str]]:
    return {case.id: case_units(case.title, case.summary) for case in store.iter_cases()}


def test_vector_cache(seed_store: SQLiteStore) -> None:
    counting = CountingEmbedder(load_embedder("use-m"))
    first = ClaimIndex.build(seed_store, [counting])
    expected = units_of(seed_store)
    assert counting.take() == [unit for parts in expected.values() for unit in parts]
    assert first.unit_text == [unit for parts in expected.values() for unit in parts]
    assert first.primary.count == len(first.unit_text) and first.primary.dim == 512
    assert np.allclose(np.linalg.norm(every(first.primary), axis=1), 1.0, atol=5e-3)  # int8, one scale each

    # A second build reads every vector from the file.
    again = ClaimIndex.build(seed_store, [counting])
    assert counting.take() == []
    assert np.array_equal(every(again.primary), every(first.primary))
    assert np.array_equal(again.case_pks, first.case_pks)

    # A change outside the claim text (the disproof) embeds nothing.
    case = seed_case(seed_store, KAZAKH_UNREST)
    seed_store.upsert(case.model_copy(update={"disproof": case.disproof + " See also the EU statement."}))
    ClaimIndex.build(seed_store, [counting])
    assert counting.take() == []

    # A new summary embeds that case's units, and only them.
    summary = ("Washington wants chaos in Kazakhstan to weaken Russia. "
               "The protests were paid for by American foundations.")
    seed_store.upsert(case.model_copy(update={"summary": summary}))
    updated = ClaimIndex.build(seed_store, [counting])
    new_units = case_units(case.title, summary)
    assert new_units == [case.title, "Washington wants chaos in Kazakhstan to weaken Russia.",
                         "The protests were paid for by American foundations.", summary]  # + the whole
    assert counting.take() == new_units
    row = int(np.searchsorted(updated.case_pks, seed_store.pk_of(case.id)))
    block = updated.primary.rows(updated.unit_start[row], updated.unit_start[row + 1])
    fresh = load_embedder("use-m").embed(new_units)
    assert np.min(np.sum(block * fresh, axis=1) / np.linalg.norm(block, axis=1)) > 0.9999
    assert updated.unit_text[updated.unit_start[row]:updated.unit_start[row + 1]] == new_units
    # The other cases' vectors are the cached ones, unchanged.
    others = [r for r in range(len(updated.case_pks)) if r != row]
    for r in others:
        assert np.array_equal(updated.primary.rows(updated.unit_start[r], updated.unit_start[r + 1]),
                              first.primary.rows(first.unit_start[r], first.unit_start[r + 1]))

    # Deleting a case drops it (and its cached vectors) from the index.
    gone = seed_case(seed_store, KAZAKH_COUP)
    gone_pk = seed_store.pk_of(gone.id)
    seed_store.delete(gone.id)
    after = ClaimIndex.build(seed_store, [counting])
    assert counting.take() == []
    assert gone_pk not in after.case_pks.tolist()
    assert len(after.case_pks) == 3 and len(after.unit_start) == 4
    assert not set(case_units(gone.title, gone.summary)) & set(after.unit_text)
    assert gone_pk not in [row[0] for row in seed_store.claim_rows("use-m")]
    assert all(m.case_id != gone.id for m in Matcher(seed_store, [counting], after).match(KAZAKH_COUP))


def test_vector_cache_is_per_model(seed_store: SQLiteStore) -> None:
    use_m = CountingEmbedder(load_embedder("use-m"))
    e5 = CountingEmbedder(load_embedder("e5-small"))
    ClaimIndex.build(seed_store, [use_m])
    total = len(use_m.take())
    index = ClaimIndex.build(seed_store, [use_m, e5])
    assert use_m.take() == []
    assert len(e5.take()) == total
    assert (index.vectors["use-m"].count, index.vectors["use-m"].dim) == (total, 512)
    assert (index.vectors["e5-small"].count, index.vectors["e5-small"].dim) == (total, 384)
    ClaimIndex.build(seed_store, [e5])
    assert e5.take() == []


def test_two_models_match(seed_store: SQLiteStore) -> None:
    """use-m + e5-small, the default pair, with the calibration fitted for it."""
    embedders = load_embedders("use-m+e5-small")
    matcher = Matcher(seed_store, embedders)
    assert matcher.name == "use-m+e5-small" and matcher.calibration is not None
    found = matcher.match("Американцы устроили беспорядки в Казахстане, чтобы втянуть Россию в новую войну.")
    assert_well_formed(found, 4)
    assert found[0].title.startswith(KAZAKH_UNREST)
    assert all(m.label != "match" for m in found[1:])
    # Four cases are too few to know how far a case stands out; the models' prior spread
    # (Embedder.spread) stands in, so a case's own title is still a match here.
    title = next(case.title for case in seed_store.iter_cases() if case.title.startswith(KAZAKH_UNREST))
    assert [m.label for m in matcher.match(title, limit=2)] == ["match", "none"]


# -- matching real cases ---------------------------------------------------------------


def test_russian_paraphrase_matches_the_case(claims_2017: Claims2017) -> None:
    """The default pair ranks it first among 2,769 cases. Its label is cautious (the README's
    Verdicts: across languages `match` is given to about a quarter of right first candidates),
    and no other case is labelled `match`."""
    case = claims_2017.case(VINNITSA)
    found = claims_2017.matcher.match(VINNITSA_RU, limit=5)
    assert_well_formed(found, 5)
    best = found[0]
    assert (best.case_id, best.title) == (case.id, case.title)
    assert all(m.label != "match" for m in found[1:])
    [evidence] = best.evidence
    assert evidence.input_sentence in VINNITSA_RU
    assert evidence.case_sentence == case.title or evidence.case_sentence in case.summary
    assert 0.5 < evidence.score <= 1.0


def test_english_paraphrase_matches_the_case(claims_2017: Claims2017) -> None:
    case = claims_2017.case(VINNITSA)
    found = claims_2017.matcher.match(VINNITSA_EN, limit=5)
    assert found[0].case_id == case.id and found[0].label in ("match", "related")
    [evidence] = found[0].evidence
    assert evidence.input_sentence in VINNITSA_EN
    assert evidence.case_sentence == case.title or evidence.case_sentence in case.summary
    assert found[0].lexical > 0  # English shares words with the English summaries


def test_filters_restrict_the_cases(claims_2017: Claims2017) -> None:
    case = claims_2017.case(VINNITSA)
    assert case.published is not None
    matcher = claims_2017.matcher
    later = matcher.match(VINNITSA_RU, SearchQuery(since=case.published + timedelta(days=1)))
    assert case.id not in [m.case_id for m in later]
    earlier = matcher.match(VINNITSA_RU, SearchQuery(until=case.published - timedelta(days=1)))
    assert len(earlier) == 10
    assert case.id not in [m.case_id for m in earlier]
    assert all(m.label != "match" for m in earlier)
    by_id = {c.id: c for c in claims_2017.cases}
    assert all((p := by_id[m.case_id].published) is not None and p < case.published for m in earlier)
    kept = matcher.match(VINNITSA_RU, SearchQuery(countries=("Ukraine",), since=case.published))
    assert kept[0].case_id == case.id


def test_unrelated_text_is_no_match(claims_2017: Claims2017) -> None:
    found = claims_2017.matcher.match(RECIPE, limit=5)
    assert_well_formed(found, 5)
    assert found[0].label != "match"


def test_every_claim_a_text_repeats_is_a_match(claims_2017: Claims2017) -> None:
    """A text may repeat several debunked claims: each is a match on its own merits, whatever
    else the text says (an article quoting two cases word for word gets both)."""
    vinnitsa = claims_2017.case(VINNITSA)
    catalonia = claims_2017.case("EU officials supported the violence in Catalonia")
    for case in (vinnitsa, catalonia):
        assert claims_2017.matcher.match(case.summary, limit=1)[0].label == "match"
    found = claims_2017.matcher.match(f"{vinnitsa.summary}\n\n{catalonia.summary}", limit=5)
    labels = {m.case_id: m.label for m in found}
    assert (labels.get(vinnitsa.id), labels.get(catalonia.id)) == ("match", "match")


def long_article(claims: list[Case], words: int = 5000) -> str:
    """Real case summaries inside plain filler paragraphs, about `words` words long."""
    filler = [
        "The town council met on Tuesday to discuss the new bus timetable for the winter season.",
        "Local bakers said the price of flour had risen slightly since the spring harvest.",
        "Children from the primary school planted apple trees along the river path.",
        "The library will extend its opening hours during the examination period.",
        "A group of volunteers cleaned the park after the weekend music festival.",
        "Weather forecasters expect light rain and mild temperatures for the rest of the week.",
        "The football club announced that its stadium would get new seats next summer.",
        "Farmers at the Saturday market sold potatoes, cabbages and fresh cheese.",
    ]
    rng = random.Random(7)
    paragraphs: list[str] = []
    while sum(len(p.split()) for p in paragraphs) < words - sum(len(c.summary.split()) for c in claims):
        paragraphs.append(" ".join(rng.sample(filler, 5)))
    step = len(paragraphs) // (len(claims) + 1)
    for n, case in enumerate(claims, start=1):
        paragraphs.insert(n * step + n - 1, " ".join(case.summary.split()))
    return "\n\n".join(paragraphs)


def test_long_article(claims_2017: Claims2017) -> None:
    embedded = [c for c in claims_2017.cases if len(c.summary.split()) > 40][100:700:150]
    article = long_article(embedded)
    assert 4900 <= len(article.split()) <= 5200
    started = time.perf_counter()
    found = claims_2017.matcher.match(article, limit=5)
    assert time.perf_counter() - started < 10
    assert_well_formed(found, 5)
    assert {m.case_id for m in found} & {c.id for c in embedded}


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " \n\t \r\n ", "\x00\x01\x02", "https://t.co/abc www.example.com/x",
                                  "#", "— . ! ?"])
def test_nothing_to_match(claims_2017: Claims2017, text: str) -> None:
    with pytest.raises(NothingToMatch):
        claims_2017.matcher.match(text)


def test_binary_garbage_is_nothing_to_match(claims_2017: Claims2017) -> None:
    """Random bytes read as UTF-8 (what `match --file` does with a binary file): about a
    quarter of them are ASCII letters and digits, but there are no words in them."""
    garbage = random.Random(0).randbytes(4096).decode("utf-8", errors="replace")
    with pytest.raises(NothingToMatch):
        claims_2017.matcher.match(garbage)


def test_too_large_input_is_refused_quickly(claims_2017: Claims2017) -> None:
    huge = (VINNITSA_EN + " ") * (10_000_000 // len(VINNITSA_EN))
    assert len(huge) >= 9_900_000
    started = time.perf_counter()
    with pytest.raises(InputTooLarge, match="characters"):
        claims_2017.matcher.match(huge)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("text", [
    "ஒரு புதிய ஆய்வு இன்று வெளியிடப்பட்டது. இது மிகவும் முக்கியமானது என்று அவர்கள் கூறினர்.",  # Tamil
    "ሰላም ለዓለም። ይህ አዲስ ጥናት ዛሬ ታትሟል። በጣም አስፈላጊ ነው።",  # Ethiopic (Amharic)
])
def test_unsupported_script_gets_a_bounded_answer(claims_2017: Claims2017, text: str) -> None:
    started = time.perf_counter()
    found = claims_2017.matcher.match(text, limit=5)
    assert time.perf_counter() - started < 5
    assert_well_formed(found, 5)
    assert all(m.label != "match" for m in found)


# -- related cases and near-duplicates -------------------------------------------------


def test_related_cases(claims_2017: Claims2017) -> None:
    case = claims_2017.case(VINNITSA)
    found = related_cases(claims_2017.matcher, claims_2017.store, case.id, 10)
    assert len(found) == 10
    assert case.id not in [r.case_id for r in found]
    scores = [r.score for r in found]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= r.similarity <= 1.0 and r.score >= r.similarity for r in found)
    assert len({r.case_id for r in found}) == 10
    titles = {c.id: c.title for c in claims_2017.cases}
    assert all(titles[r.case_id] == r.title for r in found)
    # one case per claim: no two listed cases are near copies or share a title
    assert len({title_key(r.title) for r in found}) == 10
    rows = np.searchsorted(claims_2017.matcher.index.case_pks, [claims_2017.store.pk_of(r.case_id) for r in found])
    cases = claims_2017.matcher.index.cases
    between = cases.cosines(cases.take(rows))[:, rows]
    assert (between[~np.eye(10, dtype=bool)] < NEAR_DUPLICATE).all()


def test_related_with_k_beyond_the_other_cases(seed_store: SQLiteStore) -> None:
    matcher = Matcher(seed_store, load_embedders("use-m"))
    case = seed_case(seed_store, KAZAKH_COUP)
    found = related_cases(matcher, seed_store, case.id, 10)
    assert case.id not in [r.case_id for r in found]
    assert len(found) == 3
    assert all(math.isfinite(r.score) for r in found)


def reworded_copy(case: Case) -> Case:
    """The same claim reported again: a reworded title, another date, no id or URL."""
    assert case.published is not None
    return Case(title="Ukrainian servicemen themselves blew up the munitions depot in Vinnitsa",
                summary=case.summary, disproof="Reported again.",
                published=case.published - timedelta(days=90),
                languages=case.languages, countries=case.countries)


def test_near_identical_case_is_the_top_related_and_a_near_duplicate(
        claims_2017: Claims2017, tmp_path: Path) -> None:
    original = claims_2017.case(VINNITSA)
    store = claims_2017.copy_to(tmp_path / "copy.sqlite")
    try:
        index = ClaimIndex.build(store, load_embedders("use-m"))
        # Before: the case has no near-duplicate.
        assert near_duplicates(store, index, [original.id]) == []
        _, copy = store.upsert(reworded_copy(original))
        counting = CountingEmbedder(load_embedder("use-m"))
        index = ClaimIndex.build(store, [counting])
        assert counting.take() == case_units(copy.title, copy.summary)  # the rest came from the cache
        matcher = Matcher(store, [counting], index)
        assert related_cases(matcher, store, original.id, 5)[0].case_id == copy.id
        assert related_cases(matcher, store, copy.id, 5)[0].case_id == original.id
        [(flagged, similar_to, score)] = near_duplicates(store, index, [copy.id])
        assert (flagged, similar_to) == (copy.id, original.id)
        assert NEAR_DUPLICATE <= score <= 1.0001
        # A case with no near-identical claim is not flagged.
        unique = claims_2017.case("The Ukrainian government dispatched a drone")
        assert near_duplicates(store, index, [unique.id]) == []
        # Both new in one import, each the other's closest: one pair, reported once.
        [(first, second, both)] = near_duplicates(store, index, [original.id, copy.id])
        assert (first, second) == (original.id, copy.id)
        assert both == pytest.approx(score, abs=2e-3)  # int8 cosines: each side's query is quantised alone
    finally:
        store.close()


# -- stores without usable text --------------------------------------------------------


def test_matching_an_empty_store(store: SQLiteStore) -> None:
    assert Matcher(store, load_embedders("use-m")).match(COUP) == []


def test_cases_without_indexable_words(store: SQLiteStore) -> None:
    """Titles that BM25 drops entirely (one letter, stop words) still leave a usable index."""
    for title in ("A", "B", "The"):
        store.upsert(Case(title=title, disproof="x"))
    found = Matcher(store, load_embedders("use-m")).match(COUP)
    assert_well_formed(found, 10)
    assert len(found) == 3


def test_claim_index_json_units_round_trip(seed_store: SQLiteStore) -> None:
    ClaimIndex.build(seed_store, load_embedders("use-m"))
    rows = list(seed_store.claim_rows("use-m"))
    assert len(rows) == 4
    for _, title, summary, text_hash, units_json, blob in rows:
        assert text_hash and units_json is not None and blob is not None
        parts = json.loads(units_json)
        assert parts == case_units(title, summary)
        assert len(blob) == len(parts) * 512 * 4



def test_posts_with_emoji_and_stopwords_only(seed_store: SQLiteStore) -> None:
    """Emoji, flags and numbers do not make a real post 'nothing to match'; a text of only
    stopwords is not taken for another language and matched on vectors alone."""
    matcher = Matcher(seed_store, load_embedders("use-m"))
    post = "US behind Kazakhstan coup!!! 🇺🇸🇺🇸🇺🇸🔥🔥🔥🔥 #Kazakhstan #Russia 2022-01-06 11:45 https://t.co/x"
    found = matcher.match(post, limit=1)
    assert "Kazakhstan" in found[0].title
    assert matcher.candidates("the the the and of").trust == 1.0


# -- matching many at once --------------------------------------------------------------


def dynamic_quantize_matmul(vectors: QuantisedVectors, queries: Vectors) -> Vectors:
    """The cosines as onnxruntime's DynamicQuantizeMatMul gives them (what QuantisedVectors
    ran before it took the op's arithmetic apart to multiply many blocks at once)."""
    import onnxruntime  # noqa: PLC0415
    from onnx import TensorProto, helper  # noqa: PLC0415

    graph = helper.make_graph(
        [helper.make_node("DynamicQuantizeMatMul", ["queries", "vectors", "scale", "zero"], ["cosines"],
                          domain="com.microsoft")], "cosines",
        [helper.make_tensor_value_info("queries", TensorProto.FLOAT, ["n", vectors.dim]),
         helper.make_tensor_value_info("vectors", TensorProto.INT8, [vectors.dim, "count"]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, ["count"]),
         helper.make_tensor_value_info("zero", TensorProto.INT8, ["count"])],
        [helper.make_tensor_value_info("cosines", TensorProto.FLOAT, ["n", "count"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    columns = np.ascontiguousarray(vectors.take(np.arange(vectors.count)).T / vectors.scale)
    feeds = {"queries": queries, "vectors": np.rint(columns).astype(np.int8), "scale": vectors.scale,
             "zero": np.zeros(vectors.count, dtype=np.int8)}
    return np.asarray(session.run(["cosines"], feeds)[0], dtype=np.float32)


def test_block_cosines_are_dynamic_quantize_matmul_bit_for_bit(claims_2017: Claims2017) -> None:
    """Both default models, over the 2015-2017 cases' unit vectors: blocks of real sentences
    multiplied together give each block the cosines the op gives it alone, bit for bit."""
    titles = [case.title for case in claims_2017.cases[:300]]
    for embedder in claims_2017.matcher.embedders:
        vectors = claims_2017.matcher.index.vectors[embedder.name]
        queries = embedder.embed([VINNITSA_RU, COUP_ES, RECIPE, *titles], "query")
        blocks = [queries[start:start + size] for start, size in ((0, 1), (1, 7), (8, 32), (40, 100), (140, 1))]
        together = list(vectors.block_cosines(blocks))
        assert len(together) == len(blocks)
        for block, cosines in zip(blocks, together, strict=True):
            assert np.array_equal(cosines, dynamic_quantize_matmul(vectors, block)), embedder.name
            assert np.array_equal(cosines, vectors.cosines(block))


def test_documents_matched_together_get_their_matches_alone(claims_2017: Claims2017) -> None:
    """match_documents (scan's batches) against match_document one by one: the same matches,
    None for a document without words; a transcript keeps its context and its times."""
    from disinfodb.documents import Document, Segment  # noqa: PLC0415

    long_article = " ".join([RECIPE, VINNITSA_EN, *(case.title + "." for case in claims_2017.cases[:80])])
    documents = [Document("en", VINNITSA_EN), Document("ru", VINNITSA_RU), Document("none", "12 34 !!"),
                 Document("recipe", RECIPE), Document("long", long_article),
                 Document("talk", f"{COUP}.\n{COUP_RU}.", segments=(Segment(0, "00:00:01"), Segment(40, "00:00:05")),
                          spoken=True)]
    matcher = claims_2017.matcher
    together = matcher.match_documents(documents, limit=5)
    assert together[2] is None
    assert together[:2] + together[3:] == [matcher.match_document(d, limit=5) for d in documents if d.id != "none"]
    assert together[0] and together[0][0].case_id == claims_2017.case(VINNITSA).id
    assert {pair.at for match in together[5] or [] for pair in match.evidence} <= {"00:00:01", "00:00:05"}
