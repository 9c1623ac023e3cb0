# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

ROWS     ?= 1000000

.PHONY: install run test bench loadtest clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

run: install
	$(BIN)/chatstats demo --rows $(ROWS)

test: install
	$(BIN)/pytest

bench: install
	$(BIN)/chatstats bench --rows $(ROWS)

clean:
	-$(BIN)/chatstats db stop
	rm -rf .chatstats
