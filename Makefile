# The two commands a newcomer needs:
#   make run    set everything up, then run the whole pipeline on the embedded defaults
#   make test   set everything up, then run the linters and the test suite
# Everything installs into .venv; nothing is installed system-wide except Debian packages the
# project needs (none yet).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
PIP_FLAGS := --disable-pip-version-check $(if $(CI),--quiet,)

.PHONY: run setup test lint pipeline bench clean

run: setup pipeline
	@echo
	@echo "Done. Outputs:"
	@echo "  data/raw/                    synthetic CRM tables (the data contract: docs/data-contract.md)"
	@echo "  data/truth/                  ground truth of the synthetic world"
	@echo "  data/validation/report.json  validation report (row counts, date ranges, null rates)"

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev]'
	touch $@

pipeline: setup
	$(BIN)/dvc repro
	$(BIN)/dvc status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf data/raw data/truth data/validation .dvc/cache .dvc/tmp dvc.lock
