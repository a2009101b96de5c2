# Qorgau's two commands: `make run` (the whole stack on this machine) and `make test`.
# DEVELOPERS.md explains every target; `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# make test excludes tests marked `slow`; QORGAU_LONG=1 (or make test-long) includes them.
QORGAU_LONG ?=
export QORGAU_LONG
PYTEST_ARGS ?=
PYTEST_MARKERS := $(if $(filter 1,$(QORGAU_LONG)),,-m "not slow")

PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379

.PHONY: help install translations frontend frontend-required run test test-long bench bench-full lock \
        services postgres redis browser screenshots

help:
	@echo "make run        start web, worker and beat on http://localhost:8000 (Ctrl-C stops)"
	@echo "make test       install, start PostgreSQL and Redis if down, run the suite"
	@echo "make test-long  the same, including tests marked slow (QORGAU_LONG=1)"
	@echo "make install    create .venv and install with constraints.txt"
	@echo "make lock       rewrite constraints.txt from a clean install of pyproject.toml"
	@echo "make bench      run bench/run.py"
	@echo "make screenshots  run the browser scenario and write the README's screenshots to docs/screenshots/"
	@echo "PYTEST_ARGS='tests/test_health.py -k ready' make test   runs part of the suite"

install: $(STAMP) translations frontend

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

translations: $(STAMP)
	@if [ -d services/translations ]; then $(BIN)/pybabel compile -d services/translations; fi

# htmx and axe-core from npm, served by the app. Without npm the pages still work (no JavaScript
# enhancements); `make test` refuses to run without them because the browser tests need axe-core.
frontend:
	@if [ -f package.json ]; then \
	  if ! command -v npm >/dev/null; then \
	    echo "WARNING: npm is missing: pages run without htmx (make test needs it: install nodejs and npm)" >&2; \
	  elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	    npm ci --no-audit --no-fund; \
	  fi; \
	fi

frontend-required: frontend
	@test ! -f package.json || test -f node_modules/axe-core/axe.min.js || { \
	  echo "node_modules is missing: install Node.js and npm, then run make install (npm ci)" >&2; exit 1; }

# The lock is the freeze of a clean venv, so nothing installed by hand in .venv leaks into it.
lock:
	d=$$(mktemp -d) && trap 'rm -rf "$$d" build' EXIT && \
	$(PYTHON) -m venv "$$d" && \
	"$$d/bin/pip" install --quiet --disable-pip-version-check '.[test]' && \
	"$$d/bin/pip" freeze --exclude-editable --disable-pip-version-check | grep -v '^qorgau\b' > constraints.txt
	@echo "constraints.txt rewritten; review and commit it"

run: install
	$(BIN)/python -m services.devstack

test: install frontend-required services
	$(BIN)/pytest $(PYTEST_MARKERS) $(PYTEST_ARGS)

test-long:
	@$(MAKE) --no-print-directory test QORGAU_LONG=1

# The README's screenshots: the browser scenario on the demo world, its main pages written to
# docs/screenshots/ (tests/ui/conftest.py, README_SCREENSHOTS).
screenshots: install frontend-required services
	QORGAU_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/ui/test_end_to_end.py

bench: install
	@if [ -f bench/run.py ]; then \
	  $(BIN)/python bench/run.py $(BENCH_ARGS); \
	else \
	  echo "bench/run.py does not exist yet: no benchmarks to run"; \
	fi

bench-full: install
	$(BIN)/python bench/run.py --full $(BENCH_ARGS)

# --- the machine's services (DEVELOPERS.md, "Services") ---------------------------------------

services: postgres redis browser

postgres:
	@if pg_isready -q -h $(PG_HOST) -p $(PG_PORT); then \
	  echo "PostgreSQL: running on $(PG_HOST):$(PG_PORT)"; \
	else \
	  command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] || { \
	    echo "PostgreSQL is not running on $(PG_HOST):$(PG_PORT) and no Debian cluster is installed" >&2; exit 1; }; \
	  version=$$(ls /etc/postgresql | sort -V | tail -n1); \
	  echo "PostgreSQL: starting cluster $$version/main"; \
	  pg_ctlcluster --skip-systemctl-redirect $$version main start || true; \
	  for i in $$(seq 1 30); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 1; done; \
	  pg_isready -h $(PG_HOST) -p $(PG_PORT); \
	fi

redis:
	@if [ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping 2>/dev/null)" = PONG ]; then \
	  echo "Redis: running on $(REDIS_HOST):$(REDIS_PORT)"; \
	else \
	  command -v redis-server >/dev/null || { \
	    echo "Redis is not running on $(REDIS_HOST):$(REDIS_PORT) and redis-server is not installed" >&2; exit 1; }; \
	  echo "Redis: starting"; \
	  redis-server --daemonize yes --bind $(REDIS_HOST) --port $(REDIS_PORT) --save "" --appendonly no; \
	  for i in $$(seq 1 30); do [ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping 2>/dev/null)" = PONG ] && break; sleep 0.5; done; \
	  [ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping)" = PONG ]; \
	fi

# Browser tests drive Debian's Chromium; install it when missing rather than skip those tests.
browser:
	@if command -v chromium >/dev/null; then \
	  echo "Chromium: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "Chromium: installing Debian's chromium and chromium-driver"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  echo "Chromium: $$(command -v chromium)"; \
	else \
	  echo "WARNING: Chromium is missing and apt-get is unavailable: browser tests will fail" >&2; \
	fi
