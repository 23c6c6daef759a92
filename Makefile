# The two commands a newcomer needs:
#   make run    set everything up, then run the whole pipeline on the embedded defaults
#   make test   set everything up, then run the linters and the test suite
# Everything installs into .venv; nothing is installed system-wide except Debian packages the
# project needs, where the machine lacks them: a Java runtime (>= 17) for the Spark feature engine,
# and chromium + chromium-driver for the SHAP report's browser test.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
PIP_FLAGS := --disable-pip-version-check $(if $(CI),--quiet,)

.PHONY: run setup java chromium test lint pipeline bench clean

run: setup pipeline
	@echo
	@echo "Done. Outputs:"
	@echo "  data/raw/                    synthetic CRM tables (the data contract: docs/data-contract.md)"
	@echo "  data/truth/                  ground truth of the synthetic world"
	@echo "  data/validation/report.json  validation report (row counts, date ranges, null rates)"
	@echo "  data/models/                 registered model versions, promotion decision (MLflow: mlflow ui)"
	@echo "  evaluation/                  DVC metrics and plots (dvc metrics show, dvc plots show)"
	@echo "  reports/shap_report.html     SHAP report for analysts (also on the champion's MLflow run)"
	@echo "  data/offers/crm_import.csv   who gets which offer, control group, expected gain, reasons"
	@echo
	@echo "Serve: CHURN_API_KEYS=<key> .venv/bin/churn serve   (README: The scoring service)"

setup: java chromium $(VENV)/.installed

# Spark (features.engine: spark, and the Spark parity tests) needs Java >= 17. Keep a suitable one;
# otherwise install Debian's headless JRE (needs root and apt-get, as on the project's machines).
JAVA_OK := java -version 2>&1 | awk -F'"' '/version/ {split($$2, v, "."); ok = (v[1] >= 17)} END {exit !ok}'
java:
	@if $(JAVA_OK); then exit 0; fi; \
	echo "Java >= 17 not found; installing openjdk-17-jre-headless with apt-get"; \
	command -v apt-get >/dev/null || { echo "apt-get not available: install Java >= 17 yourself" >&2; exit 1; }; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; \
	$(JAVA_OK) || { echo "Java >= 17 still not found after installing it" >&2; exit 1; }

# The SHAP report's browser test (tests/e2e/test_shap_report_browser.py) drives headless Chromium
# through chromedriver: Debian's packages, installed once when either is missing.
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	echo "chromium or chromedriver not found; installing Debian's chromium and chromium-driver"; \
	command -v apt-get >/dev/null || { echo "apt-get not available: install chromium and chromedriver yourself" >&2; exit 1; }; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { echo "chromium still not found after installing it" >&2; exit 1; }

# constraints.txt pins every package to the versions the committed outputs were made with.
$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev]'
	touch $@

pipeline: setup
	$(BIN)/dvc repro
	$(BIN)/dvc status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Test files run in parallel processes (pytest-xdist), one per logical CPU: most test time is
# single-threaded Python. A whole file goes to one process, so its module fixtures are built once.
# PYTEST_WORKERS=0 runs every test in one process (e.g. for --pdb).
PYTEST_WORKERS ?= logical
test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

bench: setup
	$(BIN)/python benchmarks/bench_generate.py

# Removes what the pipeline generated (data/ but its README, reports/) and DVC's cache. Keeps
# dvc.lock (tracked in git), the MLflow store (shared state across runs) and evaluation/ (in git);
# `make run` then rebuilds everything.
clean:
	find data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf reports .dvc/cache .dvc/tmp
