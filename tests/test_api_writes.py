"""The API's writes, imports, exports, limits and who may do what: a real app over a real
SQLite file with the seed cases, through Starlette's TestClient.

Every response of every client here passes `_no_stack_traces`: never a 5xx, never a
traceback, and every error is an application/problem+json document.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from disinfodb.accounts import Accounts, Role
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.server.app import create_app
from disinfodb.server.problems import BEARER_CHALLENGE
from disinfodb.server.service import Settings
from disinfodb.store import SQLiteStore

KAZAKH_COUP = "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations"
COUP_EN = "What happened in Kazakhstan is yet another attempt at a colour revolution."
USERS = {Role.READER: "rita", Role.EDITOR: "ed", Role.ADMIN: "ada"}
WRONG_TOKEN = "Bearer ddb_this-is-not-a-token"
NEW_CASE = {"title": "Poland plans to annex western Ukraine", "summary": "Warsaw prepares to take over Lviv.",
            "countries": ["Poland", "Ukraine"], "languages": ["Russian"], "keywords": ["Annexation"],
            "published": "2022-03-01", "outlets": [{"name": "example.ru", "url": "https://example.ru/a"}]}
BOOKKEEPING = ("version", "created_at", "updated_at")


def _no_stack_traces(response: httpx.Response) -> None:
    """Checked on every response: no 5xx, no traceback, errors as problem documents."""
    if response.status_code < 400:
        return
    response.read()
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]


@dataclass
class Server:
    client: TestClient
    store: SQLiteStore
    tokens: dict[Role, str]

    def auth(self, who: Role | str | None) -> dict[str, str]:
        """Headers for a role's user, none (anonymous), or a raw Authorization value."""
        if who is None:
            return {}
        if isinstance(who, Role):
            return {"Authorization": f"Bearer {self.tokens[who]}"}
        return {"Authorization": who}

    def case_id(self, title: str) -> str:
        return next(case.id for case in self.store.iter_cases() if case.title == title)

    def count(self) -> int:
        return self.store.count()


Serve = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path, seed_path: Path) -> Iterator[Serve]:
    """Start servers: `serve(settings, seeded=True, name="api")`, each over its own file."""
    with ExitStack() as stack:
        def start(settings: Settings | None = None, *, seeded: bool = True, name: str = "api") -> Server:
            store = SQLiteStore(tmp_path / f"{name}.sqlite")
            stack.callback(store.close)
            if seeded:
                assert import_records(store, read_file(str(seed_path))).created == 4
            accounts = Accounts(store)
            tokens = {}
            for role, user in USERS.items():
                accounts.add_user(user, role)
                tokens[role] = accounts.create_token(user)
            client = TestClient(create_app(store, "use-m", settings), raise_server_exceptions=False)
            stack.enter_context(client)
            client.event_hooks = {"request": [], "response": [_no_stack_traces]}
            return Server(client, store, tokens)

        yield start


@pytest.fixture
def server(serve: Serve) -> Server:
    return serve()


def problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The response's problem document, checked: status, type and the words of its detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    return body


def content(case: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in case.items() if k not in BOOKKEEPING}


def jsonl(*cases: dict[str, Any]) -> bytes:
    return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases).encode()


def new_cases(count: int) -> list[dict[str, Any]]:
    return [{"title": f"Invented claim number {n} about the weather weapon", "summary": f"Claim {n}.",
             "countries": ["Latvia"]} for n in range(1, count + 1)]


# -- who may do what ----------------------------------------------------------------------

# what each caller gets for: read, create, update, delete, import, list users
MATRIX: list[tuple[Role | str | None, tuple[int, int, int, int, int, int]]] = [
    (None, (200, 401, 401, 401, 401, 401)),
    (WRONG_TOKEN, (401, 401, 401, 401, 401, 401)),
    ("Basic cml0YTpzZWNyZXQ=", (401, 401, 401, 401, 401, 401)),
    ("Bearer ", (401, 401, 401, 401, 401, 401)),
    (Role.READER, (200, 403, 403, 403, 403, 403)),
    (Role.EDITOR, (200, 201, 200, 204, 200, 403)),
    (Role.ADMIN, (200, 201, 200, 204, 200, 200)),
]


