"""Shared rebuttals (disproof paragraphs several cases use) and disproof suggestions for a
draft: the library on the seed cases and the real 2015-2017 data, the API and the CLI."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import Claims2017, seed_case
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from disinfodb.cases import Case
from disinfodb.cli import app as cli_app
from disinfodb.embed import load_embedders
from disinfodb.errors import CaseNotFound, NothingToMatch
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Matcher
from disinfodb.rebuttals import (
    is_rebuttal,
    normalise,
    paragraph_key,
    paragraphs,
    rebuttal_groups_of,
    rebuttal_index,
    shared_rebuttals,
    suggest_disproofs,
)
from disinfodb.server.app import create_app
from disinfodb.server.service import Settings
from disinfodb.store import SQLiteStore, SQLStore

SHARED_SEED = "The pro-Kremlin media frequently falsely portray popular protests around the world as instigated"
COUP = "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations"
UNREST = "Kazakhstan unrest is a US attempt to drag Russia into new conflicts"
COUP_OWN = "This claim advances an emerging pro-Kremlin narrative"
# Paraphrases of COUP's claim, in English and in Russian.
COUP_PARAPHRASE = ("The Kazakhstan unrest is another colour revolution attempt, staged to divert Russia's attention"
                   " before its negotiations with the US.")
COUP_RUSSIAN = "События в Казахстане — очередная попытка цветной революции, выгодная США перед переговорами с Россией."
WALES = ('As stated by NATO heads of state and government at the Wales Summit in September 2014, "the Alliance'
         " does not seek confrontation and poses no threat to Russia. But we cannot and will not compromise on"
         ' the principles on which our Alliance and security in Europe and North America rest"')
ARGUMENT = ("The spontaneous onset of the protests was a reaction of large parts of the population to the"
            " government's sudden departure from the agreement with the European Union in November 2013.")
runner = CliRunner(env={"COLUMNS": "250", "DISINFODB_DB": None})


def add(store: SQLStore, title: str, disproof: str, published: str | None = None) -> str:
    return store.create(Case(title=title, summary=f"Claim: {title}.", disproof=disproof,
                             published=date.fromisoformat(published) if published else None)).id


# -- paragraphs and the rule ---------------------------------------------------------------------

def test_paragraph_rule() -> None:
    disproof = "\n".join([
        "No evidence given.",  # a verdict: too short
        f"{ARGUMENT} http://bit.ly/aaa // Conspiracy theory, no evidence given.",  # the scrape's separator
        "See other examples of similar disinformation narratives in our database, such as claims that the West"
        " ordered the protests, that the US seeded chaos, or that the EU plans to annex the region.",  # a pointer
        "https://www.example.org/a-very-long-link-to-an-article-about-this, http://theins.ru/antifake/69387",
        "Czech translation of the paulcraigroberts.org disinformation article mentioned above.",  # 9 words
        "",
        ARGUMENT.upper(),  # the same paragraph again: once
    ])
    found = paragraphs(disproof)
    assert [p.text for p in found] == [f"{ARGUMENT} http://bit.ly/aaa"]
    assert found[0].key == paragraph_key(ARGUMENT) == paragraph_key(f"“{ARGUMENT[:-1]}” (http://other.link/b)")
    assert normalise(f"  «{ARGUMENT.replace(chr(39), '’')}»  ") == normalise(ARGUMENT) == ARGUMENT.casefold()[:-1]
    assert paragraph_key(ARGUMENT) != paragraph_key(ARGUMENT.replace("2013", "2014"))
    assert not is_rebuttal("See also the statement by the EU High Representative here, which says what many"
                           " other statements have said before about these protests.")
    assert is_rebuttal("More than 100 member states of the United Nations supported the resolution on the"
                       " territorial integrity of Ukraine (http://bit.ly/x).")


def test_seed_cases_sharing_a_paragraph_form_a_group(seed_store: SQLStore) -> None:
    coup, unrest = seed_case(seed_store, COUP).id, seed_case(seed_store, UNREST).id
    groups = shared_rebuttals(seed_store)
    assert len(groups) == 1
    group = groups[0]
    assert group.text.startswith(SHARED_SEED) and group.text.endswith("constantly prepare new coups.")
    assert (group.count, group.case_ids) == (2, [coup, unrest])  # both undated: in import order
    assert [c.title for c in group.cases] == [COUP, UNREST]
    assert rebuttal_groups_of(seed_store, coup) == rebuttal_groups_of(seed_store, unrest) == [group]
    other = seed_case(seed_store, "US intelligence agencies").id
    assert rebuttal_groups_of(seed_store, other) == []
    assert shared_rebuttals(seed_store, min_cases=3) == []
    with pytest.raises(CaseNotFound):
        rebuttal_groups_of(seed_store, "no-such-case")


def test_groups_follow_writes_and_skip_boilerplate(store: SQLStore) -> None:
    boilerplate = "No evidence given.\n\nSee also the statement by the EU High Representative here."
    first = add(store, "Claim one", f"{boilerplate}\n\n{ARGUMENT} (http://bit.ly/one).", "2017-03-01")
    second = add(store, "Claim two", f"{ARGUMENT.replace(chr(39), '’')} http://bit.ly/two\n\n{boilerplate}",
                 "2016-01-01")
    add(store, "Claim three", boilerplate, "2015-01-01")
    groups = shared_rebuttals(store)
    assert [(g.count, g.case_ids) for g in groups] == [(2, [second, first])]  # oldest first
    assert groups[0].text == f"{ARGUMENT.replace(chr(39), '’')} http://bit.ly/two"  # as first used
    cached = rebuttal_index(store)
    assert rebuttal_index(store) is cached  # nothing changed: the same index

    third = add(store, "Claim four", f"{ARGUMENT}", "2018-01-01")  # a write: the next call sees it
    assert rebuttal_index(store) is not cached
    assert shared_rebuttals(store)[0].case_ids == [second, first, third]
    store.delete(first)
    assert shared_rebuttals(store)[0].case_ids == [second, third]
    with store.transaction():  # inside a write transaction, its own writes count
        add(store, "Claim five", ARGUMENT)
        assert shared_rebuttals(store)[0].count == 3


# -- the real 2015-2017 data -------------------------------------------------------------------------

def test_real_groups_match_a_direct_count(claims_2017: Claims2017) -> None:
    groups = shared_rebuttals(claims_2017.store)
    assert len(groups) > 50
    # Direct count: cases with a paragraph (line, or part between the scrape's " // ") that is
    # exactly the Wales-summit statement followed by one bit.ly link.
    exact = re.compile(re.escape(WALES) + r" \(http://bit\.ly/\w+\)\.")
    direct = {case.id for case in claims_2017.cases for part in re.split(r"\n| // ", case.disproof)
              if exact.fullmatch(part.strip())}
    containing = {case.id for case in claims_2017.cases if WALES in case.disproof}
    assert len(direct) == 11 and len(containing) > len(direct)  # some use it inside a longer paragraph
    wales = [g for g in groups if exact.fullmatch(g.text)]
    assert len(wales) == 1 and groups[0] == wales[0]  # the largest group
    assert any(g.text.startswith(WALES) and g.count > 1 for g in groups[1:])  # WALES and more: another group
    assert wales[0].count == len(direct) and set(wales[0].case_ids) == direct
    dates = [c.published for c in wales[0].cases]
    assert None not in dates and dates == sorted(dates)  # type: ignore[type-var]

    verdict = sum("No evidence given." in case.disproof.split("\n") for case in claims_2017.cases)
    assert verdict > 150  # the most common disproof line is boilerplate, and no group
    assert all(len(g.text) >= 80 and normalise(g.text) != "no evidence given" for g in groups)
    assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)


@pytest.fixture
def seeds_and_2017(claims_2017: Claims2017, seed_path: Path, tmp_path: Path) -> Iterator[tuple[SQLStore, Matcher]]:
    """The 2015-2017 cases (vectors cached) plus the four seed cases, with the default matcher."""
    store = claims_2017.copy_to(tmp_path / "seeded.sqlite")
    assert import_records(store, read_file(str(seed_path))).created == 4
    yield store, Matcher(store, load_embedders())
    store.close()


def test_suggestions_for_a_paraphrase(seeds_and_2017: tuple[SQLStore, Matcher]) -> None:
    store, matcher = seeds_and_2017
    coup, unrest = seed_case(store, COUP).id, seed_case(store, UNREST).id
    for paraphrase in (COUP_PARAPHRASE, COUP_RUSSIAN):
        found = suggest_disproofs(matcher, store, paraphrase, limit=5)
        assert len(found) == 5
        assert found[0].text.startswith(SHARED_SEED), paraphrase  # both Kazakhstan cases use it: first
        assert set(found[0].case_ids) == {coup, unrest} and found[0].used_by == 2
        assert found[0].sources[0].case_id == coup  # the case the paraphrase repeats matches best
        assert found[1].text.startswith(COUP_OWN) and found[1].case_ids == [coup]  # its own first paragraph
    for suggestion in found:
        expected = 1.0
        for source in suggestion.sources:
            expected *= 1.0 - source.score
        assert suggestion.score == pytest.approx(1.0 - expected, abs=1e-3)
        assert suggestion.score >= max(s.score for s in suggestion.sources)
        assert [s.score for s in suggestion.sources] == sorted((s.score for s in suggestion.sources), reverse=True)
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)

    editing = suggest_disproofs(matcher, store, COUP_PARAPHRASE, limit=5, exclude=[coup])
    assert all(coup not in s.case_ids for s in editing)
    assert not any(s.text.startswith(COUP_OWN) for s in editing)
    assert editing[0].case_ids[0] == unrest

    nato = suggest_disproofs(matcher, store, "NATO is getting ready to attack Russia.", limit=3)
    assert nato[0].text.startswith(WALES) and nato[0].used_by == 11  # the template, from several matches
    with pytest.raises(NothingToMatch):
        suggest_disproofs(matcher, store, "  ", limit=3)


# -- API -----------------------------------------------------------------------------------------

Serve = Callable[..., tuple[TestClient, SQLStore]]


@pytest.fixture
def serve(tmp_path: Path, seed_path: Path) -> Iterator[Serve]:
    """Start an app over a fresh seeded file: `serve(settings)` -> (client, store)."""
    numbers = itertools.count()
    with ExitStack() as stack:
        def start(settings: Settings | None = None) -> tuple[TestClient, SQLStore]:
            store = SQLiteStore(tmp_path / f"api-{next(numbers)}.sqlite")
            stack.callback(store.close)
            assert import_records(store, read_file(str(seed_path))).created == 4
            client = stack.enter_context(TestClient(create_app(store, "use-m", settings),
                                                    raise_server_exceptions=False))
            return client, store
        yield start


def problem(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for word in words:
        assert word in response.json()["detail"]


def test_api_groups(serve: Serve) -> None:
    client, store = serve()
    coup, unrest = seed_case(store, COUP).id, seed_case(store, UNREST).id
    listed = client.get("/api/rebuttals").json()
    assert {k: listed[k] for k in ("total", "page", "per_page")} == {"total": 1, "page": 1, "per_page": 20}
    group = listed["groups"][0]
    assert set(group) == {"key", "text", "count", "case_ids", "cases"}
    assert group["text"].startswith(SHARED_SEED) and group["count"] == 2 and group["case_ids"] == [coup, unrest]
    assert group["cases"][0] == {"id": coup, "title": COUP, "published": None}
    assert client.get("/api/rebuttals", params={"page": 2}).json() == {
        "total": 1, "page": 2, "per_page": 20, "groups": []}
    assert client.get("/api/rebuttals", params={"min_cases": 3}).json()["total"] == 0
    problem(client.get("/api/rebuttals", params={"min_cases": 1}), 422, "min_cases")
    problem(client.get("/api/rebuttals", params={"per_page": 101}), 422, "per_page")

    assert client.get(f"/api/cases/{unrest}/rebuttals").json() == [group]
    other = seed_case(store, "US intelligence agencies").id
    assert client.get(f"/api/cases/{other}/rebuttals").json() == []
    problem(client.get("/api/cases/no-such-case/rebuttals"), 404, "no-such-case")
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/rebuttals", "/api/cases/{case_id}/rebuttals", "/api/suggest-disproof"} <= set(paths)


def test_api_suggestions_and_limits(serve: Serve) -> None:
    client, store = serve(Settings(max_match_chars=200, match_per_minute=2))
    coup = seed_case(store, COUP).id
    answer = client.post("/api/suggest-disproof", json={"text": COUP_PARAPHRASE, "limit": 2})
    assert answer.status_code == 200, answer.text
    suggestions = answer.json()["suggestions"]
    assert len(suggestions) == 2
    first = suggestions[0]
    assert set(first) == {"key", "text", "score", "case_ids", "sources", "used_by"}
    assert first["text"].startswith(SHARED_SEED) and first["used_by"] == 2 and coup in first["case_ids"]
    assert set(first["sources"][0]) == {"case_id", "title", "score", "label"}
    assert first["sources"][0]["label"] in {"match", "related", "none"}

    problem(client.post("/api/suggest-disproof", json={"text": "x " * 101}), 413, "202 characters", "at most 200")
    problem(client.post("/api/suggest-disproof", json={"text": COUP_PARAPHRASE, "limit": 0}), 422, "limit")
    limited = client.post("/api/suggest-disproof", json={"text": COUP_PARAPHRASE})
    problem(limited, 429, "at most 2 a minute")  # the match limit; the 200 and the 413 counted, not the 422
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.get("/api/rebuttals").status_code == 200  # only suggesting is limited


# -- CLI -----------------------------------------------------------------------------------------

def test_cli(seed_store: SQLStore) -> None:
    coup, unrest = seed_case(seed_store, COUP).id, seed_case(seed_store, UNREST).id
    db = ["--db", seed_store.location]
    shown = runner.invoke(cli_app, ["rebuttals", *db])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert "1 disproof paragraph is shared by 2 or more cases" in text
    assert "The pro-Kremlin media frequently falsely portray" in text and f"{coup} " in text
    assert "│ 2 │" in text  # the group's count

    data = json.loads(runner.invoke(cli_app, ["rebuttals", *db, "--json"]).stdout)
    assert data["total"] == 1 and data["min_cases"] == 2
    assert data["groups"][0]["case_ids"] == [coup, unrest] and data["groups"][0]["text"].startswith(SHARED_SEED)
    none = runner.invoke(cli_app, ["rebuttals", *db, "--min-cases", "3"])
    assert none.exit_code == 0 and "No disproof paragraph is shared by 3 or more cases." in none.stdout
    assert runner.invoke(cli_app, ["rebuttals", *db, "--min-cases", "1"]).exit_code == 2

    add(seed_store, "Claim one", ARGUMENT)
    add(seed_store, "Claim two", ARGUMENT)
    limited = json.loads(runner.invoke(cli_app, ["rebuttals", *db, "--json", "-n", "1"]).stdout)
    assert limited["total"] == 2 and len(limited["groups"]) == 1
    assert "2 disproof paragraphs are shared by 2 or more cases (showing the 1 largest)" in " ".join(
        runner.invoke(cli_app, ["rebuttals", *db, "-n", "1"]).stdout.split())
