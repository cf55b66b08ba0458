"""Broad text queries ranked by the in-memory ranking index (disinfodb.store.ranking): the
same pages and scores as FTS5's bm25, only matches, filters kept, pages that continue each
other, and a new case ranked as soon as it is committed. Real SQLite files (the real cases),
and the PostgreSQL store for what both engines promise."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import RealData

from disinfodb.cases import Case
from disinfodb.search import SearchQuery
from disinfodb.store import SQLiteStore, SQLStore
from disinfodb.store.ranking import RankIndex
from disinfodb.store.snapshots import BackgroundSnapshot
from disinfodb.store.trail import trail_end

EVERY_MATCH = 0  # rank_index_from: every relevance page through the index
NEVER = 10**9  # rank_index_from: FTS5's bm25 only (what searches did before the index)
BUILD_SECONDS = 60.0


def sqlite_of(store: SQLStore) -> SQLiteStore:
    assert isinstance(store, SQLiteStore)
    return store


def current_index(store: SQLiteStore) -> RankIndex:
    index = store.rank_index(wait_seconds=BUILD_SECONDS)
    assert index is not None, "the ranking index was not built"
    return index


@pytest.fixture
def ranked_real(real_data: RealData, monkeypatch: pytest.MonkeyPatch) -> Iterator[SQLiteStore]:
    """The real cases' store with its ranking index current and used for every text page."""
    store = sqlite_of(real_data.store)
    current_index(store)
    monkeypatch.setattr(store, "rank_index_from", EVERY_MATCH)
    yield store


