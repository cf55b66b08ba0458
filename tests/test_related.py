"""A case's narratives on every face, and related cases: one entry per claim, each with its reasons."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import Claims2017
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_support import parse

from disinfodb.cases import Case
from disinfodb.cli import app
from disinfodb.embed import load_embedders
from disinfodb.ingest.base import Record
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import ClaimIndex, Matcher
from disinfodb.narratives import NarrativeBook, build_narratives
from disinfodb.rebuttals import shared_rebuttals
from disinfodb.related import SIMILAR_CLAIM, Reason, Weights, related_cases, title_key
from disinfodb.server.app import create_app
from disinfodb.store import Outcome, SQLStore, open_store
from disinfodb.store.backup import backup
from disinfodb.vocab import fold


@pytest.fixture(scope="module")
def clustered(claims_2017: Claims2017, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLStore]:
    """The 2015-2017 cases with their narratives built (read only: tests that write copy it)."""
    store = claims_2017.copy_to(tmp_path_factory.mktemp("related") / "clustered.sqlite")
    build_narratives(store, "use-m")
    # Every case is placed by a build; one recorded after it is in no narrative until the next.
    store.upsert(Case(title="Recorded after the narratives were built", summary="A claim nobody clustered yet.",
                      published=date(2017, 12, 1)))
    yield store
    store.close()


def member_and_stranger(store: SQLStore) -> tuple[str, str, str]:
    """A case with keywords in a narrative (its most central one if it has keywords), that
    narrative's id, and a case in none (recorded after the build)."""
    book = NarrativeBook(store)
    narrative, members = book.all()[0], book.of_cases()
    stranger = next(c.id for c in store.iter_cases() if c.id not in members)
    central = [narrative.representative] if narrative.representative else []
    member = next(cid for cid in [*central, *book.members(narrative.id)] if store.get(cid).keywords)
    return member, narrative.id, stranger


# -- one truth about membership ---------------------------------------------------------


