# The two commands:  make demo  (install, then run the pipeline on the demo corpus)
#                    make test  (install, then lint and run the test suite)
PYTHON ?= python3
VENV ?= .venv
CORES ?= 8
BIN := $(VENV)/bin

.PHONY: demo test lint bench venv clean-results

venv: $(VENV)/.installed

# torch first, pinned: a CPU build of this version may be on local disk, and any looser
# spec pulled by a dependency would download a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1

test: venv lint
	$(BIN)/python -m pytest -q

# The workflow by Snakemake's linter (the default config.yaml), the code by ruff (pyproject's [tool.ruff]).
lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(BIN)/python benchmarks/models.py

clean-results:
	rm -rf results .snakemake