@pytest.mark.parametrize(("who", "expected"), MATRIX, ids=[str(who) for who, _ in MATRIX])
def test_auth_matrix(server: Server, who: Role | str | None, expected: tuple[int, ...]) -> None:
    client, headers = server.client, server.auth(who)
    coup = server.case_id(KAZAKH_COUP)
    other = next(case.id for case in server.store.iter_cases() if case.id != coup)
    reads = [client.get("/api/cases", params={"q": "Kazakhstan"}, headers=headers),
             client.get(f"/api/cases/{coup}", headers=headers),
             client.get(f"/api/cases/{coup}/history", headers=headers),
             client.get("/api/stats", headers=headers),
             client.get("/api/export", params={"format": "csv"}, headers=headers)]
    original = client.get(f"/api/cases/{coup}").json()
    edited = {**original, "summary": "Edited."}
    answers = [
        client.post("/api/cases", json=NEW_CASE, headers=headers),
        client.put(f"/api/cases/{coup}", json=edited, headers=headers),
        client.delete(f"/api/cases/{other}", params={"version": 1}, headers=headers),
        client.post("/api/import", files={"file": ("new.jsonl", jsonl(*new_cases(2)))}, headers=headers),
        client.get("/api/users", headers=headers),
    ]
    assert [r.status_code for r in reads] == [expected[0]] * len(reads)
    assert [r.status_code for r in answers] == list(expected[1:])
    for response in reads + answers:
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == BEARER_CHALLENGE
            problem(response, 401)
        if response.status_code == 403:
            assert isinstance(who, Role)
            problem(response, 403, f"has role {who.value}")

    may_write = expected[1] == 201
    assert server.count() == (4 + 1 - 1 + 2 if may_write else 4)
    stored = server.store.get(coup)
    assert (stored.summary, stored.version) == (("Edited.", 2) if may_write else (original["summary"], 1))
    if expected[5] == 200:
        assert {(u["name"], u["role"]) for u in answers[4].json()} == {(n, r.value) for r, n in USERS.items()}


def test_me(server: Server) -> None:
    assert server.client.get("/api/me").json() is None
    assert server.client.get("/api/me", headers=server.auth(Role.EDITOR)).json() == {
        "name": "ed", "role": "editor", "has_password": False}
    problem(server.client.get("/api/me", headers=server.auth(WRONG_TOKEN)), 401, "unknown or revoked")


def test_revoked_token_is_refused_at_once(server: Server) -> None:
    headers = server.auth(Role.EDITOR)
    assert server.client.post("/api/cases", json=NEW_CASE, headers=headers).status_code == 201
    accounts = Accounts(server.store)
    accounts.revoke_token(accounts.tokens("ed")[0].token_id)  # as `disinfodb token revoke` does, from outside
    refused = server.client.post("/api/cases", json={**NEW_CASE, "title": "Another one"}, headers=headers)
    problem(refused, 401, "unknown or revoked")
    assert server.count() == 5


def test_private_instance(serve: Serve) -> None:
    server = serve(Settings(private=True))
    client = server.client
    coup = server.case_id(KAZAKH_COUP)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/cases", {"params": {"q": "coup"}}), ("GET", f"/api/cases/{coup}", {}),
        ("GET", f"/api/cases/{coup}/history", {}), ("GET", f"/api/cases/{coup}/related", {}),
        ("GET", "/api/stats", {}), ("GET", "/api/export", {}), ("POST", "/api/match", {"json": {"text": COUP_EN}}),
    ]
    for method, url, extra in requests:
        anonymous = client.request(method, url, **extra)
        problem(anonymous, 401, "private")
        assert anonymous.headers["WWW-Authenticate"] == BEARER_CHALLENGE
        problem(client.request(method, url, headers=server.auth(WRONG_TOKEN), **extra), 401)
        assert client.request(method, url, headers=server.auth(Role.READER), **extra).status_code == 200, url
    assert client.get("/api/cases", headers=server.auth(Role.READER)).json()["total"] == 4
    assert client.get("/api/me").json() is None  # says who you are, shows no data
    problem(client.post("/api/cases", json=NEW_CASE, headers=server.auth(Role.READER)), 403, "reader")
    assert client.post("/api/cases", json=NEW_CASE, headers=server.auth(Role.EDITOR)).status_code == 201


