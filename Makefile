# The two commands a newcomer runs: `make demo` and `make test`. Both install into .venv.
PYTHON ?= python3
VENV ?= .venv
DATA ?= ../shared/data
BIN = $(VENV)/bin

.PHONY: demo test test-slow chromium bench-ingest bench-encode bench-latency bench-query-engines bench-quality \
	bench-generate bench-serve bench-million bench-listener bench-backends bench-scale docs clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all,test]"
	touch $@

# The whole recipe on the Listen Notes catalog with --quick settings, then the server.
demo: $(BIN)/.installed
	$(BIN)/podseek pipeline listennotes $(DATA)/listennotes-dec2017 --quick --serve

# The browser tests drive Debian's Chromium (a Playwright browser download fails offline);
# without it, or without root to install it, they skip and say why.
chromium:
	-@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# The speech recognition tests (podseek transcribe) synthesize their speech with Debian's
# espeak-ng; without it, or without root to install it, they skip and say why.
.PHONY: speech
speech:
	-@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q espeak-ng; }

test: $(BIN)/.installed chromium speech
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PODSEEK_DATA_DIR=$(abspath $(DATA)) $(BIN)/pytest

test-slow: $(BIN)/.installed
	PODSEEK_DATA_DIR=$(abspath $(DATA)) $(BIN)/pytest -m slow

bench-ingest: $(BIN)/.installed
	$(BIN)/python benchmarks/ingest_throughput.py --data $(DATA)

bench-encode: $(BIN)/.installed
	$(BIN)/python benchmarks/encode_throughput.py --data $(DATA)

bench-latency: $(BIN)/.installed
	$(BIN)/python benchmarks/index_latency.py --data $(DATA) --sizes real,100000,1000000 $(if $(MODEL),--model $(MODEL))

bench-query-engines: $(BIN)/.installed
	$(BIN)/python benchmarks/query_engines.py --data $(DATA)

bench-quality: $(BIN)/.installed
	$(BIN)/python benchmarks/zero_shot_quality.py --data $(DATA)

bench-serve: $(BIN)/.installed
	$(BIN)/python benchmarks/serve_load.py --home $(or $(HOME100K),/tmp/podseek-bench/serve-100k) --scale 100000 --data $(DATA) $(if $(WORKERS),--workers $(WORKERS))

# a million episodes (issue 17): the workspace once (the real episodes encoded, copies of them
# with vectors near their original's), then
# uncached searches through the serving snapshot and through LanceDB, one at a time and under
# 8 clients with the answer cache off, 1 and 2 workers
HOME1M ?= /tmp/podseek-bench/serve-1m
bench-million: $(BIN)/.installed
	$(BIN)/python benchmarks/serve_load.py --home $(HOME1M) --scale 1000000 --build-only --data $(DATA)
	$(BIN)/python benchmarks/search_parts.py --home $(HOME1M) --data $(DATA)
	for snapshot in true false; do for workers in 1 2; do \
		echo "# PODSEEK_SNAPSHOT=$$snapshot, $$workers worker(s), answer cache off"; \
		PODSEEK_SNAPSHOT=$$snapshot PODSEEK_ANSWER_CACHE_SIZE=0 $(BIN)/python benchmarks/serve_load.py \
			--home $(HOME1M) --data $(DATA) --workers $$workers --no-swap; \
	done; done
	PODSEEK_ANSWER_CACHE_SIZE=0 $(BIN)/python benchmarks/serve_load.py --home $(HOME1M) --data $(DATA)

# suggestions, did you mean, shows, more like this, date sort (issue 18) over the 100k workspace
bench-listener: $(BIN)/.installed
	$(BIN)/python benchmarks/listener_features.py --home $(or $(HOME100K),/tmp/podseek-bench/serve-100k) --data $(DATA)

bench-backends: $(BIN)/.installed
	$(BIN)/python benchmarks/backend_latency.py --sizes 10000,100000 --data $(DATA)

bench-generate: $(BIN)/.installed
	$(BIN)/python benchmarks/generation_throughput.py --data $(DATA) $(if $(N),--n $(N))

# Throughput of encode / train / generate on every device found (the CPU; CUDA when there is
# one), then in one process against a local Ray cluster of 2 CPU actors.
bench-scale: $(BIN)/.installed
	$(BIN)/python benchmarks/scale_throughput.py --data $(DATA) --out /tmp/podseek-bench/scale
	$(BIN)/python benchmarks/ray_throughput.py --data $(DATA)

clean:
	rm -rf $(VENV) podseek-data .pytest_cache .ruff_cache

# docs/settings.md is generated from the Settings model (tests/test_docs.py checks it is current).
docs: $(BIN)/.installed
	$(BIN)/python -m podseek.settings_doc > docs/settings.md
