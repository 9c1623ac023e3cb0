# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

ROWS     ?= 1000000

# `make loadtest`: see loadtests/README.md. ROWS defaults to 10M here (1M for run).
LOADTEST_ROWS := $(if $(filter file,$(origin ROWS)),10000000,$(ROWS))
DURATION   ?= 2m
USERS      ?= 20
WRITE_RATE ?= 100
P95_MS     ?= 1000
MIN_RPS    ?= 0
EXPORT_USERS ?= 0
SOURCE     ?=
STANDBY    ?=
LOADTEST_ARGS ?=

.PHONY: install run test schema-snapshot bench loadtest clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[demo,test]'
	touch $@

install: $(STAMP)

run: install
	$(BIN)/chatstats demo --rows $(ROWS)

test: install
	$(BIN)/pytest

schema-snapshot: install  # after adding a migration: record the schema (tests/schema_snapshot.txt)
	$(BIN)/pytest -q tests/test_migration_history.py --update-schema-snapshot

bench: install  # both data shapes (loadtests/bench.py's defaults); the embedded server unless DATABASE_URL
	$(if $(DATABASE_URL),,$(BIN)/chatstats db start > /dev/null)
	$(BIN)/python loadtests/bench.py

loadtest: install
	$(BIN)/python loadtests/run.py --rows $(LOADTEST_ROWS) --duration $(DURATION) --users $(USERS) \
		--write-rate $(WRITE_RATE) --p95-ms $(P95_MS) --min-rps $(MIN_RPS) \
		--export-users $(EXPORT_USERS) $(if $(SOURCE),--source $(SOURCE)) $(if $(STANDBY),--standby) \
		$(LOADTEST_ARGS)

clean:
	-$(BIN)/chatstats db stop
	rm -rf .chatstats