# -- writes end to end --------------------------------------------------------------------

def test_create_then_search_history_and_duplicate(server: Server) -> None:
    client, editor = server.client, server.auth(Role.EDITOR)
    created = client.post("/api/cases", json=NEW_CASE, headers=editor)
    assert created.status_code == 201
    case = created.json()
    assert case["id"] == "poland-plans-to-annex-western-ukraine" and case["version"] == 1
    assert created.headers["Location"] == f"/api/cases/{case['id']}"
    assert client.get(created.headers["Location"]).json() == case
    assert case["languages"] == ["ru"]  # normalised as usual
    assert case["outlets"] == [{"name": "example.ru", "url": "https://example.ru/a", "archive_url": None,
                                "published": None}]

    found = client.get("/api/cases", params={"q": "annex western"}).json()
    assert [hit["id"] for hit in found["results"]] == [case["id"]]
    assert client.get("/api/cases", params={"country": "Poland"}).json()["total"] == 1
    history = client.get(f"/api/cases/{case['id']}/history").json()
    assert [(h["action"], h["version"], h["actor"], h["previous"]) for h in history] == [("create", 1, "ed", None)]

    again = problem(client.post("/api/cases", json=NEW_CASE, headers=editor), 409, case["id"])
    assert again["errors"] == [{"field": "id", "message": again["detail"], "existing_id": case["id"]}]
    same_id = problem(client.post("/api/cases", json={"id": case["id"], "title": "Something else entirely"},
                                  headers=editor), 409, case["id"])
    assert same_id["errors"][0]["existing_id"] == case["id"]
    assert server.count() == 5


def test_update_with_versions(server: Server) -> None:
    client, editor, admin = server.client, server.auth(Role.EDITOR), server.auth(Role.ADMIN)
    coup = server.case_id(KAZAKH_COUP)
    original = client.get(f"/api/cases/{coup}").json()

    first = client.put(f"/api/cases/{coup}", json={**original, "summary": "First edit."}, headers=editor)
    assert first.status_code == 200 and first.json()["version"] == 2 and first.json()["summary"] == "First edit."
    stale = problem(client.put(f"/api/cases/{coup}", json={**original, "summary": "Lost edit."}, headers=admin),
                    409, "version 2, not 1")
    assert stale["errors"] == [{"field": "version", "message": stale["detail"], "current_version": 2}]
    stored = client.get(f"/api/cases/{coup}").json()
    assert stored == first.json()  # the stale edit changed nothing

    unchanged = client.put(f"/api/cases/{coup}", json=stored, headers=editor)
    assert unchanged.status_code == 200 and unchanged.json()["version"] == 2  # same content: no new version
    # A write that does not say which version it edits is refused with the current version
    # (two blind PUTs used to lose one editor's summary); only an admin may force it.
    for who in (editor, admin):
        refused = problem(client.put(f"/api/cases/{coup}", json={"title": KAZAKH_COUP, "version": 0}, headers=who),
                          428, "say which version")
        assert refused["errors"][0]["field"] == "version" and refused["errors"][0]["current_version"] == 2
    problem(client.put(f"/api/cases/{coup}", params={"force": "true"}, json={"title": KAZAKH_COUP}, headers=editor),
            403, "only an admin may force")
    assert client.get(f"/api/cases/{coup}").json() == stored
    blind = client.put(f"/api/cases/{coup}", params={"force": "true"}, json={"title": KAZAKH_COUP}, headers=admin)
    assert blind.status_code == 200 and blind.json()["version"] == 3 and blind.json()["summary"] == ""

    history = client.get(f"/api/cases/{coup}/history").json()
    assert [(h["action"], h["version"], h["actor"]) for h in history] == [
        ("create", 1, "import"), ("update", 2, "ed"), ("update", 3, "ada")]
    assert content(history[1]["previous"]) == content(original)
    assert history[2]["previous"]["summary"] == "First edit."

    other = next(case for case in server.store.iter_cases() if case.id != coup)
    taken = {**blind.json(), "url": "https://example.org/one", "version": 3}
    assert client.put(f"/api/cases/{coup}", json=taken, headers=editor).status_code == 200
    clash = {**other.model_dump(mode="json"), "url": "https://example.org/one"}
    problem(client.put(f"/api/cases/{other.id}", json=clash, headers=editor), 409, "belongs to another case")
    assert server.store.get(other.id).url is None


