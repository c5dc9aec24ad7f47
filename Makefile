# The two commands:  make demo  (install, then run the pipeline on the demo corpus)
#                    make test  (install, then lint and run the test suite)
PYTHON ?= python3
VENV ?= .venv
CORES ?= $(shell nproc)
BIN := $(VENV)/bin

.PHONY: demo test lint bench venv system clean-results

venv: $(VENV)/.installed system

# Programs from Debian that the pipeline calls: ffmpeg (musdb/museval decode audio with it)
# and git-lfs (the DNS Challenge recipe). Installed when missing and run as root; otherwise
# one line says what to install.
SYSTEM_PROGRAMS := ffmpeg git-lfs
system:
	@missing=""; for p in $(SYSTEM_PROGRAMS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "sepflow needs:$$missing (Debian: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# torch first, pinned: a CPU build of this version may be on local disk, and any looser
# spec pulled by a dependency would download a multi-GB CUDA build.
# pyrnnoise (the rnnoise peer's library) without its dependencies: they pull audiolab and PyAV
# (+312 MB of FFmpeg) for a Python layer sepflow never imports (it loads the library by ctypes).
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps pyrnnoise==0.4.5
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1

# The suite on every core (one process per core, each test file on one of them: module fixtures
# such as a running Slurm are made once); most of a test's time is one process's Python and I/O.
test: venv lint
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The workflow by Snakemake's linter (the default config.yaml), the code by ruff (pyproject's [tool.ruff]).
lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(BIN)/python benchmarks/models.py

clean-results:
	rm -rf results .snakemake
