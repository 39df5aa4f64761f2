# stockhold developer tasks. GNU make.
#
#   make venv    create .venv and install the project with dev extras
#   make run     migrate, seed the demo catalog, start web + worker + beat + Flower (honcho)
#   make test    run pytest against throwaway PostgreSQL + Redis (ARGS="-k foo")
#   make lint    ruff check, then lint-imports (the import contracts in pyproject.toml)
#   make soak    10 minutes of shoppers on the real processes, then an audit (RELIABILITY.md)
#   make clean   remove .tmp/

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
ARGS   ?=

.DEFAULT_GOAL := help

.PHONY: help venv run test lint bench soak clean

help:
	@echo "Targets:"
	@echo "  venv   create $(VENV) (PYTHON=$(PYTHON), needs >= 3.11) and pip install -e '.[dev]'"
	@echo "  run    migrate + seed_demo, then web (\$$PORT, 8000), worker, beat, Flower (\$$FLOWER_PORT, 5555)"
	@echo "         from the Procfile under honcho; one Ctrl-C stops all four"
	@echo "  test   pytest against throwaway PostgreSQL + Redis; extra pytest args via ARGS=\"...\""
	@echo "  lint   ruff check . and lint-imports (import contracts: pyproject.toml [tool.importlinter])"
	@echo "  bench  benchmarks against throwaway PostgreSQL (under 15 min), writes BENCHMARKS.md; ARGS=\"--quick\""
	@echo "  soak   shoppers through gunicorn + worker + beat on throwaway PostgreSQL + Redis, then an"
	@echo "         audit; 10 min, writes RELIABILITY.md; shorter: ARGS=\"--seconds 60\" (or SOAK_SECONDS)"
	@echo "  clean  remove .tmp/"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: '$(PYTHON)' not found; Python >= 3.11 is required (set PYTHON=/path/to/python3.11+)" >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
		echo "error: Python >= 3.11 is required, but '$(PYTHON)' is $$($(PYTHON) -c 'import platform; print(platform.python_version())')" >&2; \
		echo "       install a newer Python or run: make PYTHON=/path/to/python3.11 ..." >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[dev]'
	@touch $@

run: $(STAMP)
	./scripts/run.sh

test: $(STAMP)
	./scripts/test.sh $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(VENV)/bin/pip install -e '.[dev,bench]'
	@touch $@

bench: $(BENCH_STAMP)
	./scripts/bench.sh $(ARGS)

soak: $(STAMP)
	./scripts/soak.sh $(ARGS)

clean:
	rm -rf .tmp/
