# Two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.installed-core
TESTS := $(VENV)/.installed-test

.PHONY: run test test-fast lint setup clean pictures

# torch is pinned and installed first, from the CPU build on this machine's disk, so that
# resolving the package never pulls another (CUDA) build of it.
$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(CORE)

# the test extra adds pytest, hypothesis and the optional libraries the tests exercise
$(TESTS): $(CORE)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(TESTS)

setup: $(TESTS)

run: $(CORE)
	$(BIN)/gatedgcn train --out runs/default --overwrite

# the guard rails: lint, format and types of src/ and tests/, then every test
lint: $(TESTS)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# the fast subset (units and the quick integration tests): under a minute on a quiet machine
test-fast: $(TESTS)
	$(BIN)/python -m pytest -m "not slow"

# the README's pictures (docs/img): the default run, a GCN whose lr is halved several times, the gates
pictures: $(CORE)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[plot]'
	$(BIN)/gatedgcn train --out runs/default --overwrite --quiet
	$(BIN)/gatedgcn train --model gcn --lr 1e-3 --set train.lr_patience=2 --out runs/gcn-lr1e-3 --overwrite --quiet
	$(BIN)/gatedgcn plot runs/default runs/gcn-lr1e-3 --out docs/img/learning_curves
	$(BIN)/gatedgcn explain runs/default --gallery --out docs/img/gates.png
	$(BIN)/gatedgcn explain runs/default --gallery --relative --out docs/img/gates_relative.png

clean:
	rm -rf $(VENV) runs
