"""Schemathesis against the app's own /openapi.json, over a seeded SQLite file.

Every /api operation (and the Fact Check Tools API's) gets generated requests, valid ones (positive) and, where it takes
input, invalid ones (negative), sent with an admin's token so writes run too. The answer
must never be a 5xx, and its status, content type, headers and body must be the ones the
schema documents. Case ids are drawn from the seeded cases as well as generated (in
positive runs), so reads, edits and deletes meet real cases.

Schemathesis' negative_data_rejection check is left out: it counts FastAPI reading an
empty `?until=` as no date, and pydantic reading a number as a timestamp, as invalid data
accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from disinfodb.accounts import Accounts, Role
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.server.app import create_app
from disinfodb.server.service import Settings
from disinfodb.store import SQLiteStore

# Many requests in one test: the limits are tested in test_api_writes, not here.
UNLIMITED = Settings(match_per_minute=1_000_000, import_per_minute=1_000_000)
READS = [("/api/cases", "GET"), ("/api/cases/{case_id}/related", "GET"), ("/api/match", "POST"), ("/api/export", "GET"),
         ("/api/rebuttals", "GET"), ("/api/suggest-disproof", "POST"), ("/api/narratives/{narrative_id}/trend", "GET"),
         ("/api/trends", "GET"), ("/api/emerging", "GET"), ("/api/cooccurrence", "GET"),
         ("/api/suggest-metadata", "POST"), ("/api/triage", "GET"), ("/api/themes/{theme_id}", "GET"),
         ("/v1alpha1/claims:search", "GET")]
ID_ONLY = [("/api/cases/{case_id}", "GET"), ("/api/cases/{case_id}/history", "GET"),  # no invalid input exists
           ("/api/cases/{case_id}/rebuttals", "GET"), ("/api/narratives/{narrative_id}", "GET")]
WRITES = [("/api/cases", "POST"), ("/api/cases/{case_id}", "PUT"), ("/api/cases/{case_id}", "DELETE"),
          ("/api/import", "POST"), ("/api/narratives/{narrative_id}/name", "PUT"),
          ("/api/narratives/{narrative_id}/pinned", "PUT"), ("/api/narratives/{narrative_id}/merge", "POST"),
          ("/api/narratives/{narrative_id}/split", "POST"), ("/api/narratives/build", "POST"),
          ("/api/triage/{item_id}/confirm", "POST"), ("/api/triage/{item_id}/dismiss", "POST"),
          ("/api/triage/{item_id}/draft", "POST")]
NO_INPUT = [("/api/stats", "GET"), ("/api/me", "GET"), ("/api/users", "GET"), ("/api/narratives", "GET"),
            ("/api/triage.atom", "GET"), ("/api/themes", "GET")]
OPERATIONS = READS + ID_ONLY + WRITES + NO_INPUT
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
RUNS = ([(path, method, GenerationMode.POSITIVE) for path, method in OPERATIONS]
        + [(path, method, GenerationMode.NEGATIVE) for path, method in READS + WRITES])
EXAMPLES = 40


@dataclass
class Fuzzed:
    schema: schemathesis.BaseSchema
    token: str
    case_ids: list[str]


@pytest.fixture
def fuzzed(tmp_path: Path, seed_path: Path) -> Iterator[Fuzzed]:
    """A fresh seeded file for each operation: deletes of one run do not starve the next."""
    store = SQLiteStore(tmp_path / "fuzz.sqlite")
    assert import_records(store, read_file(str(seed_path))).created == 4
    accounts = Accounts(store)
    accounts.add_user("fuzzer", Role.ADMIN)
    app = create_app(store, "use-m", UNLIMITED)
    yield Fuzzed(schemathesis.openapi.from_asgi("/openapi.json", app), accounts.create_token("fuzzer"),
                 [case.id for case in store.iter_cases()])
    store.close()


def test_every_api_operation_is_fuzzed(tmp_path: Path) -> None:
    """A new endpoint must join OPERATIONS (and so the fuzzing below)."""
    store = SQLiteStore(tmp_path / "empty.sqlite")
    with TestClient(create_app(store, "use-m")) as client:
        paths = client.get("/openapi.json").json()["paths"]
    store.close()
    documented = {(path, method.upper()) for path, methods in paths.items()
                  if path.startswith(("/api/", "/v1alpha1/")) for method in methods}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("path", "method", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for p, m, g in RUNS])
def test_generated_requests(fuzzed: Fuzzed, path: str, method: str, mode: GenerationMode) -> None:
    strategy = fuzzed.schema[path][method].as_strategy(generation_mode=mode)
    if "{case_id}" in path and mode is GenerationMode.POSITIVE:  # mostly a seeded case, else a generated id
        strategy = st.tuples(strategy, st.sampled_from([None, *fuzzed.case_ids])).map(_with_case_id)
    statuses: set[int] = set()

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.function_scoped_fixture])
    def run(case: Case[Any]) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {fuzzed.token}"}, checks=CHECKS)
        statuses.add(response.status_code)
        assert "Traceback" not in response.text

    run()
    assert statuses and max(statuses) < 500


def _with_case_id(drawn: tuple[Case[Any], str | None]) -> Case[Any]:
    case, case_id = drawn
    if case_id is not None:
        case.path_parameters = {**(case.path_parameters or {}), "case_id": case_id}
    return case