def test_delete_with_version(server: Server) -> None:
    client, editor = server.client, server.auth(Role.EDITOR)
    coup = server.case_id(KAZAKH_COUP)
    assert client.put(f"/api/cases/{coup}", json={"title": KAZAKH_COUP, "summary": "v2", "version": 1},
                      headers=editor).json()["version"] == 2
    problem(client.delete(f"/api/cases/{coup}", params={"version": 1}, headers=editor), 409, "version 2, not 1")
    assert server.store.get(coup).version == 2
    problem(client.delete(f"/api/cases/{coup}", params={"version": 0}, headers=editor), 422, "version")
    refused = problem(client.delete(f"/api/cases/{coup}", headers=editor), 428, "say which version")
    assert refused["errors"][0]["current_version"] == 2 and server.store.get(coup).version == 2
    deleted = client.delete(f"/api/cases/{coup}", params={"version": 2}, headers=editor)
    assert deleted.status_code == 204 and deleted.content == b""
    problem(client.get(f"/api/cases/{coup}"), 404, coup)
    history = client.get(f"/api/cases/{coup}/history").json()  # a deleted case keeps its history
    assert [(h["action"], h["version"], h["actor"]) for h in history][-1] == ("delete", 2, "ed")
    assert history[-1]["previous"]["summary"] == "v2"
    problem(client.delete(f"/api/cases/{coup}", headers=editor), 404, coup)
    assert coup not in {hit["id"] for hit in client.get("/api/cases", params={"q": "Kazakhstan"}).json()["results"]}
    other = next(case.id for case in server.store.iter_cases())
    problem(client.delete(f"/api/cases/{other}", params={"force": "true"}, headers=editor), 403, "only an admin")
    forced = client.delete(f"/api/cases/{other}", params={"force": "true"}, headers=server.auth(Role.ADMIN))
    assert forced.status_code == 204  # an admin may delete without a version
    assert server.count() == 2


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"title": "A title", "issue": "many"}, "body.issue", "valid integer"),
    ({"title": 5}, "body.title", "valid string"),
    ({"title": "A title", "colour": "red"}, "body.colour", "Extra inputs are not permitted"),
    ({"summary": "no title"}, "body.title", "Field required"),
    ({"title": "   "}, "body.title", "a case needs a title"),
    ({"title": "A title", "published": "2022-02-30"}, "body.published", "date"),
    ({"title": "A title", "outlets": [{"name": "x", "colour": "red"}]}, "body.outlets.0.colour", "Extra inputs"),
    ({"title": "A title", "id": "Not A Slug"}, "body.id", "not a slug"),
    (["a", "list"], "body", "valid dictionary"),
])
def test_invalid_bodies_name_the_field(server: Server, body: Any, field: str, message: str) -> None:
    editor = server.auth(Role.EDITOR)
    coup = server.case_id(KAZAKH_COUP)
    for response in (server.client.post("/api/cases", json=body, headers=editor),
                     server.client.put(f"/api/cases/{coup}", json=body, headers=editor)):
        found = problem(response, 422, field)
        assert any(e["field"] == field and message in e["message"] for e in found["errors"]), found
    assert server.count() == 4 and server.store.get(coup).version == 1


