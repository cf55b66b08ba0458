"""The command line, through Typer's runner and as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from disinfodb.cli import app
from disinfodb.embed import load_embedder, models_dir
from disinfodb.facets import FACET_NAMES
from disinfodb.matching.matcher import NEAR_DUPLICATE
from disinfodb.store import open_store
from disinfodb.store.schema import STEPS

runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None})

KAZAKH_TITLES = {
    "Kazakhstan’s destabilisation attempts to obstruct EEU membership and China’s new Silk Road",
    "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations",
}


def flat(text: str) -> str:
    return " ".join(text.split())


class Cli:
    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, *args: str) -> Result:
        command, *rest = args
        return runner.invoke(app, [command, "--db", str(self.db), *rest])

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def state(self) -> tuple[int, int, list[dict[str, Any]]]:
        store = open_store(str(self.db))
        try:
            return store.count(), store.audit_count(), [c.model_dump(mode="json") for c in store.iter_cases()]
        finally:
            store.close()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cli.sqlite")


@pytest.fixture
def seeded_cli(cli: Cli, seed_path: Path) -> Cli:
    result = cli("import", str(seed_path))
    assert result.exit_code == 0, result.stderr
    return cli


def test_init(cli: Cli) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.stderr
    assert f"schema version {len(STEPS)}" in flat(result.stdout)
    assert "0 cases" in flat(result.stdout)
    assert cli.db.is_file()


def test_import_seed(cli: Cli, seed_path: Path) -> None:
    result = cli("import", str(seed_path))
    assert result.exit_code == 0, result.stderr
    assert "4 created" in flat(result.stdout)
    assert "Database: 4 cases" in flat(result.stdout)
    report = cli.json("import", str(seed_path))
    assert (report["created"], report["updated"], report["unchanged"], report["cases"]) == (0, 0, 4, 4)
    assert report["problems"] == [] and report["dry_run"] is False


def test_search_json(seeded_cli: Cli) -> None:
    data = seeded_cli.json("search", "colour revolution")
    assert {"total", "results", "facets"} <= set(data)
    assert data["total"] == 2
    assert {hit["title"] for hit in data["results"]} == KAZAKH_TITLES
    assert set(data["facets"]) == set(FACET_NAMES)
    assert {v["value"]: v["count"] for v in data["facets"]["country"]}["kazakhstan"] == 1
    assert data["facets"]["issue"] == [{"value": "270", "label": "270", "count": 1}]
    hit = next(h for h in data["results"] if h["issue"] == 270)
    assert hit["published"] == "2022-01-08"
    assert hit["languages"] == ["es"]


def test_search_filters_and_text_output(seeded_cli: Cli) -> None:
    data = seeded_cli.json("search", "--country", "Kazakhstan")
    assert data["total"] == 1
    assert data["results"][0]["countries"] == ["Russia", "China", "Kazakhstan", "US", "Afghanistan"]
    assert seeded_cli.json("search", "-l", "Castilian", "-k", "Colour revolutions", "-i", "270")["total"] == 1
    assert seeded_cli.json("search", "--since", "2022-01-09")["total"] == 0
    page = seeded_cli.json("search", "Kazakhstan", "--per-page", "2", "--page", "2", "--sort", "date")
    assert (page["total"], len(page["results"]), page["page"]) == (3, 1, 2)

    result = seeded_cli("search", "colour revolution")
    assert result.exit_code == 0, result.stderr
    out = flat(result.stdout)
    assert out.startswith("2 cases")
    assert all(title in out for title in KAZAKH_TITLES)
    assert "2022-01-08 · issue 270 · Spanish" in out


def test_show_and_history(seeded_cli: Cli) -> None:
    hit = seeded_cli.json("search", "--country", "Kazakhstan")["results"][0]
    case = seeded_cli.json("show", hit["id"])
    assert case["id"] == hit["id"]
    assert case["title"] == hit["title"]
    assert case["version"] == 1
    assert case["keywords"] == ["Destabilising Russia", "Colour revolutions", "Eurasian economic union",
                                "Central Asia"]
    result = seeded_cli("show", hit["id"])
    assert result.exit_code == 0
    out = flat(result.stdout)
    assert out.startswith(f"Disinfo: {hit['title']}")
    assert "Reported in: Issue 270" in out and "Date of publication: 08/01/2022" in out
    history = seeded_cli.json("history", hit["id"])
    assert [(e["action"], e["version"], e["previous"]) for e in history] == [("create", 1, None)]


def test_stats_json(seeded_cli: Cli) -> None:
    stats = seeded_cli.json("stats")
    assert stats["cases"] == 4
    assert stats["audit_entries"] == 4
    assert stats["schema_version"] == len(STEPS)
    assert (stats["first_published"], stats["last_published"]) == ("2022-01-08", "2022-01-08")
    assert stats["distinct"] == {"keyword": 4, "country": 5, "language": 1, "outlet": 0, "issue": 1,
                                 "year": 1}


def test_export_csv_to_file(seeded_cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    result = seeded_cli("export", "--format", "csv", "--out", str(target))
    assert result.exit_code == 0, result.stderr
    assert "Exported 4 cases" in flat(result.stderr)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out")] == ["out.csv"]
    assert target.read_text(encoding="utf-8").splitlines()[0].startswith("id,url,title,")
    other = Cli(tmp_path / "other.sqlite")
    assert other("import", str(target)).exit_code == 0

    def contents(cli: Cli) -> dict[object, dict[str, object]]:
        bookkeeping = ("version", "created_at", "updated_at")
        return {c["id"]: {k: v for k, v in c.items() if k not in bookkeeping} for c in cli.state()[2]}

    assert len(contents(other)) == 4
    assert contents(other) == contents(seeded_cli)


def test_export_filtered_to_stdout(seeded_cli: Cli) -> None:
    result = seeded_cli("export", "--country", "Kazakhstan")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["issue"] == 270


def test_import_dry_run(cli: Cli, seed_path: Path) -> None:
    report = cli.json("import", str(seed_path), "--dry-run")
    assert (report["created"], report["dry_run"], report["cases"]) == (4, True, 0)
    assert cli.state()[:2] == (0, 0)


def test_malformed_file_exit_1_and_nothing_written(seeded_cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Disinfo: fine\nDisproof\nno\n\nDisinfo: broken\nclaim\npublication/media\n"
                   "• DATE OF PUBLICATION: 31/31/2022\n", encoding="utf-8")
    before = seeded_cli.state()
    result = seeded_cli("import", str(bad))
    assert result.exit_code == 1
    assert result.stdout == ""
    err = flat(result.stderr)
    assert "error:" in err and "nothing was imported" in err
    assert f"{bad}:line 8 [published]" in err
    assert f"{bad}:line 5 [disproof]" in err
    assert seeded_cli.state() == before

    as_json = seeded_cli("import", str(bad), "--json")
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["error"] == "rejected" and len(data["problems"]) == 2
    assert seeded_cli.state() == before


def test_skip_invalid_imports_the_rest(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Disinfo: fine\nDisproof\nno\n\nDisinfo: broken\nclaim\n", encoding="utf-8")
    result = cli("import", str(bad), "--skip-invalid")
    assert result.exit_code == 0
    assert "Skipped (invalid)" in result.stderr
    assert cli.state()[0] == 1


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(tmp_path / "nope.txt"))
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_unknown_case_id(seeded_cli: Cli) -> None:
    for command in ("show", "history"):
        result = seeded_cli(command, "no-such-case")
        assert result.exit_code == 1
        assert isinstance(result.exception, SystemExit)
        assert "no-such-case" in result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (['"colour revolution'], "unclosed quote"),
    (["--", "-russia"], "not excluded"),
    (["x", "--language", "Elvish Sindarin"], "unknown language"),
    (["x", "--since", "yesterday"], "bad date"),
    (["x", "--since", "2022-01-01", "--until", "2021-01-01"], "after"),
])
def test_bad_query_exit_1_with_message(seeded_cli: Cli, args: list[str], message: str) -> None:
    result = seeded_cli("search", *args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
    assert "error:" in result.stderr and message in flat(result.stderr)
    assert result.stdout == ""


def test_failed_export_leaves_no_file(seeded_cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    result = seeded_cli("export", "--format", "csv", "--language", "Elvish Sindarin", "--out", str(target))
    assert result.exit_code == 1
    assert "unknown language" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []


def test_unknown_export_format(seeded_cli: Cli) -> None:
    result = seeded_cli("export", "--format", "xml")
    assert result.exit_code == 1
    assert "unknown export format 'xml'" in result.stderr


@pytest.mark.parametrize("args", [
    ["search", "--no-such-option"], ["show"], ["search", "--per-page", "0"], ["search", "--sort", "sideways"],
    ["frobnicate"], ["search", "-i", "seven"],
])
def test_usage_error_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.stderr or "Error" in result.stderr


def test_missing_db_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["stats", "--db", str(tmp_path / "no" / "such.sqlite")])
    assert result.exit_code == 1
    assert "does not exist" in flat(result.stderr)


# -- the installed console script, as a real process --------------------------------


def console_script() -> list[str]:
    beside = Path(sys.executable).parent / "disinfodb"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("disinfodb")
    return [found] if found else [sys.executable, "-m", "disinfodb"]


def test_console_script_with_env_db(tmp_path: Path, seed_path: Path) -> None:
    env = {**os.environ, "DISINFODB_DB": str(tmp_path / "env.sqlite"), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*console_script(), *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, check=False)

    imported = run("import", str(seed_path), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["created"] == 4
    assert (tmp_path / "env.sqlite").is_file()
    assert not (tmp_path / "disinfodb.sqlite").exists()

    found = run("search", "colour revolution", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["total"] == 2

    missing = run("show", "no-such-case")
    assert missing.returncode == 1
    assert "no-such-case" in missing.stderr
    assert "Traceback" not in missing.stderr

    usage = run("search", "--no-such-option")
    assert usage.returncode == 2


def test_import_clashing_id_and_url_is_a_clean_error(cli: Cli, tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    first.write_text('{"id": "a", "title": "A", "url": "https://x.example/a"}\n'
                     '{"id": "b", "title": "B", "url": "https://x.example/b"}\n', encoding="utf-8")
    assert cli("import", str(first)).exit_code == 0
    clash = tmp_path / "clash.jsonl"
    clash.write_text('{"id": "a", "title": "A", "url": "https://x.example/b"}\n', encoding="utf-8")
    before = cli.state()
    result = cli("import", str(clash))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
    assert "error:" in result.stderr
    assert cli.state() == before


def test_export_into_missing_folder_is_a_clean_error(seeded_cli: Cli, tmp_path: Path) -> None:
    result = seeded_cli("export", "--out", str(tmp_path / "no-such-folder" / "out.jsonl"))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
    assert "error:" in result.stderr


def test_import_from_standard_input(cli: Cli) -> None:
    result = runner.invoke(app, ["import", "--db", str(cli.db), "-"],
                           input="Disinfo: From standard input\nDisproof\nno\n")
    assert result.exit_code == 0, result.stderr
    jsonl = runner.invoke(app, ["import", "--db", str(cli.db), "--format", "jsonl", "-"],
                          input='{"title": "Also from stdin", "languages": ["Castilian"]}\n')
    assert jsonl.exit_code == 0, jsonl.stderr
    assert sorted((c["title"], tuple(c["languages"])) for c in cli.state()[2]) == [
        ("Also from stdin", ("es",)), ("From standard input", ())]


def test_several_files_are_one_transaction(cli: Cli, seed_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Disinfo: no disproof\n", encoding="utf-8")
    result = cli("import", str(seed_path), str(bad))
    assert result.exit_code == 1
    assert f"{bad}:line 1 [disproof]" in flat(result.stderr)
    assert cli.state()[:2] == (0, 0)
    again = cli.json("import", str(seed_path), str(seed_path))
    assert (again["created"], len(again["duplicates"]), again["cases"]) == (4, 4, 4)


# -- claim matching: match, related, near-duplicate warnings, models -------------------

# The models folder is passed on explicitly: $DISINFODB_MODELS, else the default cache.
model_runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None, "DISINFODB_MODEL": None,
                              "DISINFODB_MODELS": str(models_dir())})
COUP_TEXT = "What happened in Kazakhstan is yet another attempt at a colour revolution."
KAZAKH_COUP = "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations"
KAZAKH_UNREST = "Kazakhstan unrest is a US attempt to drag Russia into new conflicts"


def invoke(db: Path, *args: str, stdin: str | None = None,
           env: dict[str, str | None] | None = None) -> Result:
    command, *rest = args
    return model_runner.invoke(app, [command, "--db", str(db), *rest], input=stdin, env=env)


def strict_json(text: str) -> Any:
    """JSON as other languages read it: no NaN or Infinity."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def seed_ids(cli: Cli) -> dict[str, str]:
    """Title -> id of the seeded cases."""
    return {case["title"]: case["id"] for case in cli.state()[2]}


