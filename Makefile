# The two commands a newcomer runs: `make demo` and `make test`. Both install into .venv.
PYTHON ?= python3
VENV ?= .venv
DATA ?= ../shared/data
BIN = $(VENV)/bin

.PHONY: demo test test-slow lint bench-ingest clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/podseek ingest listennotes $(DATA)/listennotes-dec2017
	$(BIN)/podseek catalog stats

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PODSEEK_DATA_DIR=$(abspath $(DATA)) $(BIN)/pytest

test-slow: $(BIN)/.installed
	PODSEEK_DATA_DIR=$(abspath $(DATA)) $(BIN)/pytest -m slow

bench-ingest: $(BIN)/.installed
	$(BIN)/python benchmarks/ingest_throughput.py --data $(DATA)

clean:
	rm -rf $(VENV) podseek-data .pytest_cache .ruff_cache
