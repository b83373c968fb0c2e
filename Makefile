# Quick start: `make demo` and `make test`. Both create ./.venv and install what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A fresh venv gets the CPU build of torch from PyTorch's CPU wheel index (small; pip's default
# index gives the CUDA build on Linux, several GB). Where that index cannot be reached, pip's
# default index is used. Any torch >= 2.2 already in the venv is kept. Override with e.g.
# `make demo TORCH_INDEX=` (your platform's default build) or TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --timeout 15 --retries 1,)

.PHONY: demo test lint format benchmark docs clean

$(VENV)/.core-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH_INDEX_ARGS) "$(TORCH_SPEC)" \
		|| $(PY) -m pip install "$(TORCH_SPEC)" || $(PY) -m pip install torch
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.core-installed
	$(PY) -m pip install -e ".[dev]"
	touch $@

$(VENV)/.docs-installed: $(VENV)/.core-installed pyproject.toml
	$(PY) -m pip install -e ".[docs]"
	touch $@

demo: $(VENV)/.core-installed
	$(PY) examples/demo.py

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -n 2 --durations=15

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The documentation site in doc/_build/html; warnings are errors. ADESK_GALLERY_QUICK=1 runs the
# gallery's examples in their reduced mode (CI does).
docs: $(VENV)/.docs-installed
	$(VENV)/bin/sphinx-build -W --keep-going -b html doc doc/_build/html

benchmark: $(VENV)/.core-installed
	$(PY) -m adesk.benchmarks quick

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache doc/_build doc/generated doc/auto_examples