def assert_clean_error(result: Result, *words: str) -> None:
    assert result.exit_code == 1, result.stdout
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in flat(result.stderr)


def test_match_json(seeded_cli: Cli) -> None:
    result = invoke(seeded_cli.db, "match", COUP_TEXT, "--json")
    assert result.exit_code == 0, result.stderr
    matches = strict_json(result.stdout)["matches"]
    assert len(matches) == 4  # every seed case, best first (the limit is 5)
    assert matches[0]["case_id"] == seed_ids(seeded_cli)[KAZAKH_COUP]
    assert matches[0]["title"] == KAZAKH_COUP and matches[0]["label"] in ("match", "related")
    assert [m["score"] for m in matches] == sorted((m["score"] for m in matches), reverse=True)
    case = seeded_cli.json("show", matches[0]["case_id"])
    for found in matches:
        assert {"case_id", "title", "score", "label", "evidence"} <= set(found)
        assert 0 <= found["score"] <= 1 and found["label"] in ("match", "related", "none")
        [evidence] = found["evidence"]
        assert set(evidence) == {"input_sentence", "case_sentence", "score", "at"} and evidence["at"] is None
        assert evidence["input_sentence"] in COUP_TEXT
    best = matches[0]["evidence"][0]
    assert best["case_sentence"] == case["title"] or best["case_sentence"] in case["summary"]
    assert [m["label"] for m in matches[1:]].count("match") == 0  # only the best can be the claim


