# Tastemaker: `make run` serves the API with sample data; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= sqlite:///./tastemaker.db
HOST   ?= 127.0.0.1
PORT   ?= 8000
TM     := $(BIN)/tastemaker --database-url $(DB) --insecure-dev

.PHONY: run test lint pytest install install-test bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tastemaker needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: $(VENV)/.installed
	$(TM) init
	$(TM) demo-data --load
	$(TM) segment
	$(TM) train
	$(TM) serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint pytest

DATA ?= ../shared/data/ml-latest-small

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/accuracy.py --data $(DATA)
	$(BIN)/python bench/serve.py --data $(DATA)

clean:
	rm -rf $(VENV) tastemaker.db tastemaker.db-wal tastemaker.db-shm .mypy_cache .ruff_cache .pytest_cache .hypothesis
