# Two commands: `make test` and `make demo`. Both install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test chaos demo demo-stop deps lint bench clean

$(STAMP): pyproject.toml
	@echo "Installing scantrail and its Python dependencies into $(VENV) (about a minute)..."
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[agent,hub,dev]'
	touch $(STAMP)

# axe-core checks the pages' accessibility in tests/browser; for tests only, from the npm
# registry at a pinned version (the hub serves nothing of it).
AXE_VERSION := 4.14.1
AXE := var/npm/axe-core/axe.min.js
$(AXE):
	mkdir -p var/npm
	cd var/npm && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
	  && rm -rf axe-core package && tar xzf axe-core-$(AXE_VERSION).tgz && mv package axe-core

# mosquitto, PostgreSQL, Chromium and nftables (the fault matrix's blackhole) come from
# Debian's packages; tests start their own instances (Playwright drives /usr/bin/chromium:
# `playwright install` cannot download here).
deps:
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
	   || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	   || [ ! -x /usr/bin/chromium ] || ! command -v npm >/dev/null 2>&1 \
	   || ! command -v nft >/dev/null 2>&1; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto postgresql chromium \
	    nftables $$(command -v npm >/dev/null 2>&1 || echo npm); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Two workers, each taking whole files: a file's tests share its servers and fixtures.
test: $(STAMP) deps lint $(AXE)
	$(BIN)/pytest -n 2 --dist loadfile

# The fault matrix (docs/reliability.md, which it rewrites) and the long runs (an offline
# day of 100,000 scans); make test runs a short subset of each.
chaos: $(STAMP) deps
	status=0; $(BIN)/python -m chaos.matrix --write || status=$$?; \
	  $(BIN)/pytest -m long && \
	  SCANTRAIL_GENERATED_INPUTS=2500 $(BIN)/pytest tests/hub/test_garbage_in.py && exit $$status

demo: $(STAMP) deps
	$(BIN)/python deploy/demo.py

demo-stop: $(STAMP)
	$(BIN)/python deploy/demo.py --stop

bench: $(STAMP) deps
	$(BIN)/python bench/decode_bench.py
	$(BIN)/python bench/agent_bench.py
	$(BIN)/python bench/e2e_bench.py --stations 200,500
	$(BIN)/python bench/e2e_bench.py --database postgresql --stations 200,500
	$(BIN)/python bench/recall_bench.py
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/cluster_bench.py
	$(BIN)/python bench/sterilizer_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
