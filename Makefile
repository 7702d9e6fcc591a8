# mndt-envs: `make demo` runs the main job on the bundled default city, `make test` runs the checks.
# Both create .venv on first use and install torch's CPU build first, then the package.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# one BLAS thread: small dense solves (BDBA's pseudo-inverse) are ~100x slower when 2 cores are oversubscribed
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: demo test lint typecheck unit docs bench install clean wheel

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,rllib]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mndt demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# the docs site (MkDocs + mkdocstrings) under runs/site; --strict fails on any warning (broken link, bad docstring)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q

test: lint typecheck unit docs

bench: $(STAMP)
	$(BIN)/python benchmarks/twin_kpis.py

# a wheel of mndt_envs under dist/ (install it with `pip install dist/mndt_envs-*.whl` after torch)
wheel: $(STAMP)
	$(BIN)/pip wheel --no-deps --no-build-isolation -q -w dist .
	@ls -1 dist/mndt_envs-*.whl

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