def test_a_case_carries_its_narrative_on_every_face(clustered: SQLStore) -> None:
    member, narrative_id, stranger = member_and_stranger(clustered)
    assert clustered.get(member).narratives == [narrative_id]
    assert clustered.get(stranger).narratives == []
    every = {case.id: case.narratives for case in clustered.iter_cases()}
    memberships = NarrativeBook(clustered).of_cases()
    assert every == {cid: [memberships[cid]] if cid in memberships else [] for cid in every}
    shown = CliRunner().invoke(app, ["show", member, "--db", clustered.location, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["narratives"] == [narrative_id]
    with TestClient(create_app(clustered, "use-m")) as client:
        assert client.get(f"/api/cases/{member}").json()["narratives"] == [narrative_id]
        lines = client.get("/api/export", params={"format": "jsonl"}).text.splitlines()
        exported = {doc["id"]: doc["narratives"] for doc in map(json.loads, lines)}
        assert exported == every
        day = clustered.get(member).published
        assert day is not None
        lines = client.get("/api/export", params={"since": day.isoformat(), "until": day.isoformat()}).text.splitlines()
        filtered = {doc["id"]: doc["narratives"] for doc in map(json.loads, lines)}  # the store's filtered reading
        assert member in filtered and filtered == {cid: every[cid] for cid in filtered}
        rows = csv.DictReader(io.StringIO(client.get("/api/export", params={"format": "csv"}).text))
        assert {row["id"]: row["narratives"] for row in rows}[member] == narrative_id
        reviews = client.get("/api/export", params={"format": "claimreview"}).json()
        review = next(r for r in reviews if r["identifier"] == member)
        extra = {p["name"]: p["value"] for p in review["additionalProperty"]}
        assert extra["disinfodb:narratives"] == [narrative_id]


def test_imported_narratives_never_fight_the_computed_ones(clustered: SQLStore, tmp_path: Path) -> None:
    backup(clustered, tmp_path / "copy.sqlite")
    store = open_store(str(tmp_path / "copy.sqlite"))
    try:
        member, narrative_id, stranger = member_and_stranger(store)
        exported = store.get(member)
        # Re-importing an export (its narrative ids included) is no change.
        assert store.upsert(exported)[0] is Outcome.UNCHANGED
        # An imported id is not kept: the case's narratives stay the computed ones.
        claimed = exported.model_copy(update={"narratives": ["n999"], "summary": exported.summary + " More."})
        outcome, stored = store.upsert(claimed)
        assert outcome is Outcome.UPDATED and stored.narratives == [narrative_id]
        assert store.get(member).narratives == [narrative_id]
        report = import_records(store, [Record("test", 1, case=store.get(stranger).model_copy(
            update={"narratives": ["n1"], "summary": "Edited."}))])
        assert report.updated == 1 and store.get(stranger).narratives == []
        # The stored document never holds a membership, so a merge shows at once.
        other = next(n.id for n in NarrativeBook(store).all() if n.id != narrative_id)
        NarrativeBook(store).merge(narrative_id, other)
        assert store.get(member).narratives == [other]
        assert all("narratives" not in json.loads(doc) for (doc,) in store.fetch_all("SELECT doc FROM cases"))
    finally:
        store.close()


# -- related cases ----------------------------------------------------------------------


def matcher_of(store: SQLStore) -> Matcher:
    embedders = load_embedders("use-m")
    return Matcher(store, embedders, ClaimIndex.build(store, embedders))


def test_each_entry_says_truly_why_it_is_related(clustered: SQLStore) -> None:
    matcher, book = matcher_of(clustered), NarrativeBook(clustered)
    groups = book.of_cases()
    member, narrative_id, _ = member_and_stranger(clustered)
    case = clustered.get(member)
    found = related_cases(matcher, clustered, member, 20)
    assert len(found) == 20 and all(entry.reasons for entry in found)
    for entry in found:
        other = clustered.get(entry.case_id)
        shared = {fold(k) for k in case.keywords} & {fold(k) for k in other.keywords}
        assert {fold(k) for k in entry.keywords} == shared
        assert (Reason.KEYWORDS in entry.reasons) == bool(shared)
        assert (Reason.NARRATIVE in entry.reasons) == (groups.get(entry.case_id) == narrative_id)
        assert entry.narrative == (narrative_id if Reason.NARRATIVE in entry.reasons else None)
        assert entry.similarity < SIMILAR_CLAIM or Reason.CLAIM in entry.reasons
    assert any(Reason.KEYWORDS in entry.reasons for entry in found)
    assert any(Reason.NARRATIVE in entry.reasons for entry in found)
    # Cases that share keywords and the narrative come before those that share neither.
    plain = related_cases(matcher, clustered, member, 20, Weights(0, 0, 0, 0))
    assert sum(bool(e.keywords) for e in found[:5]) >= sum(bool(e.keywords) for e in plain[:5])
    # A shared rebuttal paragraph is a reason, found whatever the claims say.
    group = next(g for g in shared_rebuttals(clustered) if 3 <= g.count <= 10)
    first, *partners = group.case_ids
    rebutted = related_cases(matcher, clustered, first, len(partners), Weights(0, 0, 0, rebuttal=2.0))
    listed = {e.case_id for e in rebutted} | {c.case_id for e in rebutted for c in e.also}
    assert set(partners) <= listed
    assert all(Reason.REBUTTAL in e.reasons for e in rebutted)


def test_near_copies_are_one_entry_also_recorded_as(clustered: SQLStore, tmp_path: Path) -> None:
    backup(clustered, tmp_path / "copy.sqlite")
    store = open_store(str(tmp_path / "copy.sqlite"))
    try:
        seed = store.get(member_and_stranger(store)[0])
        before = related_cases(matcher_of(store), store, seed.id, 8)
        original = store.get(before[0].case_id)
        assert original.published is not None
        # The other scrape's record of the same case: its title with other quotes and a full
        # stop, no summary (so its claim vector is its title's alone), another date.
        _, copy = store.upsert(Case(title=f"“{original.title}”.", published=original.published - timedelta(days=3),
                                    keywords=original.keywords, countries=original.countries))
        after = related_cases(matcher_of(store), store, seed.id, 8)
        assert len(after) == 8
        keys = [title_key(entry.title) for entry in after]
        assert len(set(keys)) == len(keys)
        [entry] = [e for e in after if original.id in {e.case_id, *(c.case_id for c in e.also)}]
        assert {entry.case_id, *(c.case_id for c in entry.also)} >= {original.id, copy.id}
        assert copy.id not in {e.case_id for e in after if e is not entry}
        text = CliRunner().invoke(app, ["related", seed.id, "--db", store.location, "-n", "8"])
        assert text.exit_code == 0 and "also recorded as" in text.stdout
    finally:
        store.close()


def test_api_and_case_page_show_the_reasons_and_the_narrative(clustered: SQLStore) -> None:
    member, narrative_id, _ = member_and_stranger(clustered)
    app_ = create_app(clustered, "use-m")
    with TestClient(app_) as client:
        builder = app_.state.service.warm_up()
        if builder is not None:
            builder.join()
        api = client.get(f"/api/cases/{member}/related", params={"limit": 8}).json()
        assert len(api) == 8 and all(entry["reasons"] for entry in api)
        assert {"case_id", "title", "score", "similarity", "reasons", "keywords", "narrative", "also"} == set(api[0])
        page = parse(client.get(f"/cases/{member}").text)
        section = page.find("section", "related")
        items = section.find_all("li")
        assert [li.find("a").get("href").rsplit("/", 1)[1] for li in items] == [entry["case_id"] for entry in api]
        said = {"narrative": "same narrative", "rebuttal": "shared rebuttal", "claim": "similar claim"}
        for li, entry in zip(items, api, strict=True):
            reasons = [span.text for span in li.find_all("span", "reason")]
            assert len(reasons) == len(entry["reasons"])
            for text, reason in zip(reasons, entry["reasons"], strict=True):
                assert text.startswith(said.get(reason, "shared keywords: " + ", ".join(entry["keywords"])))
        link = section.find("p", "narrative-link")
        assert "See other examples of similar disinformation narratives in our database" in link.text
        assert link.find("a").get("href") == f"/narratives/{narrative_id}"
        ukrainian = parse(client.get(f"/cases/{member}", params={"lang": "uk"}).text)
        assert "Інші приклади схожих дезінформаційних наративів" in ukrainian.find("p", "narrative-link").text
