# Two commands: `make test` and `make demo`. Both install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo demo-stop deps lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[agent,hub,dev]'
	touch $(STAMP)

# mosquitto, PostgreSQL and Chromium come from Debian's packages; tests start their own
# instances (Playwright drives /usr/bin/chromium: `playwright install` cannot download here).
deps:
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
	   || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	   || [ ! -x /usr/bin/chromium ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto postgresql chromium; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) deps lint
	$(BIN)/pytest

demo: $(STAMP) deps
	$(BIN)/python deploy/demo.py

demo-stop: $(STAMP)
	$(BIN)/python deploy/demo.py --stop

bench: $(STAMP) deps
	$(BIN)/python bench/decode_bench.py
	$(BIN)/python bench/agent_bench.py
	$(BIN)/python bench/e2e_bench.py
	$(BIN)/python bench/recall_bench.py
	$(BIN)/python bench/api_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
