# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
# Needed first: Python 3.11+ with its venv module, make, bash and network access to the package
# registries. Set-up installs the Python packages into .venv (no root): the product, tap-optimizer
# with its test extra, and beside it the stand-ins the demo and the tests run, tap-optimizer-local
# (local/), both editable. It installs the Debian packages below with apt-get, which needs root:
# run as another user, it names what to install instead.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages (each installs the command of its name): the real Prometheus server (the demo
# and the tests); headless Chromium (the dashboard's browser test) and skopeo (reads the Function
# package's OCI layout), for the tests only.
DEMO_DEBS := prometheus
TEST_DEBS := prometheus chromium skopeo

.PHONY: setup system-deps demo-deps test lint demo bench clean manifests package

# The Debian packages are checked first: a user who must install them hears it at once.
setup: system-deps $(STAMP)

system-deps:
	@scripts/debian-deps.sh $(TEST_DEBS)

demo-deps:
	@scripts/debian-deps.sh $(DEMO_DEBS)

$(STAMP): pyproject.toml local/pyproject.toml scripts/install-helm.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -e ./local
	scripts/install-helm.sh $(VENV)
	touch $(STAMP)

# The tests validate every object against the upstream CRD schemas kept beside the clone.
test: setup
	@test -d ../shared/schemas || { echo "../shared/schemas is missing: the tests validate against the upstream CRD schemas there (see its SOURCES.md)" >&2; exit 1; }
	$(BIN)/python -m pytest -q --durations=20 tests/unit tests/integration tests/e2e

lint: setup
	$(BIN)/ruff check operator local tests
	$(BIN)/yamllint --strict .
	$(BIN)/lint-imports
	$(BIN)/mypy operator/tap_optimizer/plan operator/tap_optimizer/targets operator/tap_optimizer/gates/evaluate.py operator/tap_optimizer/gates/run.py \
	  operator/tap_optimizer/gates/provider.py operator/tap_optimizer/metrics.py operator/tap_optimizer/dashboard/data.py \
	  operator/tap_optimizer/dashboard/tables.py operator/tap_optimizer/dashboard/backtest.py local/tap_optimizer_local/progress.py \
	  operator/tap_optimizer/gates/backtest.py operator/tap_optimizer/gitops operator/tap_optimizer/plugin/tree.py \
	  operator/tap_optimizer/plugin/actions.py operator/tap_optimizer/notifications/transitions.py \
	  operator/tap_optimizer/notifications/messages.py operator/tap_optimizer/notifications/config.py \
	  operator/tap_optimizer/analysis/projection.py \
	  operator/tap_optimizer/analysis/options.py operator/tap_optimizer/analysis/fleet_sizing.py \
	  operator/tap_optimizer/analysis/facts.py operator/tap_optimizer/analysis/rules/sizing.py \
	  operator/tap_optimizer/analysis/rules/fleet.py operator/tap_optimizer/analysis/rules/cache.py \
	  operator/tap_optimizer/analysis/rules/registry.py \
	  operator/tap_optimizer/adoption operator/tap_optimizer/platform/keyed.py operator/tap_optimizer/analysis/gate_bounds.py \
	  operator/tap_optimizer/aws_refresh.py

bench: setup
	$(BIN)/python -m pytest -q -s tests/bench

demo: demo-deps $(STAMP)
	$(BIN)/tap-optimizer demo

# The Function package's layer as an OCI image layout in dist/function-xpkg (no registry needed);
# the release workflow builds the installable package with the runtime image embedded.
package: $(STAMP)
	$(BIN)/python scripts/xpkg.py --out dist/function-xpkg

# The chart's copies of the CRD and Crossplane files, and manifests/operator/ from the chart.
manifests: setup
	$(BIN)/python scripts/manifests.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
