"""A case's narratives on every face: show, the API, the exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Claims2017
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from disinfodb.cli import app
from disinfodb.ingest.base import Record
from disinfodb.ingest.pipeline import import_records
from disinfodb.narratives import NarrativeBook, build_narratives
from disinfodb.server.app import create_app
from disinfodb.store import Outcome, SQLStore, open_store
from disinfodb.store.backup import backup


@pytest.fixture(scope="module")
def clustered(claims_2017: Claims2017, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLStore]:
    """The 2015-2017 cases with their narratives built (read only: tests that write copy it)."""
    store = claims_2017.copy_to(tmp_path_factory.mktemp("related") / "clustered.sqlite")
    build_narratives(store, "use-m")
    yield store
    store.close()


def member_and_stranger(store: SQLStore) -> tuple[str, str, str]:
    """A case in a narrative, that narrative's id, and a case in none."""
    book = NarrativeBook(store)
    narrative, members = book.all()[0], book.of_cases()
    stranger = next(c.id for c in store.iter_cases() if c.id not in members)
    return book.members(narrative.id)[0], narrative.id, stranger


# -- one truth about membership ---------------------------------------------------------


def test_a_case_carries_its_narrative_on_every_face(clustered: SQLStore) -> None:
    member, narrative_id, stranger = member_and_stranger(clustered)
    assert clustered.get(member).narratives == [narrative_id]
    assert clustered.get(stranger).narratives == []
    every = {case.id: case.narratives for case in clustered.iter_cases()}
    assert every == {cid: [nid] for cid, nid in NarrativeBook(clustered).of_cases().items()} | {
        cid: [] for cid in every if cid not in NarrativeBook(clustered).of_cases()}
    shown = CliRunner().invoke(app, ["show", member, "--db", clustered.location, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["narratives"] == [narrative_id]
    with TestClient(create_app(clustered, "use-m")) as client:
        assert client.get(f"/api/cases/{member}").json()["narratives"] == [narrative_id]
        lines = client.get("/api/export", params={"format": "jsonl"}).text.splitlines()
        exported = {doc["id"]: doc["narratives"] for doc in map(json.loads, lines)}
        assert exported == every
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