def test_match_text_output_and_options(seeded_cli: Cli) -> None:
    result = invoke(seeded_cli.db, "match", COUP_TEXT)
    assert result.exit_code == 0, result.stderr
    assert KAZAKH_COUP in flat(result.stdout) and "related" in result.stdout
    best = strict_json(invoke(seeded_cli.db, "match", COUP_TEXT, "--json", "-n", "1").stdout)["matches"]
    assert [m["title"] for m in best] == [KAZAKH_COUP]
    only = strict_json(invoke(seeded_cli.db, "match", COUP_TEXT, "--json", "--min-label", "related").stdout)
    assert [m["title"] for m in only["matches"]] == [KAZAKH_COUP]
    own_title = strict_json(invoke(seeded_cli.db, "match", KAZAKH_COUP, "--json", "--min-label", "match").stdout)
    assert [m["title"] for m in own_title["matches"]] == [KAZAKH_COUP]
    # Only one seed case has a date (2022-01-08); date filters leave out undated cases.
    dated = strict_json(invoke(seeded_cli.db, "match", COUP_TEXT, "--json", "--since", "2022-01-08").stdout)
    assert [m["title"] for m in dated["matches"]] == [
        "Kazakhstan’s destabilisation attempts to obstruct EEU membership and China’s new Silk Road"]
    later = strict_json(invoke(seeded_cli.db, "match", COUP_TEXT, "--json", "--since", "2022-01-09").stdout)
    assert later == {"matches": []}
    none = invoke(seeded_cli.db, "match", COUP_TEXT, "--keyword", "no such keyword")
    assert none.exit_code == 0 and "No matching case." in none.stdout
    wrong = invoke(seeded_cli.db, "match", COUP_TEXT, "--min-label", "best")  # a usage error: exit 2, the choices
    assert wrong.exit_code == 2 and "--min-label" in flat(wrong.stderr) and "'best' is not one of" in flat(wrong.stderr)
    assert_clean_error(invoke(seeded_cli.db, "match", COUP_TEXT, "--model", "gpt"), "unknown model")


