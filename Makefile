# Set-up in two commands on a fresh machine with Python >= 3.10 and make:
#   make repro   -> .venv, install, `dvc repro` (the embedded default pipeline)
#   make test    -> .venv, install with the dev, ray and warp extras, ruff + pytest
# and one check kept out of `make test` because it installs from the package index:
#   make binder-check -> a fresh venv from environment.yml's pip section + postBuild has a kernel importing rlscale
# and one for maintainers after a dependency change, once `make test` passes in the new venv:
#   make lock -> constraints.txt from the venv (tools/lock.py)
# Installs are skipped when pyproject.toml and constraints.txt have not changed since the last one.

PYTHON ?= python3
VENV ?= .venv
# On the CPU machines torch==2.13.0 is a wheel on disk; any other spec may pull a multi-GB
# CUDA build. On a GPU machine with torch already importable in the venv, nothing is installed.
TORCH_SPEC ?= torch==2.13.0
# pytest processes for `make test` (pytest-xdist; a test file's tests stay together, so module fixtures run once):
# most tests hold one core, so the second process puts a 2-core machine's other core to work
TEST_WORKERS ?= 2
# the versions the committed outputs and tests were made with (Python 3.11; another Python resolves pyproject.toml's
# ranges, with a note); `make repro LOCK=` installs the newest versions pyproject.toml allows instead
LOCK ?= constraints.txt

PY := $(VENV)/bin/python
# pip byte-compiles what it installs one file at a time (over two minutes for torch, ray and jupyterlab on two
# cores): installs skip that, and COMPILE then compiles the venv's packages on every core (what pip would have
# written; files that do not compile are skipped, as pip skips them)
PIP := $(PY) -m pip --quiet --disable-pip-version-check
INSTALL := $(PIP) install --no-compile
COMPILE := $(PY) -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"

.PHONY: repro test lint venv clean binder-check authors lock

# dvc runs each stage's command in a shell: the venv's bin/ goes first on PATH so `rlscale` is ours
repro: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/dvc repro

# the authors preset: their published runs (RLSCALE_AUTHORS_DATA=DIR, else downloaded and cached), every figure
# and table with the paper method and rlscale's, into build/authors/ (git-ignored; dvc.lock is not touched)
authors: $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 $(VENV)/bin/rlscale pipeline authors

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

binder-check: $(VENV)/.installed-dev
	RLSCALE_BINDER_CHECK=1 TORCH_SPEC='$(TORCH_SPEC)' $(VENV)/bin/pytest tests/test_binder.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

venv: $(VENV)/.installed

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "rlscale needs Python >= 3.10, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PY) -c 'import torch' 2>/dev/null || $(INSTALL) '$(TORCH_SPEC)'
	@touch $@

LOCK_ARGS = $(if $(LOCK),$$($(PY) tools/lock.py --pip-args $(LOCK)))

$(VENV)/.installed: pyproject.toml $(LOCK) $(VENV)/.torch
	$(INSTALL) $(LOCK_ARGS) -e .
	$(COMPILE)
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(LOCK) $(VENV)/.torch
	$(INSTALL) $(LOCK_ARGS) -e '.[dev,ray,warp]'
	$(COMPILE)
	@touch $@

lock: $(VENV)/.installed-dev
	$(PY) tools/lock.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
