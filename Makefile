# edgewise: `make study` runs the default study, `make test` the test suite.
# Each sets up what it needs first (scripts/setup.sh: OS packages as root, .venv, torch CPU, edgewise).
.PHONY: setup study test test-all bench clean

# Set-up installs without byte-compiling (scripts/setup.sh): each module is compiled at its first
# import and cached, which an inherited PYTHONDONTWRITEBYTECODE would stop (every process would
# compile torch again).
unexport PYTHONDONTWRITEBYTECODE

VENV := .venv
EW := $(VENV)/bin/edgewise
PYTEST := $(VENV)/bin/pytest

setup:
	@bash scripts/setup.sh

study: setup
	$(EW) run examples/paper.yaml --out runs/default --profile quick

test: setup
	$(PYTEST) -q -m "not slow" -p no:cacheprovider

test-all: setup
	$(PYTEST) -q -p no:cacheprovider

bench: setup
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf runs .edgewise-cache .stamps