def test_match_reads_standard_input_and_files(seeded_cli: Cli, tmp_path: Path) -> None:
    expected = strict_json(invoke(seeded_cli.db, "match", COUP_TEXT, "--json").stdout)
    piped = invoke(seeded_cli.db, "match", "-", "--json", stdin=COUP_TEXT)
    assert piped.exit_code == 0, piped.stderr
    assert strict_json(piped.stdout) == expected
    no_argument = invoke(seeded_cli.db, "match", "--json", stdin=COUP_TEXT)
    assert strict_json(no_argument.stdout) == expected
    text_file = tmp_path / "article.txt"
    text_file.write_text(COUP_TEXT, encoding="utf-8")
    from_file = invoke(seeded_cli.db, "match", "--file", str(text_file), "--json")
    assert from_file.exit_code == 0, from_file.stderr
    assert strict_json(from_file.stdout) == expected


def test_match_missing_file_is_a_clean_error(seeded_cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    assert_clean_error(invoke(seeded_cli.db, "match", "--file", str(missing)), str(missing), "no such file")


@pytest.mark.parametrize(("args", "stdin"), [
    (["match", ""], None),
    (["match", " \n\t "], None),
    (["match", "-"], ""),
    (["match"], "\n\n"),
    (["match", "https://t.co/abc"], None),
])
def test_match_empty_text_is_a_clean_error(seeded_cli: Cli, args: list[str], stdin: str | None) -> None:
    result = invoke(seeded_cli.db, *args, stdin=stdin)
    assert_clean_error(result, "no words to match")


def test_match_on_an_empty_database(cli: Cli) -> None:
    result = invoke(cli.db, "match", COUP_TEXT, "--json")
    assert result.exit_code == 0, f"{result.exception!r}"
    assert strict_json(result.stdout) == {"matches": []}


def test_related_json(seeded_cli: Cli) -> None:
    ids = seed_ids(seeded_cli)
    case_id = ids[KAZAKH_COUP]
    result = invoke(seeded_cli.db, "related", case_id, "--json", "-n", "2")
    assert result.exit_code == 0, result.stderr
    found = strict_json(result.stdout)
    assert found["case_id"] == case_id
    assert len(found["related"]) == 2
    assert case_id not in [r["case_id"] for r in found["related"]]
    scores = [r["score"] for r in found["related"]]
    assert scores == sorted(scores, reverse=True)
    assert all(ids[r["title"]] == r["case_id"] and -1 <= r["similarity"] <= r["score"] and r["reasons"]
               for r in found["related"])
    text = invoke(seeded_cli.db, "related", case_id, "-n", "2")
    assert text.exit_code == 0 and found["related"][0]["case_id"] in flat(text.stdout)
    assert_clean_error(invoke(seeded_cli.db, "related", "no-such-case"), "no-such-case")


def test_related_lists_only_the_other_cases(seeded_cli: Cli) -> None:
    case_id = seed_ids(seeded_cli)[KAZAKH_COUP]
    result = invoke(seeded_cli.db, "related", case_id, "--json")  # the limit (10) is above the 3 others
    assert result.exit_code == 0, result.stderr
    related = strict_json(result.stdout)["related"]
    assert case_id not in [r["case_id"] for r in related]
    assert len(related) == 3


def near_copy_file(tmp_path: Path, cli: Cli, title: str) -> Path:
    """A JSON Lines file with the seed case `title` reported again: reworded, another date."""
    [case] = [c for c in cli.state()[2] if c["title"] == title]
    copy = {"title": "Unrest in Kazakhstan is an American attempt to pull Russia into new wars",
            "summary": case["summary"], "disproof": "Reported again.", "published": "2022-02-01"}
    unrelated = {"title": "Greek salad with feta", "summary": "Cut tomatoes, cucumbers and onions; "
                 "add olives, feta and olive oil.", "disproof": "Not a claim.", "published": "2022-02-01"}
    path = tmp_path / "again.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (copy, unrelated)), encoding="utf-8")
    return path


def test_import_warns_about_near_duplicates(seeded_cli: Cli, tmp_path: Path) -> None:
    again = near_copy_file(tmp_path, seeded_cli, KAZAKH_UNREST)
    original = seed_ids(seeded_cli)[KAZAKH_UNREST]
    result = invoke(seeded_cli.db, "import", str(again))
    assert result.exit_code == 0, result.stderr
    assert "2 created" in flat(result.stdout)
    copy_id = seed_ids(seeded_cli)["Unrest in Kazakhstan is an American attempt to pull Russia into new wars"]
    warnings = [line for line in result.stderr.splitlines() if "near-duplicate" in line]
    assert len(warnings) == 1
    assert f"{copy_id} repeats {original}" in warnings[0]


def test_import_json_lists_near_duplicates(seeded_cli: Cli, tmp_path: Path) -> None:
    again = near_copy_file(tmp_path, seeded_cli, KAZAKH_UNREST)
    report = seeded_cli.json("import", str(again))
    assert report["created"] == 2 and report["cases"] == 6
    ids = seed_ids(seeded_cli)
    [near] = report["near_duplicates"]
    assert (near["case_id"], near["similar_to"]) == (
        ids["Unrest in Kazakhstan is an American attempt to pull Russia into new wars"], ids[KAZAKH_UNREST])
    assert NEAR_DUPLICATE <= near["score"] <= 1.0001
    # Importing the same file again changes nothing, so there is nothing to warn about.
    assert seeded_cli.json("import", str(again))["near_duplicates"] == []


def test_import_without_the_near_duplicate_check(seeded_cli: Cli, tmp_path: Path) -> None:
    again = near_copy_file(tmp_path, seeded_cli, KAZAKH_UNREST)
    result = invoke(seeded_cli.db, "import", str(again), "--no-near-duplicates")
    assert result.exit_code == 0, result.stderr
    assert "near-duplicate" not in result.stderr
    report = strict_json(invoke(seeded_cli.db, "import", str(again), "--dry-run", "--json").stdout)
    assert report["near_duplicates"] == []


def test_missing_model(seed_path: Path, tmp_path: Path) -> None:
    """Without the weights, import still works (the check is skipped, with a note) and
    match says how to get them."""
    env: dict[str, str | None] = {"DISINFODB_MODELS": str(tmp_path / "no-models")}
    db = tmp_path / "db.sqlite"
    load_embedder.cache_clear()  # models load once per process: forget the loaded ones
    try:
        imported = invoke(db, "import", str(seed_path), env=env)
        assert imported.exit_code == 0, imported.stderr
        assert "4 created" in flat(imported.stdout)
        assert "near-duplicate check skipped" in flat(imported.stderr)
        assert "disinfodb models fetch" in flat(imported.stderr)
        assert_clean_error(invoke(db, "match", COUP_TEXT, env=env), "disinfodb models fetch")
        assert_clean_error(invoke(db, "related", "any-case", env=env), "disinfodb models fetch")
    finally:
        load_embedder.cache_clear()


def test_models_fetch_when_the_weights_are_there() -> None:
    """`models fetch` checks the sha256 of the weights it has and downloads nothing."""
    result = model_runner.invoke(app, ["models", "fetch"])
    assert result.exit_code == 0, result.stderr
    assert "use-m weights ready" in flat(result.stdout)
    assert str(models_dir() / "embedding_model_quantized.onnx") in flat(result.stdout)


def test_commands_that_embed_say_what_they_embed(cli: Cli, seed_path: Path) -> None:
    """Off a terminal (logs, CI) a line at the start and the end of each model's embedding:
    the import embeds with use-m (its near-duplicate check), the first `related` with e5."""
    imported = invoke(cli.db, "import", str(seed_path))
    assert imported.exit_code == 0, imported.stderr
    assert "embedding the claims of 4 cases with use-m" in flat(imported.stderr)
    case_id = cli.json("search", "Kazakhstan", "--mode", "words")["results"][0]["id"]
    first = invoke(cli.db, "related", case_id)
    assert first.exit_code == 0, first.stderr
    said = flat(first.stderr)
    assert "embedding the claims of 4 cases with e5-small" in said and "embedded 4 cases with e5-small in" in said
    assert "use-m" not in said  # cached by the import
    again = invoke(cli.db, "related", case_id)
    assert again.exit_code == 0 and "embedding" not in again.stderr


def test_match_takes_a_context_for_transcripts(seeded_cli: Cli) -> None:
    interview = "HOST: Welcome back.\nGUEST: It was all planned in advance.\nGUEST: " + COUP_TEXT + "\n"
    plain = strict_json(invoke(seeded_cli.db, "match", interview, "--json", "--context", "0").stdout)
    joined = strict_json(invoke(seeded_cli.db, "match", interview, "--json", "--context", "2").stdout)
    assert plain["matches"][0]["title"] == joined["matches"][0]["title"] == KAZAKH_COUP
    assert "GUEST" not in plain["matches"][0]["evidence"][0]["input_sentence"]  # speakers are not matched
    too_far = invoke(seeded_cli.db, "match", interview, "--context", "9")
    assert too_far.exit_code == 2 and "--context" in flat(too_far.stderr)
