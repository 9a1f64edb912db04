# Two entry points, both work on a fresh clone:
#   make demo   set up .venv and forecast the bundled ETTh1 data with the CLI
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow setup clean

setup: $(STAMP)

# torch is installed first and pinned here only: 2.13.0 is the CPU build on this machine's disk.
# Installing the package afterwards finds torch satisfied and never pulls a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tsformer forecast ETTh1 --model itransformer --horizon 24 --max-epochs 3

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) build *.egg-info
