# Two commands: `make run` (set up, build the demo database, search it) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared
DB     ?= disinfodb.sqlite
DEMO_FILES := $(wildcard $(SHARED)/seeds/*.txt) $(wildcard $(SHARED)/data/*/cases.csv)

.PHONY: setup run demo-db test lint bench browser postgres

$(BIN)/disinfodb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/disinfodb models fetch
	touch $@

setup: $(BIN)/disinfodb

# Importing is idempotent: a second run reports every case as unchanged. The demo's first
# search (by words and meaning) embeds the 13,665 cases with the default pair, once (about
# 70 s, with a progress bar).
demo-db: setup
	$(BIN)/disinfodb import --db $(DB) $(DEMO_FILES)

PORT ?= 8000
# A local editor account so the demo's editor pages can be tried (127.0.0.1 only).
DEMO_USER ?= demo
DEMO_PASSWORD ?= demo-editor

run: demo-db
	$(BIN)/disinfodb stats --db $(DB)
	$(BIN)/disinfodb search --db $(DB) "colour revolution" --per-page 5
	$(BIN)/disinfodb search --db $(DB) "НАТО готовит переворот" --mode meaning --per-page 3
	$(BIN)/disinfodb search --db $(DB) --country Kazakhstan --keyword coronavirus --per-page 3
	$(BIN)/disinfodb match --db $(DB) -n 3 \
	  "Взрывы на складе боеприпасов в Виннице устроили сами украинские военные, чтобы скрыть кражу оружия."
	$(BIN)/disinfodb narratives build --db $(DB)
	$(BIN)/disinfodb narratives list --db $(DB) -n 8
	$(BIN)/disinfodb narratives trend --db $(DB) --keyword "Sergei Skripal" --period year
	$(BIN)/disinfodb review 82 --db $(DB) --out review-82.md && head -n 30 review-82.md
	$(BIN)/disinfodb user list --db $(DB) --json | grep -q '"$(DEMO_USER)"' || \
	  echo '$(DEMO_PASSWORD)' | $(BIN)/disinfodb user add $(DEMO_USER) --role editor --password-stdin --db $(DB)
	@echo "Open http://127.0.0.1:$(PORT)/ - sign in as $(DEMO_USER) / $(DEMO_PASSWORD) to edit and import."
	$(BIN)/disinfodb serve --db $(DB) --port $(PORT)

# The browser tests drive Debian's Chromium (never a downloaded one); install it if missing.
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The PostgreSQL tests start their own throwaway server (tests/pg_cluster.py) from the server binaries:
# initdb, pg_ctl and postgres on PATH or in Debian's /usr/lib/postgresql/<version>/bin. Install them if missing.
postgres:
	@{ command -v initdb && command -v pg_ctl && command -v postgres; } >/dev/null 2>&1 || \
	  ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl /usr/lib/postgresql/*/bin/postgres \
	    >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; }

lint: setup
	$(BIN)/ruff check disinfodb tests bench
	$(BIN)/mypy

test: lint browser postgres
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m bench.import_search
	$(BIN)/python -m bench.import_memory
	$(BIN)/python -m bench.retrieval
	$(BIN)/python -m bench.verdicts
	$(BIN)/python -m bench.transcripts
	$(BIN)/python -m bench.first_index
	$(BIN)/python -m bench.e5_speed
	$(BIN)/python -m bench.match_speed
	$(BIN)/python -m bench.web_pages
	$(BIN)/python -m bench.narratives
