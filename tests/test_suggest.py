"""Suggested metadata (keywords, countries, article languages) from models trained on a real
store: the 2015-2017 scrape with use-m's vectors (the fast model: the default pair is measured
by bench.suggest), the four seed cases for the faces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CSV_2017, require
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from disinfodb.cli import app
from disinfodb.embed import load_embedders
from disinfodb.errors import InputTooLarge, NothingToMatch
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Matcher
from disinfodb.server.app import create_app
from disinfodb.store import SQLiteStore
from disinfodb.suggest import MAX_TEXT_CHARS, MetadataModel, Suggestion, metadata_model, suggest_metadata
from disinfodb.suggest.metadata import SUGGESTED, case_features

# Written for these tests: the claim of the 2015-2017 file's first row, in other words.
VINNITSA_EN = ("The blasts at the ammunition depot near Vinnitsa were staged by Ukrainian troops "
               "themselves to hide that they had stolen weapons.")
VINNITSA_RU = ("Недавние взрывы на складе боеприпасов в Виннице организовали сами украинские военные, "
               "чтобы скрыть кражу оружия.")


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matcher]:
    store = SQLiteStore(tmp_path_factory.mktemp("suggest") / "cases.sqlite")
    import_records(store, read_file(str(require(CSV_2017))))
    yield Matcher(store, load_embedders("use-m"))
    store.close()


def values(found: list[Suggestion]) -> list[str]:
    return [s.value for s in found]


@pytest.mark.parametrize("text", [VINNITSA_EN, VINNITSA_RU])
def test_a_claim_gets_the_country_and_language_its_cases_carry(matcher: Matcher, text: str) -> None:
    found = suggest_metadata(matcher, text, limit=5)
    assert found.countries[0].value == "Ukraine" and found.countries[0].likely
    assert "ru" in values(found.languages)
    for facet in (found.keywords, found.countries, found.languages):
        assert len(facet) == 5
        scores = [s.score for s in facet]
        assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
        assert [s.likely for s in facet] == sorted((s.likely for s in facet), reverse=True)


def test_held_out_newest_cases_beat_the_most_common_keywords(matcher: Matcher) -> None:
    """Trained on the cases before the newest 300, their keywords are found in the top 5
    more often than the archive's five most common keywords find them."""
    index, terms = matcher.index, matcher.store.term_index()
    features = case_features(index)
    labels = {name: terms.facet_matrix(facet, index.case_pks) for name, facet in SUGGESTED.items()}
    published = terms.published[index.case_pks]
    newest = np.zeros(len(published), dtype=bool)
    newest[np.argsort(published, kind="stable")[-300:]] = True
    model = MetadataModel.train(features[~newest], {n: (v, c[~newest]) for n, (v, c) in labels.items()},
                                published[~newest])
    names, carried = labels["keywords"]
    truth = carried[newest].toarray() > 0
    suggested = model.suggest(features[newest], limit=5)
    found = np.array([[names.index(s.value) for s in row.keywords] for row in suggested])
    ours = np.take_along_axis(truth, found, axis=1).sum() / truth.sum()
    common = np.argsort(-np.asarray(carried[~newest].sum(axis=0)).ravel())[:5]
    baseline = truth[:, common].sum() / truth.sum()
    assert ours > baseline + 0.15, (ours, baseline)


def test_the_models_are_cached_until_the_store_changes(matcher: Matcher, tmp_path: Path) -> None:
    first = metadata_model(matcher)
    assert metadata_model(matcher) is first
    store = matcher.store
    case = store.get(store.case_ids([int(matcher.index.case_pks[0])])[int(matcher.index.case_pks[0])][0])
    store.replace(case.id, case.model_copy(update={"keywords": [*case.keywords, "Suggested in a test"]}),
                  expected_version=case.version)
    retrained = metadata_model(matcher)
    assert retrained is not first
    assert "Suggested in a test" in retrained.models.facets["keywords"].labels
    assert "Suggested in a test" not in first.models.facets["keywords"].labels


@pytest.mark.parametrize(("text", "error"), [("", NothingToMatch), ("  \n ", NothingToMatch),
                                             ("!!! ??? 123", NothingToMatch),
                                             ("word " * (MAX_TEXT_CHARS // 5 + 1), InputTooLarge)])
def test_texts_without_a_claim_are_refused(matcher: Matcher, text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        suggest_metadata(matcher, text)


# -- the faces, on the four seed cases ----------------------------------------------------------

@pytest.fixture(scope="module")
def seed_db(tmp_path_factory: pytest.TempPathFactory, seed_path: Path) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.sqlite"
    store = SQLiteStore(path)
    import_records(store, read_file(str(seed_path)))
    store.close()
    return path


def test_cli_json_and_table(seed_db: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None, "DISINFODB_MODEL": None})
    claim = "The unrest in Kazakhstan is a colour revolution staged by the US against Russia."
    result = runner.invoke(app, ["suggest", "--db", str(seed_db), "--model", "use-m", "--json", "-n", "3", "-"],
                           input=claim)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == {"keywords", "countries", "languages"}
    assert [len(found[name]) for name in ("keywords", "countries", "languages")] == [3, 3, 1]  # the seeds know 1
    assert all(set(s) == {"value", "score", "likely"} for facet in found.values() for s in facet)
    assert "Kazakhstan" in [s["value"] for s in found["countries"]]
    table = runner.invoke(app, ["suggest", "--db", str(seed_db), "--model", "use-m", claim])
    assert table.exit_code == 0 and "countries" in table.stdout and "Kazakhstan" in table.stdout
    empty = runner.invoke(app, ["suggest", "--db", str(seed_db), "--model", "use-m", "   "])
    assert empty.exit_code == 1 and "no words" in empty.stderr


def test_api_shape_and_refusals(seed_db: Path) -> None:
    store = SQLiteStore(seed_db)
    with TestClient(create_app(store, "use-m"), raise_server_exceptions=False) as client:
        answer = client.post("/api/suggest-metadata", json={"text": "NATO is preparing a coup in Kazakhstan",
                                                            "limit": 2})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"keywords", "countries", "languages"}
        assert [len(body[name]) for name in ("keywords", "countries", "languages")] == [2, 2, 1]
        assert all(set(s) == {"value", "score", "likely"} for facet in body.values() for s in facet)
        for payload, rule in [({"text": ""}, "at least 1 character"),
                              ({"text": "x" * (MAX_TEXT_CHARS + 1)}, f"at most {MAX_TEXT_CHARS} characters"),
                              ({"text": 42}, "valid string"), ({}, "Field required"),
                              ({"text": "a claim", "limit": "5"}, "valid integer"),
                              ({"text": "a claim", "limit": 0}, "greater than or equal to 1"),
                              ({"text": "!!! ???"}, "no words")]:
            refused = client.post("/api/suggest-metadata", json=payload)
            assert refused.status_code == 422, (payload, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert rule in refused.json()["detail"], (payload, refused.json())
        schema = client.get("/openapi.json").json()
        operation = schema["paths"]["/api/suggest-metadata"]["post"]
        assert {"200", "422", "429"} <= set(operation["responses"])
    store.close()
