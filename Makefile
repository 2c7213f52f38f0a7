# mpilda: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RANKS ?= 2
MPIRUN := mpirun --oversubscribe
# Open MPI refuses to run as root without these (containers and CI run as root).
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export MPLBACKEND := Agg
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test test-serial test-mpi demo docs clean

setup:
	@bash tools/setup.sh

test: setup
	$(MAKE) --no-print-directory test-serial test-mpi

test-serial:
	$(PY) -m pytest -q tests --ignore=tests/mpi

# Each MPI test session runs under a timeout so that a hang fails instead of blocking CI.
test-mpi:
	@set -e; for k in 1 2 3 4; do \
	  echo "== MPI tests on $$k ranks =="; \
	  timeout 900 $(MPIRUN) -n $$k $(PY) -m pytest -q -p no:cacheprovider --with-mpi tests/mpi; \
	done

demo: setup
	@bash tools/demo.sh

docs: setup
	$(PY) -m mpilda.config > docs/config.md

clean:
	rm -rf demo-output .pytest_cache