def test_malformed_json_is_a_422(server: Server) -> None:
    editor = {**server.auth(Role.EDITOR), "content-type": "application/json"}
    for raw in (b"{not json", b'{"title": "unterminated', b"", b"\xff\xfe{}"):
        response = server.client.post("/api/cases", content=raw, headers=editor)
        assert response.status_code in (400, 422), raw  # undecodable bytes are FastAPI's 400
        assert response.json()["status"] == response.status_code
    problem(server.client.post("/api/cases", content=b"{not json", headers=editor), 422, "JSON decode error")
    assert server.count() == 4


def test_unknown_ids_are_404(server: Server) -> None:
    client, editor = server.client, server.auth(Role.EDITOR)
    for response in (client.get("/api/cases/no-such-case"), client.get("/api/cases/no-such-case/history"),
                     client.get("/api/cases/no-such-case/related"),
                     client.put("/api/cases/no-such-case", json={"title": "x"}, headers=editor),
                     client.delete("/api/cases/no-such-case", headers=editor),
                     client.delete("/api/cases/no-such-case", params={"version": 1}, headers=editor)):
        problem(response, 404, "no-such-case")
    assert server.count() == 4


def test_markup_is_stored_and_returned_verbatim(server: Server) -> None:
    title = "<script>alert('disinfo')</script> Fake & \"quoted\" claim"
    summary = "<img src=x onerror=alert(1)> planted words"
    created = server.client.post("/api/cases", json={"title": title, "summary": summary},
                                 headers=server.auth(Role.EDITOR))
    assert created.status_code == 201
    case_id = created.json()["id"]
    assert "<" not in case_id and "script" in case_id
    fetched = server.client.get(f"/api/cases/{case_id}")
    assert fetched.headers["content-type"] == "application/json"
    assert (fetched.json()["title"], fetched.json()["summary"]) == (title, summary)
    assert server.store.get(case_id).title == title
    [hit] = server.client.get("/api/cases", params={"q": "planted"}).json()["results"]
    assert hit["title"] == title  # JSON is data: the page that shows it escapes it
    assert "<img" not in hit["snippet"] and "&lt;img" in hit["snippet"]  # snippets are HTML, escaped


# -- imports ------------------------------------------------------------------------------

def upload(server: Server, name: str, data: bytes, who: Role = Role.EDITOR, **form: str) -> httpx.Response:
    response: httpx.Response = server.client.post("/api/import", files={"file": (name, data)}, data=form,
                                                  headers=server.auth(who))
    return response


def test_import_seed_file_twice(serve: Serve, seed_path: Path) -> None:
    server = serve(seeded=False)
    first = upload(server, seed_path.name, seed_path.read_bytes())
    assert first.status_code == 200
    assert first.json() == {"created": 4, "updated": 0, "unchanged": 0, "duplicates": [], "conflicts": [],
                            "problems": [], "dry_run": False}
    coup = server.case_id(KAZAKH_COUP)
    assert [(h["action"], h["actor"]) for h in server.client.get(f"/api/cases/{coup}/history").json()] == [
        ("create", "ed")]
    again = upload(server, seed_path.name, seed_path.read_bytes(), who=Role.ADMIN)
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 4)
    assert server.count() == 4 and server.store.audit_count() == 4


def test_import_with_a_bad_record_writes_nothing(server: Server) -> None:
    good = new_cases(4)
    records = [*good[:2], {"title": "A third claim", "issue": "many"}, *good[2:]]
    rejected = problem(upload(server, "batch.jsonl", jsonl(*records)), 422, "line 3", "nothing was imported")
    assert rejected["errors"] == [{"source": "batch.jsonl", "line": 3, "field": "issue",
                                   "message": rejected["errors"][0]["message"]}]
    assert "integer" in rejected["errors"][0]["message"]
    assert server.count() == 4 and server.store.audit_count() == 4
    assert server.client.get("/api/cases", params={"country": "Latvia"}).json()["total"] == 0

    not_json = problem(upload(server, "batch.jsonl", jsonl(*good[:2]) + b"{oops\n", format="jsonl"), 422)
    assert [(e["line"], e["source"]) for e in not_json["errors"]] == [(3, "batch.jsonl")]
    assert server.count() == 4

    skipped = upload(server, "batch.jsonl", jsonl(*records), skip_invalid="true")
    assert skipped.status_code == 200
    report = skipped.json()
    assert report["created"] == 4 and [(p["line"], p["field"]) for p in report["problems"]] == [(3, "issue")]
    assert server.count() == 8


