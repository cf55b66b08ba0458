"""The JSON API over a real SQLite store with the seed cases, through Starlette's TestClient."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from disinfodb.cases import Case
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Matcher, open_matcher
from disinfodb.server import matchers as matchers_module
from disinfodb.server.app import create_app
from disinfodb.server.service import Settings
from disinfodb.store import SQLiteStore

KAZAKH_COUP = "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations"
COUP_EN = "What happened in Kazakhstan is yet another attempt at a colour revolution."


@pytest.fixture
def client(tmp_path: Path, seed_path: Path) -> Iterator[TestClient]:
    store = SQLiteStore(tmp_path / "api.sqlite")
    import_records(store, read_file(str(seed_path)))
    with TestClient(create_app(store), raise_server_exceptions=False) as test_client:  # the default models
        yield test_client
    store.close()


def case_id(client: TestClient, title: str) -> str:
    found = client.get("/api/cases", params={"q": f'"{title.split()[2]}"', "per_page": 50}).json()["results"]
    return str(next(hit["id"] for hit in found if hit["title"] == title))


def assert_problem(response: object, status: int, *words: str) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["detail"]
    for word in words:
        assert word in str(body["detail"])
    assert "Traceback" not in str(body)
    return body


def test_search_with_facets_and_filters(client: TestClient) -> None:
    body = client.get("/api/cases", params={"q": "colour revolution"}).json()
    assert body["total"] == 2 and {h["title"] for h in body["results"]} >= {KAZAKH_COUP}
    assert any("<mark>" in h["snippet"] for h in body["results"])
    assert set(body["facets"]) == {"keyword", "country", "language", "outlet", "issue", "year"}
    kazakhstan = client.get("/api/cases", params={"country": "Kazakhstan"}).json()
    assert kazakhstan["total"] == 1 and kazakhstan["results"][0]["issue"] == 270
    assert {"value": "kazakhstan", "label": "Kazakhstan", "count": 1} in kazakhstan["facets"]["country"]
    assert client.get("/api/cases", params={"since": "2023-01-01"}).json()["total"] == 0
    paged = client.get("/api/cases", params={"per_page": 2, "page": 2, "sort": "date"}).json()
    assert (paged["total"], len(paged["results"]), paged["page"]) == (4, 2, 2)


def test_bad_requests_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/api/cases", params={"q": 'foo "bar'}), 400, "unclosed quote")
    body = assert_problem(client.get("/api/cases", params={"per_page": 0}), 422, "per_page")
    assert body["errors"]
    assert_problem(client.get("/api/cases", params={"since": "2020-13-01"}), 422, "since")
    assert_problem(client.get("/api/cases", params={"language": "Klingonese"}), 400, "Klingonese")
    assert_problem(client.get("/api/cases/no-such-case"), 404, "no-such-case")
    assert_problem(client.get("/api/cases/no-such-case/history"), 404)
    assert_problem(client.post("/api/match", content=b"{not json", headers={"content-type": "application/json"}),
                   422)
    assert_problem(client.post("/api/match", json={"text": 5}), 422, "text")
    assert_problem(client.post("/api/match", json={"text": "   "}), 422, "no words")
    assert_problem(client.post("/api/match", json={"text": "x" * (Settings().max_match_chars + 1)}), 413, "characters")


def test_case_and_history(client: TestClient) -> None:
    identifier = case_id(client, KAZAKH_COUP)
    case = client.get(f"/api/cases/{identifier}").json()
    assert case["title"] == KAZAKH_COUP and case["version"] == 1 and case["summary"].startswith("The events")
    history = client.get(f"/api/cases/{identifier}/history").json()
    assert [(h["action"], h["version"], h["previous"]) for h in history] == [("create", 1, None)]


def test_match_and_related(client: TestClient) -> None:
    body = client.post("/api/match", json={"text": COUP_EN, "limit": 3}).json()
    best = body["matches"][0]
    assert best["title"] == KAZAKH_COUP and best["label"] in ("match", "related")
    assert all(m["label"] != "match" for m in body["matches"][1:])
    assert body["index"] == {"complete": True, "cases": 4, "total": 4, "embedding": None}
    assert best["evidence"][0]["input_sentence"] in COUP_EN
    assert [m["score"] for m in body["matches"]] == sorted((m["score"] for m in body["matches"]), reverse=True)
    none_after = client.post("/api/match", json={"text": COUP_EN, "until": "2000-01-01"}).json()
    assert none_after["matches"] == []  # the only dated case is from 2022; undated ones fail a date filter
    identifier = case_id(client, KAZAKH_COUP)
    related = client.get(f"/api/cases/{identifier}/related", params={"limit": 3}).json()
    assert len(related) == 3 and identifier not in {r["case_id"] for r in related}
    assert_problem(client.get("/api/cases/nope/related"), 404, "nope")


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {"/api/cases", "/api/cases/{case_id}", "/api/cases/{case_id}/history",
                                    "/api/cases/{case_id}/related", "/api/match", "/api/stats"}
    assert client.get("/docs").status_code == 200
    stats = client.get("/api/stats").json()
    assert stats["cases"] == 4 and "path" not in stats


def test_matcher_follows_writes_by_another_process(tmp_path: Path, seed_path: Path) -> None:
    """Deleting the newest case and adding another reuses its row id: the API must not
    answer with the old case's vectors (nor fail) after a write it did not make."""
    store = SQLiteStore(tmp_path / "shared.sqlite")
    import_records(store, read_file(str(seed_path)))
    with TestClient(create_app(store, "use-m"), raise_server_exceptions=False) as client:
        assert client.post("/api/match", json={"text": COUP_EN}).status_code == 200
        other = SQLiteStore(tmp_path / "shared.sqlite")
        newest = max(other.iter_cases(), key=lambda case: other.pk_of(case.id))
        other.delete(newest.id)
        _, added = other.upsert(Case(title="Poland plans to annex western Ukraine",
                                     summary="Warsaw is preparing to take over the western regions of Ukraine."))
        other.close()
        found = client.post("/api/match", json={"text": "Poland wants to seize western Ukraine.", "limit": 1})
        assert found.status_code == 200 and found.json()["matches"][0]["case_id"] == added.id
        related = client.get(f"/api/cases/{added.id}/related", params={"limit": 2})
        assert related.status_code == 200 and added.id not in {r["case_id"] for r in related.json()}
        gone = client.get(f"/api/cases/{newest.id}/related")
        assert gone.status_code == 404
    store.close()


