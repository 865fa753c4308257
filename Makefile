# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps test lint demo bench clean manifests

setup: $(STAMP) system-deps

# The real Prometheus server runs in the tests and the demo, headless Chromium renders the dashboard (Debian's packages).
system-deps:
	@command -v prometheus >/dev/null || { \
	  echo "installing prometheus (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	@command -v chromium >/dev/null || { \
	  echo "installing chromium (Debian package; the dashboard's browser test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

$(STAMP): pyproject.toml scripts/install-helm.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	scripts/install-helm.sh $(VENV)
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q tests/unit tests/integration tests/e2e

lint: setup
	$(BIN)/ruff check operator tests
	$(BIN)/yamllint --strict .
	$(BIN)/lint-imports
	$(BIN)/mypy operator/tap_optimizer/plan operator/tap_optimizer/gates/evaluate.py operator/tap_optimizer/gates/run.py \
	  operator/tap_optimizer/gates/provider.py operator/tap_optimizer/metrics.py operator/tap_optimizer/dashboard/data.py \
	  operator/tap_optimizer/dashboard/tables.py operator/tap_optimizer/local/progress.py \
	  operator/tap_optimizer/gates/backtest.py operator/tap_optimizer/adoption

bench: setup
	$(BIN)/python -m pytest -q -s tests/bench

demo: setup
	$(BIN)/tap-optimizer demo

# The chart's copies of the CRD and Crossplane files, and manifests/operator/ from the chart.
manifests: setup
	$(BIN)/python scripts/manifests.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