def test_import_dry_run_writes_nothing(server: Server) -> None:
    data = jsonl(*new_cases(3), {"title": KAZAKH_COUP, "summary": "changed"})
    dry = upload(server, "batch.jsonl", data, dry_run="true", format="jsonl")
    assert dry.status_code == 200
    assert (dry.json()["created"], dry.json()["dry_run"]) == (3, True)
    assert server.count() == 4 and server.store.audit_count() == 4
    assert server.store.get(server.case_id(KAZAKH_COUP)).version == 1
    real = upload(server, "batch.jsonl", data, format="jsonl")
    assert (real.json()["created"], real.json()["dry_run"]) == (3, False)
    assert server.count() == 7


def test_import_refuses_what_it_cannot_read(server: Server) -> None:
    problem(upload(server, "noise.bin", bytes(range(256)) * 8), 422, "cannot tell the format")
    problem(upload(server, "x.jsonl", b"{}", format="yaml"), 422, "format")
    problem(upload(server, "x.csv", b"\xff\xfe,a\n1,2\n", format="csv"), 422, "not UTF-8")
    problem(server.client.post("/api/import", data={"format": "jsonl"}, headers=server.auth(Role.EDITOR)),
            422, "file")
    assert server.count() == 4


# -- exports ------------------------------------------------------------------------------

EXPORT_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json", "csv": "text/csv",
                "claimreview": "application/ld+json"}


def exported(server: Server, fmt: str, **filters: str) -> list[dict[str, Any]]:
    """The cases of an export, streamed and parsed (ClaimReview: the reviews)."""
    with server.client.stream("GET", "/api/export", params={"format": fmt, **filters}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(EXPORT_TYPES[fmt])
        assert "content-length" not in response.headers  # streamed, not built in memory
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="disinfodb-') and disposition.endswith(
            {"jsonl": '.jsonl"', "json": '.json"', "csv": '.csv"', "claimreview": '.claimreview.json"'}[fmt])
        text = b"".join(response.iter_bytes()).decode()
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    parsed: list[dict[str, Any]] = json.loads(text)
    return parsed


@pytest.mark.parametrize("fmt", list(EXPORT_TYPES))
def test_export_formats_and_filters(server: Server, fmt: str) -> None:
    every = exported(server, fmt)
    assert len(every) == 4
    title = {"jsonl": "title", "json": "title", "csv": "title", "claimreview": "name"}[fmt]
    assert KAZAKH_COUP in {row[title] for row in every}
    [kazakhstan] = exported(server, fmt, country="Kazakhstan")
    assert kazakhstan[title].startswith("Kazakhstan’s destabilisation")
    assert exported(server, fmt, since="2030-01-01") == []
    assert len(exported(server, fmt, keyword="Colour revolutions", since="2022-01-01", until="2022-12-31")) == 1
    if fmt == "claimreview":
        assert {review["@type"] for review in every} == {"ClaimReview"}
    problem(server.client.get("/api/export", params={"format": fmt, "language": "Klingonese"}), 400, "Klingonese")
    problem(server.client.get("/api/export", params={"format": "xml"}), 422, "format")


