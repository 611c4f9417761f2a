# gbo-broker: `make run` starts the demo broker, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GBO_DATA_DIR ?= $(CURDIR)/var
GBO_PORT ?= 8000
GBO_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export GBO_TEST_POSTGRES_URL

.PHONY: run test lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

# The real OPA engine, in-process, for the policy parity tests. Its metadata asks for Python 3.14
# but it works on 3.11; it cannot be a normal dev dependency for that reason.
OPA_BINDINGS := opa-golib-python-bindings==0.4.4

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python $(OPA_BINDINGS)
	touch $@ $(VENV)/.installed-run

## run: set up the demo network under $(GBO_DATA_DIR) (once) and serve on 127.0.0.1:$(GBO_PORT)
run: $(VENV)/.installed-run
	GBO_DEMO=1 GBO_DATA_DIR=$(GBO_DATA_DIR) $(BIN)/gbo-broker demo
	GBO_DEMO=1 GBO_DATA_DIR=$(GBO_DATA_DIR) $(BIN)/gbo-broker serve --port $(GBO_PORT)

## test: every test, on SQLite and PostgreSQL (REQUIRE_POSTGRES=1: no PostgreSQL is a failure)
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check broker consent audit tests
	$(BIN)/mypy consent audit broker

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
