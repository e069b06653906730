# The two commands: `make run` (embedded default, demo data) and `make test` (whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

run: install
	bash scripts/run.sh

test: install
	bash scripts/test.sh

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install
	$(PY) -m bench $(BENCH)