def test_jsonl_export_reimports_to_the_same_content(serve: Serve) -> None:
    source = serve(name="source")
    created = source.client.post("/api/cases", json={**NEW_CASE, "disproof": "Nothing of the kind.", "issue": 280,
                                                     "links": ["https://example.org/proof"], "reported_by": "A team",
                                                     "narratives": ["Territorial claims"]},
                                 headers=source.auth(Role.EDITOR))
    assert created.status_code == 201
    export = b"".join(source.client.get("/api/export").iter_bytes())
    original = [content(case) for case in map(json.loads, export.decode().splitlines())]
    assert len(original) == 5

    target = serve(seeded=False, name="target")
    report = upload(target, "export.jsonl", export)
    assert (report.json()["created"], report.json()["problems"]) == (5, [])
    assert [content(case) for case in exported(target, "jsonl")] == original
    assert content(target.client.get(created.headers["Location"]).json()) == content(created.json())
    back = upload(source, "export.jsonl", export)
    assert (back.json()["created"], back.json()["updated"], back.json()["unchanged"]) == (0, 0, 5)


# -- limits -------------------------------------------------------------------------------

def chunks(data: bytes, size: int = 512) -> Iterator[bytes]:
    """A body without a Content-Length: sent chunked, so only counting it can stop it."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_body_size_limit(serve: Serve) -> None:
    server = serve(Settings(max_body_bytes=4000))
    client, editor = server.client, server.auth(Role.EDITOR)
    big_case = {**NEW_CASE, "summary": "x" * 5000}
    problem(client.post("/api/cases", json=big_case, headers=editor), 413, "4,000 bytes")
    as_json = {**editor, "content-type": "application/json"}
    problem(client.post("/api/cases", content=chunks(json.dumps(big_case).encode()), headers=as_json), 413, "4,000")

    upload_request = httpx.Request("POST", "http://testserver/api/import",
                                   files={"file": ("big.jsonl", jsonl(*new_cases(80)))})
    multipart, content_type = upload_request.read(), upload_request.headers["content-type"]
    assert len(multipart) > 4000
    with_type = {**editor, "content-type": content_type}
    problem(client.post("/api/import", content=multipart, headers=with_type), 413, "4,000")
    problem(client.post("/api/import", content=chunks(multipart), headers=with_type), 413, "4,000")
    assert server.count() == 4

    small = client.post("/api/cases", content=chunks(json.dumps(NEW_CASE).encode(), 64), headers=as_json)
    assert small.status_code == 201  # under the limit, chunked or not, bodies are read as usual
    assert upload(server, "small.jsonl", jsonl(*new_cases(3))).json()["created"] == 3
    assert server.count() == 8


def test_match_text_limit(serve: Serve) -> None:
    server = serve(Settings(max_match_chars=100))
    text = (COUP_EN + " ") * 3
    problem(server.client.post("/api/match", json={"text": text[:101]}), 413, "101 characters", "at most 100")
    fits = server.client.post("/api/match", json={"text": text[:100], "limit": 1})
    assert fits.status_code == 200 and fits.json()["matches"][0]["title"] == KAZAKH_COUP


def test_match_rate_limit(serve: Serve) -> None:
    server = serve(Settings(match_per_minute=2))
    client, reader = server.client, server.auth(Role.READER)
    for _ in range(2):
        assert client.post("/api/match", json={"text": COUP_EN}, headers=reader).status_code == 200
    limited = client.post("/api/match", json={"text": COUP_EN}, headers=reader)
    problem(limited, 429, "at most 2 a minute")
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    # buckets are per client: another user, and an anonymous address, still get answers
    assert client.post("/api/match", json={"text": COUP_EN}, headers=server.auth(Role.EDITOR)).status_code == 200
    assert client.post("/api/match", json={"text": COUP_EN}).status_code == 200
    assert client.get("/api/cases", headers=reader).status_code == 200  # only matching is limited


def test_import_rate_limit(serve: Serve) -> None:
    server = serve(Settings(import_per_minute=1))
    assert upload(server, "one.jsonl", jsonl(*new_cases(1))).json()["created"] == 1
    limited = upload(server, "two.jsonl", jsonl(*new_cases(3)))
    problem(limited, 429, "import")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert server.count() == 5  # the refused import wrote nothing
    assert upload(server, "two.jsonl", jsonl(*new_cases(3)), who=Role.ADMIN).json()["created"] == 2
    assert server.client.post("/api/cases", json=NEW_CASE, headers=server.auth(Role.EDITOR)).status_code == 201
