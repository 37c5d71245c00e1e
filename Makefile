# Two commands do all the set-up: `make run` and `make test`.
# Each creates .venv with the pinned dependencies on first use and reuses it after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint schema bench clean-db

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

## Run the service: embedded PostgreSQL unless DATABASE_URL is set, migrations, reference + demo data, GraphQL on :8000
run: $(STAMP)
	$(BIN)/tcgraph up

## Run the whole test suite against a real PostgreSQL (embedded, or DATABASE_URL)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Fuzz the API (schemathesis, GraphQL mode) anonymous and as administrator on a fresh demo database;
## FUZZ_CASES per principal (tests/fuzz/run_fuzz.py); fails on any server error
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/run_fuzz.py

## Static checks: ruff (rules in pyproject.toml), the formatter's check, mypy on the typed packages
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Re-export schema.graphql after a reviewed schema change
schema: $(STAMP)
	$(BIN)/tcgraph export-schema > schema.graphql

bench: $(STAMP)
	$(BIN)/python bench/canonical_page.py

## Stop the embedded server and delete its data folder
clean-db: $(STAMP)
	$(BIN)/tcgraph db destroy