def fts5_page(store: SQLiteStore, query: SearchQuery, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    with monkeypatch.context() as patch:
        patch.setattr(store, "rank_index_from", NEVER)
        return [(hit.id, hit.score or 0.0) for hit in store.search(query).hits]


def assert_same_page(ours: list[tuple[str, float | None]], theirs: list[tuple[str, float]]) -> None:
    """The same cases in the same order with the same scores (to rounding)."""
    assert [case_id for case_id, _ in ours] == [case_id for case_id, _ in theirs]
    assert [score for _, score in ours] == pytest.approx([score for _, score in theirs], rel=1e-12)


BROAD = ["Russia", "Ukraine", "Russ*", "west*", "EU OR NATO", "Ukraine -Russia", "NATO Ukraine", "Erdogan",
         "the"]


@pytest.mark.parametrize("text", BROAD)
@pytest.mark.parametrize("page", [1, 3])
def test_pages_and_scores_are_fts5s(ranked_real: SQLiteStore, monkeypatch: pytest.MonkeyPatch, text: str,
                                    page: int) -> None:
    query = SearchQuery(text=text, page=page, per_page=25)
    matches = ranked_real.text_matches(text)
    assert matches is not None and len(matches) > 50  # page 3 has hits
    assert current_index(ranked_real).page(text, matches, 0, 1) is not None  # ranked by the index
    assert_same_page([(hit.id, hit.score) for hit in ranked_real.search(query).hits],
                     fts5_page(ranked_real, query, monkeypatch))


@pytest.mark.parametrize("filters", [{"countries": ("Ukraine",)}, {"languages": ("de",)},
                                     {"since": date(2019, 1, 1), "until": date(2019, 12, 31)}])
def test_filters_are_kept(ranked_real: SQLiteStore, monkeypatch: pytest.MonkeyPatch,
                          filters: dict[str, object]) -> None:
    query = SearchQuery(text="Russia", per_page=50, **filters)  # type: ignore[arg-type]
    results = ranked_real.search(query)
    assert results.total == len(ranked_real.term_index().select(query, within=ranked_real.text_matches("Russia")))
    assert_same_page([(hit.id, hit.score) for hit in results.hits], fts5_page(ranked_real, query, monkeypatch))
    for hit in results.hits:
        if "countries" in filters:
            assert "Ukraine" in hit.countries
        if "since" in filters:
            assert hit.published is not None and hit.published.year == 2019


def test_hits_are_matches_best_first_and_pages_continue(ranked_real: SQLiteStore) -> None:
    text = "Russ*"
    matches = ranked_real.text_matches(text)
    assert matches is not None and len(matches) > 2_000
    ids_of_matches = {cid for cid, _ in ranked_real.case_ids(matches.tolist()).values()}
    pages = [ranked_real.search(SearchQuery(text=text, page=page, per_page=20)).hits for page in (1, 2, 3)]
    seen = [hit.id for hits in pages for hit in hits]
    assert len(seen) == len(set(seen)) == 60
    assert seen == [hit.id for hit in ranked_real.search(SearchQuery(text=text, per_page=60)).hits]
    assert set(seen) <= ids_of_matches
    scores = [hit.score for hits in pages for hit in hits]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_phrases_and_prefixes_match_exactly(ranked_real: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for text in ['"Russian propaganda"', "propagand*", "covid-19", '"the West" Russ*']:
        query = SearchQuery(text=text, per_page=30)
        ours = ranked_real.search(query)
        fts = ranked_real.text_matches(text)
        assert fts is not None and ours.total == len(fts)
        assert_same_page([(hit.id, hit.score) for hit in ours.hits], fts5_page(ranked_real, query, monkeypatch))
    # A phrase of several tokens is FTS5's to rank (it counts the phrase, not its words).
    phrase = '"Russian propaganda"'
    assert current_index(ranked_real).page(phrase, ranked_real.text_matches(phrase), 0, 10) is None  # type: ignore[arg-type]


def a_case(title: str) -> Case:
    return Case(title=title, summary="Kazakhstan, Kazakhstan and again Kazakhstan.",
                url=f"https://example.org/report/{abs(hash(title))}/")


def use_index(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> SQLiteStore | None:
    """The SQLite store with its index used for every text page (None on PostgreSQL)."""
    if not isinstance(store, SQLiteStore):
        return None
    monkeypatch.setattr(store, "rank_index_from", EVERY_MATCH)
    current_index(store)
    return store


def test_a_new_case_is_ranked_once_committed(seed_store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite = use_index(seed_store, monkeypatch)
    before = seed_store.search(SearchQuery(text="Kazakhstan"))
    assert before.total == 3
    new = seed_store.create(a_case("Kazakhstan is Kazakhstan"))
    after = seed_store.search(SearchQuery(text="Kazakhstan"))  # at once: the stale index is not used
    assert after.total == 4 and after.hits[0].id == new.id
    if sqlite is None:
        return
    index = current_index(sqlite)
    matches = sqlite.text_matches("Kazakhstan")
    assert matches is not None
    page = index.page("Kazakhstan", matches, 0, 1)
    assert page is not None and [pk for pk, _ in page] == [sqlite.pk_of(new.id)]
    assert [hit.id for hit in seed_store.search(SearchQuery(text="Kazakhstan")).hits] == [hit.id for hit in after.hits]


def test_siblings_share_one_index(seed_store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store = use_index(seed_store, monkeypatch)
    if store is None:
        pytest.skip("PostgreSQL ranks with ts_rank_cd: no ranking index")
    sibling = sqlite_of(store.sibling())
    try:
        # The sibling's first look finds the index older than what it knows: it builds one,
        # and that one is current for both (one index for all of a server's readers).
        assert current_index(sibling) is store.rank_index()
    finally:
        sibling.close()


def test_a_write_in_progress_is_ranked_inside_its_transaction(seed_store: SQLStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    use_index(seed_store, monkeypatch)
    with seed_store.transaction():
        new = seed_store.create(a_case("Kazakhstan is Kazakhstan"))
        assert seed_store.search(SearchQuery(text="Kazakhstan")).hits[0].id == new.id


def postings(index: RankIndex) -> dict[str, list[tuple[int, float]]]:
    """Each term's (case, weighted count) postings; terms no case holds any more left out
    (a caught-up index keeps their empty rows, FTS5's vocabulary drops them)."""
    return {term: list(zip(index.cases[index.starts[i]:index.starts[i + 1]].tolist(),
                           index.counts[index.starts[i]:index.starts[i + 1]].tolist(), strict=True))
            for i, term in enumerate(index.terms) if index.starts[i + 1] > index.starts[i]}


def test_the_index_catches_up_with_writes_as_a_full_read_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """Another connection (another server process) writes; the reader's stale index is
    brought up to date from the audit trail on its next search, not rebuilt: the same
    postings, lengths and statistics as FTS5's index read afresh, and FTS5's pages."""
    rng = random.Random(5)
    words = ["Kazakhstan", "Ukraine", "NATO", "Skripal", "biolabs", "Erdoğan's", "élection", "Москва", "zzyzx"]

    def text() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 12)))

    writer = SQLiteStore(tmp_path / "cases.sqlite")
    for n in range(30):
        writer.create(Case(title=f"{text()} {n}", summary=text(), disproof=text(), keywords=[rng.choice(words)]))
    reader = SQLiteStore(writer.path)
    monkeypatch.setattr(reader, "rank_index_from", EVERY_MATCH)
    built = current_index(reader)
    monkeypatch.setattr(BackgroundSnapshot, "_start", lambda self, load: pytest.fail("rebuilt in the background"))
    for step in range(25):
        ids = [case.id for case in writer.iter_cases()]
        kind = rng.random()
        if kind < 0.3:
            writer.create(Case(title=f"{text()} new {step} unseen{step}", summary=text()))
        elif kind < 0.8:
            case = writer.get(rng.choice(ids))
            writer.replace(case.id, case.model_copy(update={  # a word no case had, and others taken out
                "summary": f"{text()} again{step}", "keywords": [rng.choice(words)]}))
        else:
            writer.delete(rng.choice(ids))
        for query in ("Kazakhstan", "Ukraine OR NATO", "bio*", "unseen*"):
            ours = reader.search(SearchQuery(text=query, per_page=50))
            assert_same_page([(hit.id, hit.score) for hit in ours.hits],
                             fts5_page(reader, SearchQuery(text=query, per_page=50), monkeypatch))
    caught_up = reader._shared.ranking.latest()
    assert caught_up is not None and caught_up is not built and caught_up.trail == trail_end(reader.fetch_all)
    db = sqlite3.connect(writer.path)
    try:
        fresh = RankIndex.load(db)
    finally:
        db.close()
    assert postings(caught_up) == postings(fresh)
    assert (caught_up.rows, caught_up.mean_length, caught_up.case_pks.tolist()) == (
        fresh.rows, fresh.mean_length, fresh.case_pks.tolist())
    size = max(len(caught_up.lengths), len(fresh.lengths))
    assert np.array_equal(np.pad(caught_up.lengths, (0, size - len(caught_up.lengths))),
                          np.pad(fresh.lengths, (0, size - len(fresh.lengths))))
    reader.close()
    writer.close()