def test_a_server_still_embedding_answers_with_what_it_has(tmp_path: Path, seed_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No vectors cached and the background build held back until the first answers are in:
    they come from the cases indexed so far (none) and say so; once the build is done, answers
    cover every case."""
    store = SQLiteStore(tmp_path / "fresh.sqlite")
    import_records(store, read_file(str(seed_path)))
    go = threading.Event()

    def held_back(*args: Any, **kwargs: Any) -> Matcher:
        if kwargs.get("embed", True):  # the background build waits; the answer from the cache does not
            go.wait(60)
        return open_matcher(*args, **kwargs)

    monkeypatch.setattr(matchers_module, "open_matcher", held_back)
    app = create_app(store, "use-m", Settings(index_wait_seconds=0.0))
    with TestClient(app, raise_server_exceptions=False) as client:
        early = client.post("/api/match", json={"text": COUP_EN}).json()
        assert early["matches"] == []
        assert early["index"] == {"complete": False, "cases": 0, "total": 4, "embedding": None}
        page = client.get("/check").text
        assert "still being built" in page and "0 of 4 cases" in page
        builder = app.state.service.matchers.warm_up()
        go.set()
        builder.join()
        later = client.post("/api/match", json={"text": COUP_EN}).json()
        assert later["index"] == {"complete": True, "cases": 4, "total": 4, "embedding": None}
        assert later["matches"][0]["title"] == KAZAKH_COUP
        assert "still being built" not in client.get("/check").text
    store.close()
