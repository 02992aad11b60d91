# srceval: reproducible evaluation of the SRC trial. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help report test notebooks bench data check-pdf-libs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "error: Python 3.11 is required (found $$($(PYTHON) --version 2>&1)); set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	$(BIN)/python -m helpers.pipeline.kernel > /dev/null
	@touch $(STAMP)

check-pdf-libs: ## check the system libraries the PDF step needs (Pango)
	@ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' && ldconfig -p | grep -q 'libpangoft2-1.0.so' || \
	  { echo "error: the PDF report needs the Pango library. On Debian/Ubuntu: sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0"; exit 1; }

# Another extract: make report ALLOCATION=log.xlsx EXTRACT=extract.csv OUT=reports/other [PARAMS=run.yml]
RUN_ARGS := $(if $(ALLOCATION),--allocation "$(ALLOCATION)") $(if $(EXTRACT),--extract "$(EXTRACT)") \
            $(if $(OUT),--out "$(OUT)") $(if $(PARAMS),--params "$(PARAMS)") $(if $(AUDIENCE),--audience "$(AUDIENCE)") \
            $(if $(ALLOCATION_SHEET),--allocation-sheet "$(ALLOCATION_SHEET)") \
            $(if $(EXTRACT_SHEET),--extract-sheet "$(EXTRACT_SHEET)")

report: $(STAMP) check-pdf-libs ## run the evaluation (shipped data unless ALLOCATION=, EXTRACT=, OUT=, PARAMS= are given)
	$(BIN)/srceval run $(RUN_ARGS)

test: $(STAMP) check-pdf-libs ## lint, then run every test: unit, end to end, browser, and nbval over the notebooks
	$(BIN)/ruff check src tests benchmarks conftest.py
	$(BIN)/python -m pytest

notebooks: $(STAMP) ## re-execute the committed notebooks so their outputs are the reference run's
	$(BIN)/python -m helpers.pipeline.refresh

# make bench BENCH_ARGS=--tests also times the test suite; BENCH_ARGS="--sizes 25000" skips the million
bench: $(STAMP) check-pdf-libs ## time the pipeline and a refusal against the cost of importing the stages' libraries
	$(BIN)/python benchmarks/run_benchmarks.py $(BENCH_ARGS)

data: $(STAMP) ## regenerate the shipped synthetic extract in data/raw/ and the synthetic roll-out in data/raw/rollout/
	$(BIN)/srceval simulate --out data/raw --force
	$(BIN)/srceval simulate --rollout --out data/raw/rollout --force

clean: ## remove generated reports and processed data (keeps .venv)
	rm -rf reports/* data/processed/*.parquet data/processed/*.csv
