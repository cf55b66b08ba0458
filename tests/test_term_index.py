"""The term index caught up from the audit trail equals a full reload, after any writes.

Two connections to one database stand for two server processes: the reader's index was
loaded before the writer's changes and catches up from the trail. Each step compares it
with an index loaded from scratch in the same state: the same cases, dates, links in both
directions and facet values, and the same answers to filters and facet counts.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest

from disinfodb.cases import Case
from disinfodb.facets import FACET_NAMES
from disinfodb.search import SearchQuery
from disinfodb.store import SQLStore, open_store, trail
from disinfodb.store.term_index import TermIndex

KEYWORDS = ("NATO", "Ukraine", "Skripal", "Biolabs", "Elections", "Migration")
COUNTRIES = ("Ukraine", "Germany", "Poland", "Georgia", "Lithuania")
LANGUAGES = ("en", "ru", "de", "pl")


def random_case(rng: random.Random, n: int) -> Case:
    keywords = rng.sample(KEYWORDS, rng.randrange(4))
    if rng.random() < 0.3:  # a term only this case carries: dropped with it, its id free again
        keywords.append(f"Rare {n % 7}")
    return Case(title=f"Claim number {n} {rng.random()}", summary=f"Summary {n}.",
                published=date(2015, 1, 1) + timedelta(days=rng.randrange(3000)) if rng.random() < 0.9 else None,
                keywords=keywords, countries=rng.sample(COUNTRIES, rng.randrange(3)),
                languages=rng.sample(LANGUAGES, 1 + rng.randrange(2)))


def term_key(index: TermIndex, term_id: int) -> tuple[str, str, str]:
    return FACET_NAMES[int(index.term_facet[term_id])], index.keys[term_id], index.labels[term_id]


def described(index: TermIndex) -> dict[str, object]:
    """What an index says, independent of array sizes and dropped terms' leftovers."""
    pks = index.case_pks.tolist()
    indptr, values = index.terms_of_case
    terms_of = {pk: sorted(term_key(index, int(t)) for t in values[indptr[pk]:indptr[pk + 1]]) for pk in pks}
    term_indptr, term_values = index.cases_of_term
    cases_of = {term_key(index, t): term_values[term_indptr[t]:term_indptr[t + 1]].tolist()
                for t in range(len(term_indptr) - 1) if term_indptr[t + 1] > term_indptr[t]}
    return {"pks": pks, "published": index.published[pks].tolist(), "terms_of": terms_of, "cases_of": cases_of,
            "facets": index.facet_counts(index.case_pks, 50)}


def check_agrees(reader: SQLStore, fresh: SQLStore) -> None:
    with fresh.snapshot():
        loaded = TermIndex.load(fresh)
    caught_up = reader.term_index()
    assert described(caught_up) == described(loaded)
    for query in [SearchQuery(keywords=("NATO",), since=date(2016, 1, 1)), SearchQuery(countries=("Ukraine",)),
                  SearchQuery(languages=("ru",), until=date(2019, 1, 1)), SearchQuery(keywords=("Rare 3",))]:
        assert caught_up.select(query).tolist() == loaded.select(query).tolist(), query


def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The sources of every full load from now on."""
    sources: list[object] = []
    real_load = TermIndex.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[TermIndex], source: object) -> TermIndex:
        sources.append(source)
        return real_load(cls, source)  # type: ignore[no-any-return]

    monkeypatch.setattr(TermIndex, "load", classmethod(load))
    return sources


@pytest.mark.parametrize("seed", [1, 2])
def test_catching_up_equals_reloading(store: SQLStore, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    writer = store
    for n in range(20):
        writer.upsert(random_case(rng, n))
    reader, fresh = open_store(writer.location), open_store(writer.location)
    try:
        before = reader.term_index()
        loads = count_loads(monkeypatch)
        for step in range(40):
            ids = [case.id for case in writer.iter_cases()]
            action = rng.random()
            if action < 0.4 or not ids:
                writer.upsert(random_case(rng, 100 + step))
            elif action < 0.75:
                edited = writer.get(rng.choice(ids))
                changed = random_case(rng, 200 + step)
                writer.replace(edited.id, edited.model_copy(update={
                    "keywords": changed.keywords, "countries": changed.countries, "published": changed.published}))
            else:
                writer.delete(rng.choice(ids))
            if step % 3 == 0:  # several entries at once, as a busy server's reader sees them
                check_agrees(reader, fresh)
        check_agrees(reader, fresh)
        assert reader.term_index().trail != before.trail
        assert reader not in loads  # caught up every time, never reloaded
    finally:
        reader.close()
        fresh.close()


def test_a_dropped_terms_id_given_again_is_no_longer_its_filter(store: SQLStore) -> None:
    """SQLite gives the largest id again once its term is dropped: a filter on the old
    value must not find the cases of the new one."""
    store.upsert(Case(title="Old claim", keywords=["Only old"]))
    reader = open_store(store.location)
    try:
        reader.term_index()
        store.delete(next(store.iter_cases()).id)
        store.upsert(Case(title="New claim", keywords=["Only new"]))
        index = reader.term_index()
        assert index.select(SearchQuery(keywords=("Only old",))).tolist() == []
        assert len(index.select(SearchQuery(keywords=("Only new",)))) == 1
        assert [v.label for v in index.facet_counts(index.case_pks, 10)["keyword"]] == ["Only new"]
    finally:
        reader.close()


def test_a_write_without_trail_entries_keeps_the_index(store: SQLStore) -> None:
    store.upsert(Case(title="A claim", keywords=["NATO"]))
    reader = open_store(store.location)
    try:
        first = reader.term_index()
        store.save_embeddings("some-model", [(store.pk_of(next(store.iter_cases()).id), "hash", "[]", b"")])
        assert reader.term_index() is first  # nothing a search reads changed
    finally:
        reader.close()


def test_a_trail_that_lost_the_index_entry_is_a_full_reload(store: SQLStore, tmp_path: object) -> None:
    """A restore replaces the trail: the entry the index was read at is gone, so the
    index reloads (a catch-up would trust entries of another history)."""
    store.upsert(Case(title="A claim", keywords=["NATO"]))
    index = store.term_index()
    with store.transaction():
        store._db.execute("DELETE FROM audit")
        store._db.execute("INSERT INTO audit (case_id, action, version, actor, at) VALUES"
                          " ('other', 'create', 1, 'x', '2020-01-01')")
    with store.snapshot():
        again = index.caught_up(store)
        assert described(again) == described(TermIndex.load(store))
    assert again.trail.case_id == "other"


def test_many_entries_reload_at_once(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.upsert(Case(title="First claim"))
    index = store.term_index()
    monkeypatch.setattr(trail, "CATCH_UP_LIMIT", 2)
    loads = count_loads(monkeypatch)
    for n in range(3):
        store.upsert(Case(title=f"Claim {n}", keywords=["NATO"]))
    with store.snapshot():
        caught_up = index.caught_up(store)
    assert loads == [store]
    assert np.array_equal(caught_up.case_pks, np.array([store.pk_of(c.id) for c in store.iter_cases()]))
