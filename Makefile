# One entry point. `make demo` and `make test` work on a fresh machine with Python 3.11+ and the package registries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FIXTURES ?= ../shared/fixtures

.PHONY: setup demo test lint typecheck unit card schema-lock dev validate bench bench-quick clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	@bash scripts/demo.sh

test: setup lint typecheck unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

schema-lock: setup
	$(BIN)/commons schema-lock

card: setup
	$(BIN)/commons card

validate: setup
	$(BIN)/dagster definitions validate

dev: setup
	@mkdir -p data/dagster && cp dagster.yaml data/dagster/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/data/dagster $(BIN)/dagster dev

bench: setup
	$(BIN)/python -m bench

bench-quick: setup
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
