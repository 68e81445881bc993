# pgseek developer tasks. `make demo` and `make test` work from a fresh clone: they set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test test-all lint format bench clean

setup: $(STAMP)

# torch first, pinned: this version comes from a local CPU build; any other torch pulls gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	@# PgBouncer (Debian package) for the transaction-pooling tests; installed when we may, else we say how.
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer; \
	  else echo "note: install pgbouncer (sudo apt-get install pgbouncer) for tests/integration/test_pgbouncer.py"; fi
	@# Chromium (Debian package) for the web page tests (Playwright drives it; no browser download).
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "note: install chromium (sudo apt-get install chromium) for tests/integration/api/test_web.py"; fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

demo: setup
	$(BIN)/pgseek demo

test: setup
	$(BIN)/pytest -m "not slow" -q

test-all: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src tests bench examples

format: setup
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

bench: setup
	$(BIN)/pip install --quiet -e ".[dev,bench,peers]"
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
