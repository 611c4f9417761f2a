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

# An independent C2SP witness and tiles client for the audit log's tests (DESIGN §9): aics-witness
# and aics-tlog from PyPI need Python 3.12+, so they get their own virtual environment; the
# tests run them as separate processes. WITNESS_PYTHON: any Python 3.12+ (pyenv's, if present).
WITNESS_VENV := .venv-witness
WITNESS_PYTHON ?= $(firstword $(shell command -v python3.13 python3.12 2>/dev/null | \
	while read p; do "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null \
	&& echo "$$p"; done) $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3))
WITNESS_TOOLS := aics-witness==0.1.0 aics-tlog==0.2.1

$(WITNESS_VENV)/.installed: Makefile
	@if [ -z "$(WITNESS_PYTHON)" ]; then echo "no Python 3.12+ for the witness tests"; \
	else $(WITNESS_PYTHON) -m venv $(WITNESS_VENV) && \
	$(WITNESS_VENV)/bin/pip install --quiet $(WITNESS_TOOLS) && touch $@; fi

# HL7's own FHIR R5 definitions and terminology (JSON schema, value sets, code systems), from the
# npm registry where HL7 publishes its FHIR packages: the FHIR export is checked against them as
# an independent validator. Only the files the tests read are unpacked.
FHIR_PACKAGES := .fhir-packages
FHIR_CORE := hl7.fhir.r5.core@5.0.0
FHIR_TERMINOLOGY := hl7.terminology.r5@7.0.1
FHIR_CORE_FILES := package/openapi/fhir.schema.json package/StructureDefinition-Consent.json \
	package/ValueSet-consent-state-codes.json package/ValueSet-consent-provision-type.json \
	package/ValueSet-participation-role-type.json package/CodeSystem-consent-state-codes.json \
	package/CodeSystem-consent-provision-type.json
FHIR_TERMINOLOGY_FILES := package/CodeSystem-v3-ActReason.json \
	package/ValueSet-v3-PurposeOfUse.json package/CodeSystem-v3-ParticipationType.json \
	package/CodeSystem-v3-Confidentiality.json package/CodeSystem-v3-ActCode.json \
	package/CodeSystem-consentaction.json

$(FHIR_PACKAGES)/.installed: Makefile
	rm -rf $(FHIR_PACKAGES) && mkdir -p $(FHIR_PACKAGES)/core $(FHIR_PACKAGES)/terminology
	cd $(FHIR_PACKAGES) && npm pack --silent $(FHIR_CORE) $(FHIR_TERMINOLOGY) >/dev/null
	tar xzf $(FHIR_PACKAGES)/hl7.fhir.r5.core-*.tgz -C $(FHIR_PACKAGES)/core $(FHIR_CORE_FILES)
	tar xzf $(FHIR_PACKAGES)/hl7.terminology.r5-*.tgz -C $(FHIR_PACKAGES)/terminology \
		$(FHIR_TERMINOLOGY_FILES)
	rm -f $(FHIR_PACKAGES)/*.tgz && touch $@

## test: every test, on SQLite and PostgreSQL (REQUIRE_POSTGRES=1: no PostgreSQL is a failure)
test: $(VENV)/.installed-dev $(WITNESS_VENV)/.installed $(FHIR_PACKAGES)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check broker consent audit tests bench
	$(BIN)/mypy consent audit broker

clean:
	rm -rf $(VENV) $(WITNESS_VENV) $(FHIR_PACKAGES) .pytest_cache .mypy_cache .ruff_cache
