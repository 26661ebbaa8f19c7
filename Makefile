# agentcron: `make run` starts the service on SQLite; `make test` runs the whole suite (lint, types, tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export AGENTCRON_DATABASE_URL ?= sqlite:///./data/agentcron.db

.PHONY: run test lint bench install install-test chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

tests/sdk/node_modules/.installed: tests/sdk/package.json tests/sdk/package-lock.json
	@if command -v npm >/dev/null; then cd tests/sdk && npm ci --silent --no-audit --no-fund && touch node_modules/.installed; \
	else echo "npm not found: the JS SDK conformance tests will skip (they fail under CI=true)"; fi

install: $(VENV)/.installed

# The browser tests drive Debian's chromium (never a browser download of Playwright's own).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "/usr/bin/chromium is missing and this is not root with apt-get: the browser tests will skip" \
		"(they fail under CI=true); install it with: sudo apt-get install chromium"; fi

install-test: $(VENV)/.installed-test tests/sdk/node_modules/.installed chromium

run: $(VENV)/.installed
	@mkdir -p data
	$(BIN)/agentcron migrate
	@echo "Create an account and its API secret (in another terminal):"
	@echo "  $(BIN)/agentcron account create my-team"
	$(BIN)/agentcron serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/api.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/write_floor.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/import_tasks.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/console_rows.py

clean:
	rm -rf $(VENV) tests/sdk/node_modules .mypy_cache .ruff_cache
